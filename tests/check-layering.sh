#!/usr/bin/env bash
# check-layering.sh — the call graph between libweft's source files has no
# cycle.
#
#   check-layering.sh [--print] [--allow "A.c B.c ..."]... OBJDIR SOURCE.c...
#
# For each SOURCE, OBJDIR/SOURCE.o (what meson compiled) is read with nm:
# the global symbols it defines (functions and data) and those it uses.
# File A depends on file B when A uses a symbol B defines; a file using its
# own functions is no edge.  The graph's strongly connected components
# (Tarjan's algorithm) are its cycles: each one is printed with a path
# through it and the symbols on each step, and the check fails.  --print
# also prints every edge, and the files in an order where each comes after
# everything it uses (the layers, bottom first).  --allow names a cycle
# that is known and explained where it is allowed (meson.build): one whose
# files are exactly those is printed and does not fail the check; a cycle
# that grows, shrinks or changes is a new one.
#
# Run by meson as the test "check-layering" on libweft's own objects, and
# as "check-layering-sqlite" on the sqlite store plugin's.
set -uo pipefail

print=0
allowed=""
while [ $# -gt 0 ]; do
  case $1 in
    --print) print=1; shift ;;
    --allow) allowed="$allowed|$(tr ' ' '\n' <<<"$2" | LC_ALL=C sort | tr '\n' ' ')"; shift 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 2 ]; then
  echo "usage: $0 [--print] OBJDIR SOURCE.c..." >&2
  exit 2
fi
objdir=$1
shift
nm=${NM:-nm}

# One line per symbol: "D FILE SYMBOL" (defined) or "U FILE SYMBOL" (used).
symbols=$(
  for source in "$@"; do
    file=$(basename "$source")
    object="$objdir/$file.o"
    if [ ! -f "$object" ]; then
      echo "check-layering: no object $object (build libweft first)" >&2
      exit 2
    fi
    # Global text, data, read-only data and bss symbols; weak ones too.
    "$nm" -P --defined-only "$object" \
      | awk -v f="$file" '$2 ~ /^[TDRBVWG]$/ { print "D", f, $1 }'
    "$nm" -P --undefined-only "$object" | awk -v f="$file" '{ print "U", f, $1 }'
  done
) || exit 2

awk -v print_all="$print" -v allowed="$allowed" '
  $1 == "D" { owner[$3] = $2; files[$2] = 1; next }
  $1 == "U" { files[$2] = 1; used[++n_used] = $2 " " $3; next }
  END {
    for (i = 1; i <= n_used; i++) {
      split (used[i], u, " ")
      to = owner[u[2]]
      if (to == "" || to == u[1])
        continue
      key = u[1] SUBSEP to
      if (!(key in edge)) {
        edge[key] = u[2]
        out[u[1]] = out[u[1]] " " to
      } else if (length (edge[key]) < 60)
        edge[key] = edge[key] ", " u[2]
      else if (edge[key] !~ /, \.\.\.$/)
        edge[key] = edge[key] ", ..."
    }
    n_files = 0
    for (f in files)
      names[++n_files] = f
    # Sorted, so that the output is the same from run to run.
    for (i = 2; i <= n_files; i++)
      for (j = i; j > 1 && names[j - 1] > names[j]; j--) {
        t = names[j]; names[j] = names[j - 1]; names[j - 1] = t
      }

    if (print_all) {
      print "edges (FILE -> FILE it uses: symbols):"
      for (i = 1; i <= n_files; i++) {
        split (out[names[i]], targets, " ")
        for (k in targets)
          sorted_out[names[i], k] = targets[k]
        m = 0
        for (k in targets) m++
        for (a = 2; a <= m; a++)
          for (b = a; b > 1 && sorted_out[names[i], b - 1] > sorted_out[names[i], b]; b--) {
            t = sorted_out[names[i], b]
            sorted_out[names[i], b] = sorted_out[names[i], b - 1]
            sorted_out[names[i], b - 1] = t
          }
        for (a = 1; a <= m; a++)
          printf "  %s -> %s: %s\n", names[i], sorted_out[names[i], a],
                 edge[names[i], sorted_out[names[i], a]]
      }
    }

    # Tarjan, iteratively (awk has no local arrays for recursion).
    index_next = 0
    n_sccs = 0
    for (s = 1; s <= n_files; s++) {
      if (names[s] in idx)
        continue
      depth = 1
      call_node[1] = names[s]
      call_pos[1] = 0
      idx[names[s]] = low[names[s]] = index_next++
      stack[++sp] = names[s]; on_stack[names[s]] = 1
      while (depth > 0) {
        v = call_node[depth]
        n_out = split (out[v], targets, " ")
        if (call_pos[depth] < n_out) {
          w = targets[++call_pos[depth]]
          if (!(w in idx)) {
            idx[w] = low[w] = index_next++
            stack[++sp] = w; on_stack[w] = 1
            call_node[++depth] = w
            call_pos[depth] = 0
          } else if (on_stack[w] && idx[w] < low[v])
            low[v] = idx[w]
          continue
        }
        if (low[v] == idx[v]) {
          members = ""
          count = 0
          do {
            w = stack[sp--]; on_stack[w] = 0
            members = members " " w
            scc_of[w] = n_sccs + 1
            count++
          } while (w != v)
          n_sccs++
          scc_size[n_sccs] = count
          scc_members[n_sccs] = members
          order[++n_order] = v
          order_members[n_order] = members
        }
        depth--
        if (depth > 0 && low[v] < low[call_node[depth]])
          low[call_node[depth]] = low[v]
      }
    }

    if (print_all) {
      # Tarjan finishes a component after everything it reaches: its
      # order is bottom first.
      print "layers (bottom first):"
      for (i = 1; i <= n_order; i++)
        printf "  %d.%s\n", i, order_members[i]
    }

    n_allowed = split (allowed, allowed_sets, "|")
    cycles = 0
    for (c = 1; c <= n_sccs; c++) {
      if (scc_size[c] < 2)
        continue
      # The members sorted, as --allow gives them.
      n_mem = split (scc_members[c], mem, " ")
      for (a = 2; a <= n_mem; a++)
        for (b = a; b > 1 && mem[b - 1] > mem[b]; b--) {
          t = mem[b]; mem[b] = mem[b - 1]; mem[b - 1] = t
        }
      sorted_members = ""
      for (a = 1; a <= n_mem; a++)
        sorted_members = sorted_members mem[a] " "
      is_allowed = 0
      for (a = 1; a <= n_allowed; a++)
        if (allowed_sets[a] == sorted_members)
          is_allowed = 1
      if (is_allowed) {
        n_allowed_found++
        printf "allowed cycle between %s\n", sorted_members
      }
      else {
        cycles++
        printf "cycle between %s\n", sorted_members
      }
      # A path from the first member back to itself, inside the component
      # (breadth first, so that it is a shortest one).
      start = mem[1]
      delete prev
      delete seen
      head = 1; tail = 0
      queue[++tail] = start
      found = 0
      while (head <= tail && !found) {
        v = queue[head++]
        n_out = split (out[v], targets, " ")
        for (k = 1; k <= n_out && !found; k++) {
          w = targets[k]
          if (scc_of[w] != c)
            continue
          if (w == start) { prev[start "#end"] = v; found = 1; break }
          if (!(w in seen)) { seen[w] = 1; prev[w] = v; queue[++tail] = w }
        }
      }
      n_path = 0
      v = prev[start "#end"]
      path[++n_path] = start
      while (v != start) { path[++n_path] = v; v = prev[v] }
      path[++n_path] = start
      for (k = n_path; k > 1; k--)
        printf "  %s -> %s: %s\n", path[k], path[k - 1], edge[path[k], path[k - 1]]
    }
    if (cycles > 0) {
      printf "check-layering: %d cycle(s) between source files\n", cycles
      exit 1
    }
    printf "check-layering: %d files, no cycle%s\n", n_files,
           n_allowed_found ? " but the " n_allowed_found " allowed" : ""
  }
' <<<"$symbols"
