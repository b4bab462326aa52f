#!/usr/bin/env bash
# example-assistant.sh — examples/assistant.json as its description says to
# run it with no key: the mock server scripted by
# examples/mock/assistant.json, and `weft chat` through a pipe.  Five
# 1 s weather look-ups run in the background at once, the user is answered
# meanwhile, the research crew runs as a background flow, and every result
# comes back into the conversation.
#
#   tests/example-assistant.sh WEFT MOCK-SERVER SOURCE-ROOT
set -euo pipefail

weft=$1 mock=$2 src=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-example-assistant.XXXXXX")
mock_pid=
cleanup() {
  local rc=$?
  [ -n "$mock_pid" ] && { kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; }
  [ "$rc" -ne 0 ] && { echo "---- weft chat:"; cat "$tmp/out.txt" 2>/dev/null || true; }
  rm -rf "$tmp"
}
trap cleanup EXIT

"$mock" --port 0 --threads 1 --script "$src/examples/mock/assistant.json" > "$tmp/mock.out" &
mock_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$tmp/mock.out" 2>/dev/null && break
  sleep 0.05
done
url=$(sed -n 's/^listening on //p' "$tmp/mock.out")
[ -n "$url" ] || { echo "example-assistant: the mock server did not start" >&2; exit 1; }

start=$(date +%s%N)
printf 'hello\nweather in five cities\nhow is it going\nresearch looms\n' \
  | OPENAI_BASE_URL="$url" OPENAI_API_KEY= "$weft" chat "$src/examples/assistant.json" \
  > "$tmp/out.txt" 2>&1
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))

for city in Lisbon Oslo Nairobi Lima Osaka; do
  grep -qF "It is back: [notice from weft, not the user] Background task" "$tmp/out.txt"
  grep -qF "Result: $city: 18 C, light wind (simulated)" "$tmp/out.txt" \
    || { echo "example-assistant: no weather for $city" >&2; exit 1; }
done
grep -qF '"status":"running"' "$tmp/out.txt"
grep -qF '(research) completed in' "$tmp/out.txt"
grep -qF 'Result: {"summary":' "$tmp/out.txt"
# The question asked while the look-ups ran was answered before they ended.
[ "$(grep -nF 'Here is where things stand' "$tmp/out.txt" | cut -d: -f1)" -lt \
  "$(grep -nF '[t1 weather completed' "$tmp/out.txt" | cut -d: -f1)" ]
echo "example-assistant: ok (${elapsed_ms} ms for the conversation, with five 1 s look-ups)"
