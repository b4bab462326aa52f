# llm-common.sh — what the LLM benchmark scripts (llm-asyncio.sh,
# llm-transports.sh) share; sourced from the source root, with $builddir set.

# The release build of the bench, the mock and the openai agent, made when
# missing; as many open files as allowed (10,000 sockets at once).
llm_bench_build() {
  if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" --buildtype=release >/dev/null || return 1
  fi
  meson compile -C "$builddir" weft-bench-llm weft-mock-llm-server \
    plugins/agents/openai/weft-openai >/dev/null || return 1
  ulimit -n "$(ulimit -Hn)" 2>/dev/null
  return 0
}

# The median of the numbers on stdin, one a line.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
