#!/usr/bin/env bash
# Builds weft with --buildtype=release in build-bench/ and runs the
# scheduler benchmarks (no-op tasks through the real engine), one table row
# per workload.  Extra arguments go to every weft-bench call, e.g.
# `tests/bench/run.sh --repeat 9 --threads 2`, or `--json` for one JSON
# line per workload.
#
# The HTTP server (`weft serve`: GET /v1/runs/{id} and kickoffs per second
# under wrk, RSS over a 60 s load) has its own script, tests/bench/serve.sh,
# not called from here (it needs wrk and takes about 2.5 minutes).
#
# The numbers are for reading, never asserted: nothing fails on a slow run.
# It exits non-zero when the build fails, or when a workload fails to load,
# a run does not complete or the engine stalls (weft-bench --timeout); the
# other workloads still run.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
builddir=build-bench

if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" --buildtype=release >/dev/null || exit 1
fi
# The sqlite plugin too: the last row measures the store.  And the openai
# agent against the mock server, with the test plugins for its tool run.
meson compile -C "$builddir" weft-bench plugins/callbacks/sqlite/weft-sqlite \
  weft-bench-llm weft-mock-llm plugins/agents/openai/weft-openai \
  tests/plugins/good/weft-test-tool >/dev/null || exit 1

bench="$builddir/tests/bench/weft-bench"
status=0
header=()
echo "weft-bench on $(nproc) CPU(s), $(uname -srm)"
for workload in "wide 100000" "chain 10000" "layers 100 100" "runs 10000"; do
  # shellcheck disable=SC2086  # the workload is words on purpose
  if ! "$bench" "${header[@]}" "$@" $workload; then
    echo "weft-bench $workload: FAILED" >&2
    status=1
  fi
  header=(--no-header)
done
# The no-op wide flow again, then with the sqlite store writing every event
# (events/s stored, and the run with the store against without).
store_db="$builddir/bench-store.db"
# shellcheck disable=SC2086
if ! "$bench" --store "$store_db" "$@" wide 100000; then
  echo "weft-bench --store wide 100000: FAILED" >&2
  status=1
fi
echo "(layers L W: task j of layer l waits for tasks j and (j+1)%W of layer l-1;"
echo " peak RSS is the process-wide getrusage maximum, one process per workload)"

# The openai agent against weft-mock-llm (its own process, 200 ms per
# answer; one thread per CPU but one, as the client's engine loop takes one):
# N parallel tasks (with the CPU per task of both processes; N = 10000 twice,
# the second run finding the agent's kept-alive connections warm), then one
# task whose model asks for 5 tool calls of 1 s each (with 8 workers, so
# that the pool is not what serialises them).  weft-bench-llm takes no
# --repeat/--store: the extra arguments are not passed on.
echo
echo "weft-bench-llm: openai agent against weft-mock-llm (200 ms per answer)"
bench_llm="$builddir/tests/bench/weft-bench-llm"
for workload in "parallel 10" "parallel 1000" "--runs 2 parallel 10000" "--threads 8 tools" "tools"; do
  # shellcheck disable=SC2086  # the workload is words on purpose
  if ! "$bench_llm" --timeout 300 $workload; then
    echo "weft-bench-llm $workload: FAILED" >&2
    status=1
  fi
done
exit "$status"
