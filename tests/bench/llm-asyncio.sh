#!/usr/bin/env bash
# The openai agent against the asyncio reference executor on LLM calls:
# `wide N` (1 → N → 1 chat completions) by weft-bench-llm and by
# ../shared/bench/dag_asyncio.py (`wide N llm URL`), alternately, against
# ONE weft-mock-llm-server started here (200 ms per answer), so that both
# meet the same mock in the same state.
#
#   tests/bench/llm-asyncio.sh [-n RUNS] [N]      (defaults: 5 runs, N = 10000)
#
# Prints each run's wall time, client CPU per call and the mock's CPU per
# call (from /proc/PID/stat of each process), then the medians and the
# median of the per-pair ratios asyncio/weft (above 1: weft is faster), and
# the most requests the mock saw in flight at once.  The reference runs
# with the interpreter's real path (a version manager's shim adds ~85 ms a
# start); PYTHON chooses another, REFERENCE another dag_asyncio.py.
#
# The numbers are for reading, never asserted; it exits non-zero when a
# build or a run fails.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
root=$PWD
builddir=build-bench
runs=5
if [ "${1:-}" = "-n" ]; then
  runs=$2
  shift 2
fi
n=${1:-10000}

reference=${REFERENCE:-$root/../shared/bench/dag_asyncio.py}
python=${PYTHON:-$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')}
[ -f "$reference" ] || { echo "llm-asyncio.sh: no reference executor at $reference" >&2; exit 1; }

# shellcheck source=llm-common.sh
. tests/bench/llm-common.sh
llm_bench_build || exit 1
out=$(mktemp -d)
mock_pid=
cleanup() {
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null
  rm -rf "$out"
}
trap cleanup EXIT

# One thread per CPU but one: the client's I/O thread takes one.
threads=$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))
"$builddir/mock/weft-mock-llm-server" --latency-ms 200 --threads "$threads" \
  > "$out/mock.out" 2> "$out/mock.err" &
mock_pid=$!
for _ in $(seq 100); do
  grep -q "^listening on " "$out/mock.out" 2>/dev/null && break
  sleep 0.05
done
url=$(sed -n 's/^listening on //p' "$out/mock.out")
[ -n "$url" ] || { echo "llm-asyncio.sh: the mock did not start" >&2; cat "$out/mock.err" >&2; exit 1; }

# CPU seconds (user + system) of a process so far.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"; }

calls=$(( n + 2 ))
echo "wide $n llm against one weft-mock-llm-server ($url, 200 ms, $threads thread(s)), $runs alternating runs"
printf '%-8s %4s %9s %14s %14s\n' "" run "wall s" "client µs/call" "mock µs/call"
for i in $(seq "$runs"); do
  # weft: the bench's own wall and CPU; the mock's CPU around the run.
  m0=$(cpu_of "$mock_pid")
  if ! "$builddir/tests/bench/weft-bench-llm" --json --timeout 120 --mock-url "$url" \
       --mock-pid "$mock_pid" wide "$n" > "$out/weft.json"; then
    echo "llm-asyncio.sh: weft-bench-llm failed" >&2
    exit 1
  fi
  m1=$(cpu_of "$mock_pid")
  wall=$(sed -n 's/.*"wall_s": \([0-9.]*\).*/\1/p' "$out/weft.json")
  cpu=$(sed -n 's/.*"cpu_s": \([0-9.]*\).*/\1/p' "$out/weft.json")
  echo "$wall" >> "$out/weft.wall"
  awk -v c="$cpu" -v k="$calls" 'BEGIN { print c * 1e6 / k }' >> "$out/weft.cpu"
  awk -v a="$m0" -v b="$m1" -v k="$calls" 'BEGIN { print (b - a) * 1e6 / k }' >> "$out/weft.mock"
  printf '%-8s %4d %9.3f %14.0f %14.0f\n' weft "$i" "$wall" "$(tail -1 "$out/weft.cpu")" "$(tail -1 "$out/weft.mock")"

  # asyncio: its own run_s (what it prints), its CPU from the shell's times.
  m0=$(cpu_of "$mock_pid")
  /usr/bin/env time -f '%U %S' -o "$out/py.time" "$python" "$reference" wide "$n" llm "$url" \
    > "$out/py.out" 2> "$out/py.err" || { echo "llm-asyncio.sh: the reference failed" >&2; cat "$out/py.err" >&2; exit 1; }
  m1=$(cpu_of "$mock_pid")
  wall=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^run_s=/) { sub(/run_s=/, "", $i); print $i } }' "$out/py.out")
  echo "$wall" >> "$out/py.wall"
  awk -v k="$calls" '{ print ($1 + $2) * 1e6 / k }' "$out/py.time" >> "$out/py.cpu"
  awk -v a="$m0" -v b="$m1" -v k="$calls" 'BEGIN { print (b - a) * 1e6 / k }' >> "$out/py.mock"
  printf '%-8s %4d %9.3f %14.0f %14.0f\n' asyncio "$i" "$wall" "$(tail -1 "$out/py.cpu")" "$(tail -1 "$out/py.mock")"
  awk -v a="$wall" -v w="$(tail -1 "$out/weft.wall")" 'BEGIN { print a / w }' >> "$out/ratio"
done
echo "median   weft wall $(median < "$out/weft.wall") s, $(median < "$out/weft.cpu") µs/call client," \
     "$(median < "$out/weft.mock") µs/call mock"
echo "median   asyncio wall $(median < "$out/py.wall") s, $(median < "$out/py.cpu") µs/call client," \
     "$(median < "$out/py.mock") µs/call mock"
echo "median of the ratios asyncio/weft (wall): $(median < "$out/ratio")"
echo "(asyncio's output: $(tail -1 "$out/py.out"))"
kill "$mock_pid" 2>/dev/null
wait "$mock_pid" 2>/dev/null
mock_pid=
echo "mock: $(tail -1 "$out/mock.err")"
