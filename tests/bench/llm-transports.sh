#!/usr/bin/env bash
# weft's two HTTP transports side by side on LLM calls: weft-bench-llm on
# each workload, alternately with the lean transport (the default for
# http://127.0.0.1) and with every request through libcurl
# (WEFT_HTTP_TRANSPORT=libcurl), each run with its own mock (200 ms).
#
#   tests/bench/llm-transports.sh [-n RUNS] [WORKLOAD...]
#       (defaults: 5 runs; "parallel 1000" "parallel 10000" "wide 10000")
#
# Prints each run's wall time, client CPU per call, peak RSS and the most
# requests the mock saw in flight at once, then the medians per transport
# and the median of the per-pair ratios libcurl/lean of the client CPU.
# The load average is printed before and after: on a shared machine, run
# it when that is lowest.  The numbers are for reading, never asserted; it
# exits non-zero when a build or a run fails.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
builddir=build-bench
runs=5
if [ "${1:-}" = "-n" ]; then
  runs=$2
  shift 2
fi
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=("parallel 1000" "parallel 10000" "wide 10000")

# shellcheck source=llm-common.sh
. tests/bench/llm-common.sh
llm_bench_build || exit 1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT


echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for workload in "${workloads[@]}"; do
  key=${workload// /-}
  echo "== $workload, $runs alternating runs"
  printf '%-8s %4s %9s %14s %10s %10s\n' "" run "wall s" "client µs/call" "RSS MiB" "in flight"
  for i in $(seq "$runs"); do
    for transport in libcurl lean; do
      # shellcheck disable=SC2086  # the workload is two words
      if [ "$transport" = libcurl ]; then
        WEFT_HTTP_TRANSPORT=libcurl "$builddir/tests/bench/weft-bench-llm" $workload > "$out/run" 2>&1
      else
        env -u WEFT_HTTP_TRANSPORT "$builddir/tests/bench/weft-bench-llm" $workload > "$out/run" 2>&1
      fi || { echo "llm-transports.sh: weft-bench-llm $workload failed" >&2; cat "$out/run" >&2; exit 1; }
      wall=$(sed -n 's/.* wall *\([0-9.]*\) s .*/\1/p' "$out/run" | head -1)
      cpu=$(sed -n 's/.*CPU per task: \([0-9]*\) µs here.*/\1/p' "$out/run" | head -1)
      rss=$(sed -n 's/.*peak RSS *\([0-9.]*\) MiB.*/\1/p' "$out/run" | head -1)
      flight=$(sed -n 's/.*at most \([0-9]*\) in flight.*/\1/p' "$out/run" | head -1)
      for f in wall cpu rss flight; do echo "${!f}" >> "$out/$key.$transport.$f"; done
      printf '%-8s %4d %9.3f %14d %10.1f %10d\n' "$transport" "$i" "$wall" "$cpu" "$rss" "$flight"
    done
    awk -v a="$(tail -1 "$out/$key.libcurl.cpu")" -v b="$(tail -1 "$out/$key.lean.cpu")" \
      'BEGIN { print a / b }' >> "$out/$key.ratio"
  done
  for transport in libcurl lean; do
    echo "median   $transport: wall $(median < "$out/$key.$transport.wall") s," \
         "$(median < "$out/$key.$transport.cpu") µs/call, $(median < "$out/$key.$transport.rss") MiB," \
         "$(median < "$out/$key.$transport.flight") in flight at most"
  done
  echo "median of the ratios libcurl/lean (client CPU): $(median < "$out/$key.ratio")"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
