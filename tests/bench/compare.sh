#!/usr/bin/env bash
# Runs weft-bench from two build trees alternately (A, B, A, B, …), so that
# a change's effect on the scheduler is measured under the same load:
#
#   tests/bench/compare.sh [-n ROUNDS] BUILD_A BUILD_B [WORKLOAD...]
#
# BUILD_A and BUILD_B are build directories holding tests/bench/weft-bench
# (release builds: e.g. build-bench of main in another checkout, and this
# tree's build-bench).  WORKLOAD is one weft-bench workload, quoted ("wide
# 100000"); by default those of run.sh: wide 100000, chain 10000, layers
# 100 100, runs 10000.  Each round runs each side once (weft-bench
# --repeat 5: its median of 5); printed are the medians over ROUNDS
# (default 5) of the run and the load, in ms, and the median of the
# per-round ratios B/A.  Never asserted: numbers for reading.
set -uo pipefail

rounds=5
if [ "${1:-}" = "-n" ]; then
  rounds=$2
  shift 2
fi
[ $# -ge 2 ] || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
a=$1/tests/bench/weft-bench
b=$2/tests/bench/weft-bench
shift 2
workloads=("$@")
[ "${#workloads[@]}" -gt 0 ] || workloads=("wide 100000" "chain 10000" "layers 100 100" "runs 10000")

field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-16s %9s %9s %7s %9s %9s %7s\n' workload run_A run_B ratio load_A load_B ratio
status=0
for w in "${workloads[@]}"; do
  tmp=$(mktemp -d)
  for ((k = 0; k < rounds; k++)); do
    for side in A B; do
      bin=$a; [ "$side" = B ] && bin=$b
      # shellcheck disable=SC2086  # the workload is words on purpose
      line=$("$bin" --json --repeat 5 $w) || { echo "compare.sh: $side $w failed" >&2; status=1; continue 2; }
      echo "$line" | field run_ms_median >>"$tmp/run$side"
      echo "$line" | field load_ms_median >>"$tmp/load$side"
    done
    paste "$tmp/runA" "$tmp/runB" | tail -1 | awk '{ print $2 / $1 }' >>"$tmp/runR"
    paste "$tmp/loadA" "$tmp/loadB" | tail -1 | awk '{ print ($1 > 0) ? $2 / $1 : 0 }' >>"$tmp/loadR"
  done
  printf '%-16s %9.2f %9.2f %7.3f %9.2f %9.2f %7.3f\n' "$w" \
    "$(median <"$tmp/runA")" "$(median <"$tmp/runB")" "$(median <"$tmp/runR")" \
    "$(median <"$tmp/loadA")" "$(median <"$tmp/loadB")" "$(median <"$tmp/loadR")"
  rm -rf "$tmp"
done
exit "$status"
