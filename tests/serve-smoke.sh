#!/usr/bin/env bash
# serve-smoke.sh — starts `weft serve` on a free port, drives it with curl
# (docs/http-api.md), and stops it with SIGTERM.
#
#   tests/serve-smoke.sh [PATH/TO/weft]
#
# Without an argument it uses $WEFT_BUILD_ROOT/cli/weft.  Needs no API key
# and no network beyond 127.0.0.1: the flow's agent is `template`.  Exits 77
# (meson's "skipped") when curl is missing.
set -euo pipefail

weft=${1:-${WEFT_BUILD_ROOT:-}/cli/weft}

if ! command -v curl >/dev/null 2>&1; then
  echo "serve-smoke: curl is not installed: skipped"
  exit 77
fi
if [ ! -x "$weft" ]; then
  echo "serve-smoke: no weft executable at '$weft' (give its path, or set WEFT_BUILD_ROOT)" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-serve-smoke.XXXXXX")
pids=()          # servers started here, still to be stopped
logs=()          # their stderr files

cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ "$rc" -ne 0 ]; then
    for log in "${logs[@]}"; do
      echo "---- $(basename "$log"):"
      cat "$log" 2>/dev/null || true
    done
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

fail() {
  echo "serve-smoke: FAILED: $*" >&2
  exit 1
}

step() {
  echo "serve-smoke: $*"
}

# ---- the flow: two template tasks, no API key ------------------------------

mkdir "$tmp/flows"
cat >"$tmp/flows/smoke.json" <<'EOF'
{
  "name": "smoke",
  "description": "Two template tasks, the second after the first.",
  "agents": {
    "say": {"plugin": "template", "delay_ms": 200, "template": "{description}"}
  },
  "tasks": [
    {"name": "greet", "agent": "say", "description": "hello {who}"},
    {"name": "close", "agent": "say", "description": "bye {who}", "context": ["greet"]}
  ]
}
EOF

# ---- helpers -----------------------------------------------------------------

# start_server NAME [weft serve options...]: starts a server on a free port;
# sets $port and $pid.
start_server() {
  local name=$1; shift
  local log="$tmp/$name.log"
  logs+=("$log")
  : >"$log"          # there before the server opens it: read at once below
  "$weft" serve --flows "$tmp/flows" --listen 127.0.0.1:0 --grace 5 "$@" 2>"$log" &
  pid=$!
  pids+=("$pid")
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/^weft: serving .* (port \([0-9][0-9]*\)).*/\1/p' "$log" || true)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || fail "$name: weft serve exited before listening"
    sleep 0.1
  done
  [ -n "$port" ] || fail "$name: no 'weft: serving ... (port N)' line on stderr within 10 s"
  # The URL names the port it got, not the 0 it was given.
  grep -qF "weft: serving $tmp/flows on http://127.0.0.1:$port (port $port)" "$log" \
    || fail "$name: the startup line does not name http://127.0.0.1:$port: $(head -n 1 "$log")"
  step "$name: listening on port $port (pid $pid)"
}

# request METHOD URL [curl args...]: sets $code and $body.
request() {
  local method=$1 url=$2; shift 2
  code=$(curl -sS --max-time 10 -o "$tmp/body" -w '%{http_code}' -X "$method" "$@" "$url") \
    || fail "curl $method $url failed"
  body=$(cat "$tmp/body")
}

# expect CODE WHAT: checks $code.
expect() {
  [ "$code" = "$1" ] || fail "$2: expected HTTP $1, got $code: $body"
}

# The first "KEY":"VALUE" of $body (the server writes compact JSON).
json_string() {
  { grep -o "\"$1\":\"[^\"]*\"" <<<"$body" || true; } | head -n 1 \
    | sed 's/^"[^"]*":"\(.*\)"$/\1/'
}

# stop_server PID NAME: SIGTERM, then it must exit 0 within 10 s.
stop_server() {
  local pid=$1 name=$2 rc=0
  kill -TERM "$pid" 2>/dev/null || fail "$name: not running any more when SIGTERM was due"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "$name: still running 10 s after SIGTERM"
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "$name: exited $rc after SIGTERM, not 0"
  grep -q '^weft: stopped' "$tmp/$name.log" || fail "$name: no 'weft: stopped' line"
  local left=()
  for p in "${pids[@]}"; do
    [ "$p" = "$pid" ] || left+=("$p")
  done
  pids=("${left[@]}")
  step "$name: stopped by SIGTERM, exit 0"
}

# check_stream FILE WHAT FIRST_ID: the SSE frames in FILE start at id
# FIRST_ID, count up by one, and end with run.completed.
check_stream() {
  local file=$1 what=$2 first=$3
  local ids events
  ids=$(sed -n 's/^id: //p' "$file")
  events=$(sed -n 's/^event: //p' "$file")
  [ -n "$ids" ] || fail "$what: no events in the stream: $(cat "$file")"
  [ "$(head -n 1 <<<"$ids")" = "$first" ] \
    || fail "$what: first event id is $(head -n 1 <<<"$ids"), expected $first"
  [ "$ids" = "$(seq "$first" "$(tail -n 1 <<<"$ids")")" ] \
    || fail "$what: event ids are not consecutive: $(tr '\n' ' ' <<<"$ids")"
  [ "$(tail -n 1 <<<"$events")" = "run.completed" ] \
    || fail "$what: the stream does not end with run.completed: $(tr '\n' ' ' <<<"$events")"
  [ "$(grep -c '^data: {"type":' "$file")" = "$(wc -l <<<"$ids")" ] \
    || fail "$what: not one 'data: {\"type\":...}' line per event"
}

# ---- an open server ------------------------------------------------------------

start_server open
open_pid=$pid
base=http://127.0.0.1:$port

request GET "$base/healthz"
expect 200 "GET /healthz"
grep -q '"status":"ok"' <<<"$body" || fail "GET /healthz: not ok: $body"
grep -q '"flows":1' <<<"$body" || fail "GET /healthz: expected 1 flow: $body"
# HEAD, as a load balancer asks: GET's status and headers (curl -I reads
# no body).
code=$(curl -sS --max-time 10 -I -o "$tmp/head" -w '%{http_code}' "$base/healthz") \
  || fail "curl HEAD /healthz failed"
[ "$code" = 200 ] || fail "HEAD /healthz: expected HTTP 200, got $code: $(cat "$tmp/head")"
grep -qi '^Content-Type: application/json' "$tmp/head" \
  || fail "HEAD /healthz: not GET's headers: $(cat "$tmp/head")"
step "healthz ok (GET and HEAD)"

request GET "$base/v1/flows"
expect 200 "GET /v1/flows"
grep -q '"name":"smoke"' <<<"$body" || fail "GET /v1/flows: no flow smoke: $body"
grep -q '"inputs":\["who"\]' <<<"$body" || fail "GET /v1/flows: smoke's inputs are not [\"who\"]: $body"
grep -q '"task_count":2' <<<"$body" || fail "GET /v1/flows: smoke's task_count is not 2: $body"
step "flows listed"

request POST "$base/v1/flows/smoke/runs" -D "$tmp/headers" -d '{"inputs": {"who": "smoke"}}'
expect 202 "POST /v1/flows/smoke/runs"
run=$(json_string run_id)
[ -n "$run" ] || fail "POST /v1/flows/smoke/runs: no run_id in $body"
grep -qi "^Location: /v1/runs/$run" "$tmp/headers" || fail "kickoff: no Location header for $run"
step "kicked off run $run"

status=
for _ in $(seq 100); do
  request GET "$base/v1/runs/$run"
  expect 200 "GET /v1/runs/$run"
  status=$(json_string status)
  case $status in
    completed) break ;;
    pending|running) sleep 0.1 ;;
    *) fail "run $run ended $status: $body" ;;
  esac
done
[ "$status" = completed ] || fail "run $run is still $status after 10 s"
grep -q '"outputs":{"close":"bye smoke"}' <<<"$body" || fail "run $run: unexpected outputs: $body"
step "run completed, outputs as expected"

# The finished run's stream: the whole replay, then the response ends.
curl -sS -N --max-time 10 "$base/v1/runs/$run/events" >"$tmp/events" \
  || fail "GET /v1/runs/$run/events did not end by itself (curl exit $?)"
check_stream "$tmp/events" "events of the finished run" 1
step "event stream replayed, ends with run.completed"

curl -sS -N --max-time 10 -H 'Last-Event-ID: 2' "$base/v1/runs/$run/events" >"$tmp/events" \
  || fail "GET events with Last-Event-ID did not end by itself"
check_stream "$tmp/events" "events after Last-Event-ID: 2" 3
step "Last-Event-ID honoured"

# A live run's stream: follows the run and ends with it.
request POST "$base/v1/flows/smoke/runs" -d '{"inputs": {"who": "live"}}'
expect 202 "second kickoff"
live=$(json_string run_id)
curl -sS -N --max-time 10 "$base/v1/runs/$live/events" >"$tmp/events" \
  || fail "the live run's stream did not end with the run (curl exit $?)"
check_stream "$tmp/events" "events of the live run" 1
step "live event stream ends with run.completed"

# Errors: {"status": N, "error": "..."}.
request GET "$base/v1/flows/nosuch"
expect 404 "GET /v1/flows/nosuch"
grep -q '^{"status":404,"error":"' <<<"$body" || fail "404 body is not {\"status\":404,\"error\":...}: $body"
request GET "$base/v1/runs/no-such-run"
expect 404 "GET /v1/runs/no-such-run"
request POST "$base/v1/flows/smoke/runs" -d '{"inputs": {}}'
expect 400 "kickoff without the input \"who\""
grep -q '^{"status":400,"error":"' <<<"$body" || fail "400 body is not {\"status\":400,\"error\":...}: $body"
request POST "$base/v1/flows/smoke/runs" -d 'not json'
expect 400 "kickoff with malformed JSON"
# No body is {}: here the input "who" is missing.
request POST "$base/v1/flows/smoke/runs"
expect 400 "kickoff without a body"
grep -q 'missing input' <<<"$body" || fail "kickoff without a body: not the missing input: $body"
step "404 and 400 answered with the error shape"

# Limits: a body over --max-body is refused before it is read, chunked or
# not; a URL over --max-url is a 414, not a dropped connection.
head -c 2000000 /dev/zero >"$tmp/big"
request POST "$base/v1/flows/smoke/runs" -H 'Expect:' --data-binary @"$tmp/big"
expect 413 "a 2 MB body"
request POST "$base/v1/flows/smoke/runs" -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/big"
expect 413 "a 2 MB chunked body"
grep -q '^{"status":413,"error":"' <<<"$body" || fail "413 body is not the error shape: $body"
request GET "$base/v1/runs/$(head -c 9000 /dev/zero | tr '\0' a)"
expect 414 "a 9000-byte URL"
rc=0
"$weft" serve --flows "$tmp/flows" --max-body 0 2>"$tmp/options.err" || rc=$?
[ "$rc" -eq 2 ] && grep -qF -- '--max-body must be from 1 to 1073741824, not 0' "$tmp/options.err" \
  || fail "--max-body 0: expected exit 2 naming the option, got $rc: $(cat "$tmp/options.err")"
step "413 before the body (chunked too), 414, and --max-body 0 refused"

# Malformed heads get the error shape, not libsoup's empty answers.
request POST "$base/v1/flows/smoke/runs" -H 'Transfer-Encoding: gzip' -d '{}'
expect 501 "Transfer-Encoding: gzip"
grep -q '^{"status":501,"error":"unsupported transfer coding \\"gzip\\"' <<<"$body" \
  || fail "501 body is not the error shape naming gzip: $body"
request GET "$base/healthz" -H 'Expect: teapot'
expect 417 "Expect: teapot"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'HELLO\r\n\r\n' >&3
raw=$(timeout 10 cat <&3 || true)
exec 3<&-
grep -q '^HTTP/1.1 400 ' <<<"$raw" && grep -q '"error":"malformed request line' <<<"$raw" \
  || fail "a request line HELLO: expected a 400 naming the request line, got: $raw"
step "501, 417 and a malformed request line answered with the error shape"

# Connections that end after their response free their slot: with two
# slots, five curls in a row are all served (each used to keep its slot).
start_server capped --max-connections 2
capped_pid=$pid
for i in 1 2 3 4 5; do
  request GET "http://127.0.0.1:$port/healthz"
  expect 200 "curl $i of 5 with --max-connections 2"
done
stop_server "$capped_pid" capped
rc=0
"$weft" serve --flows "$tmp/flows" --write-timeout 0 2>"$tmp/options.err" || rc=$?
[ "$rc" -eq 2 ] && grep -qF -- '--write-timeout must be from 1 to 86400, not 0' "$tmp/options.err" \
  || fail "--write-timeout 0: expected exit 2 naming the option, got $rc: $(cat "$tmp/options.err")"
step "closed connections free their slots; --write-timeout 0 refused"

# ---- a server with a token ---------------------------------------------------------

token="smoke-$RANDOM-$RANDOM"
start_server token --token "$token"
token_pid=$pid
tbase=http://127.0.0.1:$port

request GET "$tbase/v1/flows"
expect 401 "GET /v1/flows without a token"
grep -q '^{"status":401,"error":"' <<<"$body" || fail "401 body is not the error shape: $body"
request GET "$tbase/v1/flows" -H "Authorization: Bearer wrong-$token"
expect 401 "GET /v1/flows with a wrong token"
request POST "$tbase/v1/flows/smoke/runs" -d '{"inputs": {"who": "x"}}'
expect 401 "POST a run without a token"
request GET "$tbase/healthz"
expect 200 "GET /healthz without a token (exempt)"
request GET "$tbase/v1/flows" -H "Authorization: Bearer $token"
expect 200 "GET /v1/flows with the token"
grep -q '"name":"smoke"' <<<"$body" || fail "GET /v1/flows with the token: $body"
step "token server: 401 without or with a wrong token, 200 with it"

# ---- SIGTERM ----------------------------------------------------------------------

stop_server "$token_pid" token

# A run in flight when SIGTERM comes finishes (--grace 5), and its open
# event stream gets every event up to run.completed.
request POST "$base/v1/flows/smoke/runs" -d '{"inputs": {"who": "in flight"}}'
expect 202 "kickoff before SIGTERM"
inflight=$(json_string run_id)
curl -sS -N --max-time 15 "$base/v1/runs/$inflight/events" >"$tmp/inflight" 2>"$tmp/inflight.err" &
reader=$!
pids+=("$reader")
for _ in $(seq 100); do
  grep -q '^id: 1$' "$tmp/inflight" && break
  sleep 0.05
done
grep -q '^id: 1$' "$tmp/inflight" || fail "the in-flight run's stream did not start"
stop_server "$open_pid" open
reader_rc=0
wait "$reader" || reader_rc=$?
check_stream "$tmp/inflight" "events of the run in flight at SIGTERM" 1
# The stop lets every stream be sent in full before closing connections:
# the chunked body ends cleanly (curl 0, not 18).
[ "$reader_rc" -eq 0 ] \
  || fail "the in-flight run's stream did not end cleanly: curl exit $reader_rc: $(cat "$tmp/inflight.err")"
step "the run in flight at SIGTERM completed; its stream ends cleanly with run.completed"

echo "serve-smoke: ok"
