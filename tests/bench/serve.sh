#!/usr/bin/env bash
# Benchmarks `weft serve` (issue 5) with wrk: builds weft with
# --buildtype=release in build-bench/ (as run.sh does; nothing installed),
# serves two generated no-op flows on 127.0.0.1 (port 0: a free one) and
# measures
#   - GET /v1/runs/{id} of one finished run: requests/s and latency, and
#     the same against a bare libsoup server (weft-bench-soup-floor: one
#     handler, a fixed body), libsoup's own ceiling on this machine;
#   - kickoffs: POST {"inputs": {}} to /v1/flows/FLOW/runs for 60 s per
#     flow (noop1: 1 noop task; noop3: a chain of 3), counted as runs
#     *completed* per second from /healthz runs_finished, with the 202s and
#     any other answers from wrk, and the server's VmRSS (/proc/PID/status)
#     sampled every second: first/min/max/last, and the trend after the
#     warm-up (the first sixth of the run);
# then stops the server with SIGTERM and checks that it exits 0.
#
#   tests/bench/serve.sh [--get-seconds S] [--kickoff-seconds S]
#                        [--get-wrk "-t1 -c32"] [--kickoff-wrk "-t1 -c32"]
#                        [--flows "noop1 noop3"] [--keep-runs N] [--perf]
#
# --perf records the server with `perf record -g` during each load and
# prints its top symbols and the split by library (perf slows the server:
# those numbers are not the benchmark's).  The machine's cores are shared
# by wrk and the server (whose HTTP work is all on the engine loop, one
# thread), so -t1 for wrk is usually best; try others with --get-wrk.
#
# The numbers are for reading, never asserted.  It exits non-zero when wrk
# or curl is missing (`apt-get install wrk`), the build fails, the server
# does not start, a kicked-off run does not complete (runs_live not back
# to 0 within 30 s), or the server does not exit 0 on SIGTERM.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
builddir=build-bench
benchdir=tests/bench

get_s=10
kick_s=60
get_wrk="-t1 -c32"
kick_wrk="-t1 -c32"
flows="noop1 noop3"
keep_runs=1000
use_perf=0
while [ $# -gt 0 ]; do
  case "$1" in
    --get-seconds) get_s=$2; shift 2 ;;
    --kickoff-seconds) kick_s=$2; shift 2 ;;
    --get-wrk) get_wrk=$2; shift 2 ;;
    --kickoff-wrk) kick_wrk=$2; shift 2 ;;
    --flows) flows=$2; shift 2 ;;
    --keep-runs) keep_runs=$2; shift 2 ;;
    --perf) use_perf=1; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "serve.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

for tool in wrk curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "serve.sh: $tool is missing: apt-get install $tool" >&2
    exit 2
  fi
done
if [ "$use_perf" = 1 ] && ! command -v perf >/dev/null 2>&1; then
  echo "serve.sh: --perf needs perf: apt-get install linux-perf" >&2
  exit 2
fi

if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" --buildtype=release >/dev/null || exit 1
fi
# (ninja first: it regenerates the build files when a meson.build changed,
# which `meson compile TARGET` does not before looking the target up)
ninja -C "$builddir" build.ninja >/dev/null || exit 1
meson compile -C "$builddir" cli/weft tests/bench/weft-bench-soup-floor >/dev/null || exit 1
weft="$builddir/cli/weft"
floor="$builddir/tests/bench/weft-bench-soup-floor"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-serve-bench.XXXXXX") || exit 1
server_pid=
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the flows: no-op tasks only (the built-in agent, no plugin) -----------
mkdir "$tmp/flows"
cat >"$tmp/flows/noop1.json" <<'EOF'
{"name": "noop1", "agents": {"n": {"plugin": "noop"}},
 "tasks": [{"name": "t0", "agent": "n", "description": "x"}]}
EOF
cat >"$tmp/flows/noop3.json" <<'EOF'
{"name": "noop3", "agents": {"n": {"plugin": "noop"}},
 "tasks": [{"name": "t0", "agent": "n", "description": "x"},
           {"name": "t1", "agent": "n", "description": "x", "context": ["t0"]},
           {"name": "t2", "agent": "n", "description": "x", "context": ["t1"]}]}
EOF

# ---- the server ---------------------------------------------------------------
# Finished runs are kept --keep-runs at most (and --keep-for 60 s), so that
# the memory they take is bounded whatever the kickoff rate.
"$weft" serve --flows "$tmp/flows" --listen 127.0.0.1:0 --keep-runs "$keep_runs" \
  --keep-for 60 --grace 30 2>"$tmp/serve.err" &
server_pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/^weft: serving .*(port \([0-9]*\)).*/\1/p' "$tmp/serve.err")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "serve.sh: weft serve did not start:" >&2
  cat "$tmp/serve.err" >&2
  exit 1
fi
base="http://127.0.0.1:$port"
status=0

health() { curl -s --max-time 5 "$base/healthz"; }
# field NAME JSON: an integer member of a flat JSON object
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$2"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status" 2>/dev/null; }
now() { date +%s.%N; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# What wrk printed (FILE is its output).
wrk_requests_s() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
wrk_latency() { awk -v p="$2" '$1 == p { print $2 }' "$1"; }
wrk_latency_avg() { awk '$1 == "Latency" && NF >= 4 { print $2; exit }' "$1"; }
wrk_non2xx() { awk '/Non-2xx or 3xx responses:/ { print $NF; f = 1 } END { if (!f) print 0 }' "$1"; }
# "connect C, read R, write W, timeout T" summed; 0 when wrk printed none.
wrk_sock_errors() {
  awk -F'[ ,]+' '/Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) n += $i }
                 END { print n + 0 }' "$1"
}

perf_start() {
  perf_pid=
  [ "$use_perf" = 1 ] || return 0
  perf record -g -p "$server_pid" -o "$tmp/$1.perf.data" >/dev/null 2>&1 &
  perf_pid=$!
}
perf_stop() {
  [ -n "$perf_pid" ] || return 0
  kill -INT "$perf_pid" 2>/dev/null
  wait "$perf_pid" 2>/dev/null
  perf_reports+=("$1")
}
perf_reports=()

echo "weft serve benchmark on $(nproc) CPU(s), $(uname -srm); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2);" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server: weft serve --keep-runs $keep_runs --keep-for 60 (port $port, pid $server_pid)"

# ---- GET /v1/runs/{id} ------------------------------------------------------------
reply=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"inputs": {}}' \
             "$base/v1/flows/noop1/runs")
run_id=$(sed -n 's/.*"run_id":"\([^"]*\)".*/\1/p' <<<"$reply")
if [ -z "$run_id" ]; then
  echo "serve.sh: kickoff failed: $reply" >&2
  exit 1
fi
for _ in $(seq 50); do
  curl -s "$base/v1/runs/$run_id" | grep -q '"status":"completed"' && break
  sleep 0.1
done
rss0=$(rss_kb)
perf_start get
# shellcheck disable=SC2086  # the wrk options are words on purpose
wrk $get_wrk -d"${get_s}s" --latency "$base/v1/runs/$run_id" >"$tmp/wrk-get.txt" 2>&1
wrk_status=$?
perf_stop get
rss1=$(rss_kb)
if [ "$wrk_status" -ne 0 ] || [ -z "$(wrk_requests_s "$tmp/wrk-get.txt")" ]; then
  echo "serve.sh: wrk (GET) failed:" >&2
  cat "$tmp/wrk-get.txt" >&2
  status=1
fi
echo
printf '%-22s %-10s %4s %10s %9s %9s %9s %8s %9s %s\n' endpoint wrk s 'req/s' lat-avg \
  lat-p50 lat-p99 non-2xx sock-err 'RSS MiB before/after'
printf '%-22s %-10s %4s %10s %9s %9s %9s %8s %9s %s\n' 'GET /v1/runs/{id}' "$get_wrk" "$get_s" \
  "$(wrk_requests_s "$tmp/wrk-get.txt")" "$(wrk_latency_avg "$tmp/wrk-get.txt")" \
  "$(wrk_latency "$tmp/wrk-get.txt" 50%)" "$(wrk_latency "$tmp/wrk-get.txt" 99%)" \
  "$(wrk_non2xx "$tmp/wrk-get.txt")" "$(wrk_sock_errors "$tmp/wrk-get.txt")" \
  "$(mib "$rss0")/$(mib "$rss1")"

# ---- the same GETs against a bare libsoup server: libsoup's own ceiling ------------
"$floor" 2>"$tmp/floor.err" &
floor_pid=$!
floor_port=
for _ in $(seq 50); do
  floor_port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$tmp/floor.err")
  [ -n "$floor_port" ] && break
  sleep 0.1
done
if [ -n "$floor_port" ]; then
  # shellcheck disable=SC2086
  wrk $get_wrk -d"${get_s}s" --latency "http://127.0.0.1:$floor_port/v1/runs/$run_id" \
    >"$tmp/wrk-floor.txt" 2>&1
  printf '%-22s %-10s %4s %10s %9s %9s %9s %8s %9s %s\n' 'bare libsoup (floor)' "$get_wrk" \
    "$get_s" "$(wrk_requests_s "$tmp/wrk-floor.txt")" "$(wrk_latency_avg "$tmp/wrk-floor.txt")" \
    "$(wrk_latency "$tmp/wrk-floor.txt" 50%)" "$(wrk_latency "$tmp/wrk-floor.txt" 99%)" \
    "$(wrk_non2xx "$tmp/wrk-floor.txt")" "$(wrk_sock_errors "$tmp/wrk-floor.txt")" "-"
else
  echo "serve.sh: weft-bench-soup-floor did not start:" >&2
  cat "$tmp/floor.err" >&2
  status=1
fi
kill -TERM "$floor_pid" 2>/dev/null
wait "$floor_pid" 2>/dev/null
echo "(bare libsoup: one handler that appends a fixed body of the same size, on one thread:"
echo " what libsoup 3 alone serves on this machine; weft's GET can only approach it)"

# ---- kickoffs -----------------------------------------------------------------------
kick_rows=()
rss_rows=()
series_rows=()
for flow in $flows; do
  h0=$(health)
  f0=$(field runs_finished "$h0")
  s0=$(field runs_started "$h0")
  samples="$tmp/samples-$flow.txt"
  : >"$samples"
  t0=$(now)
  # shellcheck disable=SC2086
  wrk $kick_wrk -d"${kick_s}s" -s "$benchdir/serve-kickoff.lua" "$base/v1/flows/$flow/runs" \
    >"$tmp/wrk-$flow.txt" 2>&1 &
  wrk_pid=$!
  perf_start "kickoff-$flow"
  # One sample a second: elapsed s, VmRSS kB, runs_live, runs_finished,
  # runs_kept.
  while kill -0 "$wrk_pid" 2>/dev/null; do
    h=$(health)
    echo "$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') $(rss_kb)" \
         "$(field runs_live "$h") $(field runs_finished "$h") $(field runs_kept "$h")" >>"$samples"
    sleep 1
  done
  wait "$wrk_pid"
  wrk_status=$?
  t1=$(now)
  perf_stop "kickoff-$flow"
  h1=$(health)
  f1=$(field runs_finished "$h1")
  # Runs completed, not just accepted: wait for the ones in flight.
  live=$(field runs_live "$h1")
  for _ in $(seq 300); do
    [ "${live:-1}" = 0 ] && break
    sleep 0.1
    live=$(field runs_live "$(health)")
  done
  t2=$(now)
  h2=$(health)
  f2=$(field runs_finished "$h2")
  s2=$(field runs_started "$h2")
  read -r accepted other < <(sed -n 's/^serve-kickoff: accepted \([0-9]*\) other \([0-9]*\)$/\1 \2/p' \
                                  "$tmp/wrk-$flow.txt")
  if [ "$wrk_status" -ne 0 ] || [ -z "${accepted:-}" ]; then
    echo "serve.sh: wrk (kickoff $flow) failed:" >&2
    cat "$tmp/wrk-$flow.txt" >&2
    status=1
    continue
  fi
  if [ "${live:-1}" != 0 ]; then
    echo "serve.sh: kickoff $flow: $live run(s) still live 30 s after the load" >&2
    status=1
  fi
  # wrk does not count the answers still on their way when it stops, so a
  # few more runs may have started than it saw accepted; every one that
  # started must have finished.
  if [ $((f2 - f0)) -ne $((s2 - s0)) ] || [ $((s2 - s0)) -lt "$accepted" ]; then
    echo "serve.sh: kickoff $flow: $accepted accepted, but $((s2 - s0)) started and" \
         "$((f2 - f0)) finished" >&2
    status=1
  fi
  failed=$(curl -s "$base/v1/runs?status=failed&limit=1")
  if grep -q '"run_id"' <<<"$failed"; then
    echo "serve.sh: kickoff $flow: some runs failed: $failed" >&2
    status=1
  fi
  kick_rows+=("$(awk -v flow="$flow" -v w="$kick_wrk" -v s="$kick_s" -v t0="$t0" -v t1="$t1" \
      -v t2="$t2" -v f0="$f0" -v f1="$f1" -v f2="$f2" -v acc="$accepted" -v oth="$other" \
      -v non2xx="$(wrk_non2xx "$tmp/wrk-$flow.txt")" \
      -v serr="$(wrk_sock_errors "$tmp/wrk-$flow.txt")" \
      -v lat="$(wrk_latency_avg "$tmp/wrk-$flow.txt")" -v live="$live" 'BEGIN {
        printf "%-8s %-10s %4s %9d %9d %8d %9d %9.0f %12.0f %9s %9.2f %5s",
               flow, w, s, acc, f2 - f0, oth + non2xx, serr, acc / (t1 - t0),
               (f1 - f0) / (t1 - t0), lat, t2 - t1, live }')")
  # RSS: first/min/max/last, and after the warm-up (first sixth): its value
  # then, the last, and the least-squares slope in MiB per minute.
  rss_rows+=("$(awk -v flow="$flow" -v warm="$(awk -v s="$kick_s" 'BEGIN { print s / 6 }')" '
      { t[NR] = $1; r[NR] = $2 / 1024 }
      END {
        if (NR == 0) { printf "%-8s no samples", flow; exit }
        mn = mx = r[1]
        for (i = 1; i <= NR; i++) { if (r[i] < mn) mn = r[i]; if (r[i] > mx) mx = r[i] }
        n = 0; sx = sy = sxx = sxy = 0; w0 = ""
        for (i = 1; i <= NR; i++) if (t[i] >= warm) {
          if (w0 == "") w0 = r[i]
          n++; sx += t[i]; sy += r[i]; sxx += t[i] * t[i]; sxy += t[i] * r[i]
        }
        slope = (n > 1 && n * sxx - sx * sx > 0) ? (n * sxy - sx * sy) / (n * sxx - sx * sx) * 60 : 0
        printf "%-8s %7d %9.1f %9.1f %9.1f %9.1f %11s %9.1f %+11.2f", flow, NR, r[1], mn, mx, r[NR],
               (w0 == "" ? "-" : sprintf("%.1f", w0)), r[NR], slope
      }' "$samples")")
  # Every 10th sample, to see the trend (and whether runs pile up).
  series_rows+=("$(awk -v flow="$flow" '
      NR % 10 == 1 { rss = rss sprintf(" %.1f", $2 / 1024); live = live " " $3; kept = kept " " $5 }
      END { printf "%-8s RSS MiB:%s\n%-8s runs_live:%s\n%-8s runs_kept:%s", flow, rss, "", live, "", kept }
    ' "$samples")")
done

echo
printf '%-8s %-10s %4s %9s %9s %8s %9s %9s %12s %9s %9s %5s\n' flow wrk s accepted finished other \
  sock-err 'accept/s' 'completed/s' lat-avg 'drain s' live
for row in "${kick_rows[@]}"; do echo "$row"; done
echo
echo "server VmRSS during the kickoffs (MiB; sampled every second; slope after the warm-up)"
printf '%-8s %7s %9s %9s %9s %9s %11s %9s %11s\n' flow samples first min max last \
  'warm-up' last 'MiB/min'
for row in "${rss_rows[@]}"; do echo "$row"; done
echo "every 10 s:"
for row in "${series_rows[@]}"; do echo "$row"; done
echo "(accepted: 202s wrk counted; finished: runs_finished gained, drain included;"
echo " accept/s: 202s per second of wrk; completed/s: runs_finished gained during the load"
echo " per second; other: answers that were not 202; sock-err: wrk's connect/read/write/"
echo " timeout errors (a read error each time the server closes a keep-alive connection);"
echo " drain s: from the end of the load until runs_live was 0; live: after)"

# ---- stop ---------------------------------------------------------------------------
kill -TERM "$server_pid"
wait "$server_pid"
rc=$?
server_pid=
echo
if [ "$rc" -eq 0 ]; then
  echo "SIGTERM: weft serve exited 0"
else
  echo "serve.sh: weft serve exited $rc after SIGTERM:" >&2
  tail -5 "$tmp/serve.err" >&2
  status=1
fi

for name in "${perf_reports[@]}"; do
  echo
  echo "perf ($name): top symbols (self), then by library"
  perf report -i "$tmp/$name.perf.data" --no-children --stdio -g none --percent-limit 1.5 \
    2>/dev/null | grep -v '^#' | grep -v '^$' | head -25
  perf report -i "$tmp/$name.perf.data" --no-children --stdio -g none --sort dso \
    --percent-limit 1 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12
done
exit "$status"
