#!/usr/bin/env python3
"""Writes a weft flow of one of dag_asyncio.py's shapes (../shared/bench).

usage: dag-flow.py wide N | chain N | layers L W [rand2|all]   > FLOW.json

Task i is named "t<i>" and done by the agent "d" (the "dag" plugin,
tests/bench/weft-dag.c); its context is deps(i) exactly as the reference
builds it (layers: xorshift32 from the same seed), so that `weft run FLOW`
prints the sinks' outputs whose values sum to the reference's checksum.
"""
import sys

SEED = 2463534242


def xorshift32(state):
    state ^= (state << 13) & 0xFFFFFFFF
    state ^= state >> 17
    state ^= (state << 5) & 0xFFFFFFFF
    return state & 0xFFFFFFFF


def build_shape(kind, a, b=None, variant="rand2"):
    """dag_asyncio.py's build_shape: deps of each task, in topological order."""
    if kind == "wide":
        return [[]] + [[0] for _ in range(a)] + [list(range(1, a + 1))]
    if kind == "chain":
        return [[]] + [[i - 1] for i in range(1, a)]
    if kind == "layers":
        L, W = a, b
        deps = [[] for _ in range(W)]
        s = SEED
        for l in range(1, L):
            base = (l - 1) * W
            for _ in range(W):
                if variant == "all":
                    deps.append(list(range(base, base + W)))
                    continue
                s = xorshift32(s)
                x = s % W
                if W == 1:
                    deps.append([base + x])
                    continue
                s = xorshift32(s)
                y = s % W
                while y == x:
                    s = xorshift32(s)
                    y = s % W
                deps.append([base + x, base + y])
        return deps
    raise ValueError(kind)


def main(argv):
    if len(argv) >= 2 and argv[0] in ("wide", "chain"):
        kind, a, b, variant, label = argv[0], int(argv[1]), None, "rand2", f"{argv[0]}-{argv[1]}"
    elif len(argv) >= 3 and argv[0] == "layers":
        variant = argv[3] if len(argv) > 3 else "rand2"
        kind, a, b = "layers", int(argv[1]), int(argv[2])
        label = f"layers-{a}-{b}-{variant}"
    else:
        sys.exit(__doc__)
    deps = build_shape(kind, a, b, variant)
    out = sys.stdout
    out.write('{"name": "dag-%s",\n "agents": {"d": {"plugin": "dag"}},\n "tasks": [\n' % label)
    for i, ds in enumerate(deps):
        context = ""
        if ds:
            context = ', "context": [' + ", ".join('"t%d"' % d for d in ds) + "]"
        out.write('  {"name": "t%d", "agent": "d", "description": "x"%s}%s\n'
                  % (i, context, "," if i + 1 < len(deps) else ""))
    out.write(" ]}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
