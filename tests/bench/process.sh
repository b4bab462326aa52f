#!/usr/bin/env bash
# The whole `weft run FLOW --quiet` process against the asyncio reference
# executor (../shared/bench/dag_asyncio.py, MODE noop) on the same DAG
# shapes, doing the same work and printing the same checksum.
#
#   tests/bench/process.sh [-n RUNS] [SHAPE...]
#
# SHAPE is "wide N", "chain N" or "layers L W" (one argument each, quoted);
# by default: wide 10000, chain 10000, layers 100 100, wide 100000, chain
# 100000.  Each shape runs weft and the reference alternately RUNS times
# (default 7), and prints the median wall time of each, the median of the
# per-pair ratios weft/asyncio, the median peak RSS of each (from
# /usr/bin/time -v), weft's load share (flow generation aside), and
# whether the checksums agree: weft's is the sum of the values its sinks
# print ("t<i>:<val>"), mod 1000003.
#
# Builds a release tree in build-bench/ (weft, and the "dag" agent plugin
# of tests/bench/weft-dag.c); the flows are written there by
# tests/bench/dag-flow.py.  The reference runs with the interpreter's real
# path (a version manager's shim adds ~85 ms a start); set PYTHON to choose
# another, REFERENCE to point at another dag_asyncio.py, WEFT to run another
# weft binary (another tree's build-bench/cli/weft, for before and after;
# the dag plugin from this tree loads into any weft of its ABI).
#
# The numbers are for reading, never asserted; it exits non-zero when a
# build or a run fails, or when the checksums differ.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
root=$PWD
builddir=build-bench
runs=7
if [ "${1:-}" = "-n" ]; then
  runs=$2
  shift 2
fi
shapes=("$@")
if [ "${#shapes[@]}" -eq 0 ]; then
  shapes=("wide 10000" "chain 10000" "layers 100 100" "wide 100000" "chain 100000")
fi

reference=${REFERENCE:-$root/../shared/bench/dag_asyncio.py}
python=${PYTHON:-$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')}
[ -f "$reference" ] || { echo "process.sh: no reference executor at $reference" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "process.sh: needs /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }

if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" --buildtype=release >/dev/null || exit 1
fi
meson compile -C "$builddir" cli/weft tests/bench/weft-dag >/dev/null || exit 1
weft=${WEFT:-$root/$builddir/cli/weft}
plugin_dir="$root/$builddir/tests/bench"
flows="$root/$builddir/dag-flows"
mkdir -p "$flows"

P=1000003
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run LABEL OUTFILE CMD...: prints "WALL_S RSS_KB"; the command's stdout in OUTFILE.
run() {
  local outfile=$1; shift
  local t0 t1
  t0=$EPOCHREALTIME
  /usr/bin/time -v -o "$out/time" "$@" >"$outfile" 2>"$out/stderr" || {
    echo "process.sh: failed: $*" >&2
    cat "$out/stderr" >&2
    return 1
  }
  t1=$EPOCHREALTIME
  local rss
  rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$out/time")
  echo "$t0 $t1 $rss" | awk '{ printf "%.4f %d\n", $2 - $1, $3 }'
}

weft_checksum() {
  awk -F: -v P="$P" '/^t[0-9]+:[0-9]+$/ { s = (s + $2) % P } END { print s + 0 }' "$1"
}

status=0
printf '%s runs each, alternating, on %s CPU(s)\nweft: %s\nreference: %s %s\n' "$runs" "$(nproc)" "$weft" "$python" "$reference"
printf '%-16s %10s %10s %8s %10s %10s %9s  %s\n' shape weft_s asyncio_s ratio weft_MiB asyncio_MiB checksum agree
for shape in "${shapes[@]}"; do
  # shellcheck disable=SC2086  # the shape is words on purpose
  set -- $shape
  file="$flows/$(echo "$shape" | tr ' ' '-').json"
  [ -f "$file" ] || "$python" tests/bench/dag-flow.py "$@" >"$file" || exit 1
  ref_args=("$@")
  [ "$1" = layers ] && ref_args+=(rand2)
  : >"$out/w" ; : >"$out/a" ; : >"$out/r" ; : >"$out/wm" ; : >"$out/am"
  ok=1
  for ((k = 0; k < runs; k++)); do
    w=$(run "$out/wout" "$weft" run "$file" --quiet --plugin-dir "$plugin_dir") || { ok=0; break; }
    a=$(run "$out/aout" "$python" "$reference" "${ref_args[@]}" noop) || { ok=0; break; }
    echo "${w% *}" >>"$out/w"; echo "${w#* }" >>"$out/wm"
    echo "${a% *}" >>"$out/a"; echo "${a#* }" >>"$out/am"
    echo "${w% *} ${a% *}" | awk '{ print $1 / $2 }' >>"$out/r"
  done
  if [ "$ok" = 0 ]; then
    status=1
    continue
  fi
  wsum=$(weft_checksum "$out/wout")
  asum=$(sed -n 's/.*checksum=\([0-9]*\).*/\1/p' "$out/aout")
  agree=yes
  if [ "$wsum" != "$asum" ]; then
    agree="NO (asyncio $asum)"
    status=1
  fi
  printf '%-16s %10.3f %10.3f %8.3f %10.1f %10.1f %9s  %s\n' "$shape" \
    "$(median <"$out/w")" "$(median <"$out/a")" "$(median <"$out/r")" \
    "$(median <"$out/wm" | awk '{ print $1 / 1024 }')" "$(median <"$out/am" | awk '{ print $1 / 1024 }')" \
    "$wsum" "$agree"
done
exit "$status"
