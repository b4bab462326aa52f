#!/usr/bin/env bash
# chat-tmux.sh — `weft chat` on a terminal, driven in tmux (send-keys,
# capture-pane): the user types while a background task runs, the status
# line shows the task and its time, and its result appears when it ends;
# Ctrl-C cancels a slow answer and the conversation goes on.
#
#   tests/chat-tmux.sh WEFT MOCK-SERVER TEST-PLUGIN-DIR
#
# The model is the mock server (mock/), scripted with rules; the
# background look-up is the test tool, 3 s long.  First, the same
# conversation through pipes (plain lines; the command ends once its input
# has and nothing is left running).  Exits 77 (meson's "skipped") when
# tmux is missing, after the piped part.
set -euo pipefail

weft=$1 mock=$2 plugins=$3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-chat-tmux.XXXXXX")
socket="$tmp/tmux.sock"
mock_pid=

cleanup() {
  local rc=$?
  tmux -S "$socket" kill-server 2>/dev/null || true
  if [ -n "$mock_pid" ]; then
    kill "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ]; then
    echo "---- the pane:"; cat "$tmp/pane.txt" 2>/dev/null || true
    echo "---- weft chat's stderr:"; cat "$tmp/chat.err" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

echo '{"rules": [{"when": "slow question", "reply": "too late", "delay_ms": 20000}]}' \
  > "$tmp/script.json"
"$mock" --port 0 --threads 1 --script "$tmp/script.json" \
  --tool-rule 'start it=[{"name": "lookup", "arguments": {"n": 7}}]' \
  --text-rule '"status":"running"=looking it up' \
  --text-rule 'how are you=fine, thanks' \
  --text-rule 'completed in=done: {last}' > "$tmp/mock.out" 2>/dev/null &
mock_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$tmp/mock.out" 2>/dev/null && break
  sleep 0.05
done
url=$(sed -n 's/^listening on //p' "$tmp/mock.out")
[ -n "$url" ] || { echo "chat-tmux: the mock server did not start" >&2; exit 1; }

cat > "$tmp/desk.json" <<JSON
{"name": "desk",
 "tools": {"slow": {"plugin": "test-tool", "sleep_ms": 3000}},
 "agents": {"llm": {"plugin": "openai", "model": "mock", "base_url": "$url"}},
 "tasks": [{"name": "t", "agent": "llm", "description": "d"}],
 "chat": {"agent": "llm", "background": {"lookup": {"tool": "slow"}}}}
JSON

# ---- through pipes ----
printf 'start it\nhow are you\n/tasks\n' \
  | "$weft" chat -P "$plugins" "$tmp/desk.json" > "$tmp/piped.txt" 2> "$tmp/chat.err"
cp "$tmp/piped.txt" "$tmp/pane.txt"
for line in 'you: start it' '  → lookup {"n":7}' '[t1 lookup started in the background]' \
            'assistant: looking it up' 'you: how are you' 'assistant: fine, thanks' \
            '[t1 lookup completed after 3.' 'assistant: done: [notice from weft'; do
  grep -qF -- "$line" "$tmp/piped.txt" || { echo "chat-tmux: piped: no line: $line" >&2; exit 1; }
done
# Answered while the look-up ran: before its end.
[ "$(grep -nF 'fine, thanks' "$tmp/piped.txt" | cut -d: -f1)" -lt \
  "$(grep -nF '[t1 lookup completed' "$tmp/piped.txt" | cut -d: -f1)" ]

if ! command -v tmux >/dev/null 2>&1; then
  echo "chat-tmux: tmux is not installed (apt-get install tmux): skipped"
  exit 77
fi

# ---- on a terminal ----
tmux -S "$socket" new-session -d -s chat -x 120 -y 30 \
  "'$weft' chat -P '$plugins' '$tmp/desk.json' 2> '$tmp/chat.err'; echo chat-exited \$?; sleep 30"

# Waits until the pane shows `pattern` (a fixed string).
wait_for() {
  for _ in $(seq 200); do
    tmux -S "$socket" capture-pane -p -t chat > "$tmp/pane.txt"
    grep -qF -- "$1" "$tmp/pane.txt" && return 0
    sleep 0.05
  done
  echo "chat-tmux: the pane never showed: $1" >&2
  return 1
}
type_line() {
  tmux -S "$socket" send-keys -t chat -l "$1"
  tmux -S "$socket" send-keys -t chat Enter
}

wait_for "Type a message"
type_line "start it"
wait_for "[t1 lookup started in the background]"
wait_for "assistant: looking it up"
wait_for " background: t1 lookup "
# Typed and answered while the look-up runs; the status line still shows it.
type_line "how are you"
wait_for "assistant: fine, thanks"
grep -qF " background: t1 lookup " "$tmp/pane.txt"
grep -qF "[t1 lookup completed" "$tmp/pane.txt" && { echo "chat-tmux: the look-up ended too soon" >&2; exit 1; }
# Its result, when it ends, and the assistant's word on it.
wait_for "[t1 lookup completed after"
wait_for "assistant: done: [notice from weft, not the user] Background task t1 (lookup) completed"
type_line "/tasks"
wait_for "t1 lookup completed 3."
# Ctrl-C cancels an answer that takes too long; the conversation goes on.
type_line "slow question"
wait_for " answering…"
tmux -S "$socket" send-keys -t chat C-c
wait_for "(cancelling the answer; Ctrl-C again to quit)"
wait_for "(turn cancelled)"
type_line "how are you"
wait_for "$(printf 'fine, thanks')"
[ "$(grep -cF 'assistant: fine, thanks' "$tmp/pane.txt")" -ge 2 ]
type_line "/quit"
wait_for "chat-exited 0"
grep -qF "go on later with: weft chat $tmp/desk.json --thread" "$tmp/chat.err"
echo "chat-tmux: ok"
