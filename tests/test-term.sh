#!/usr/bin/env bash
# test-term.sh — `weft run` in a real terminal (tmux, 120×40), its screen
# captured again and again while it runs and after:
#
#   1. examples/blog.json, alone and with a `log` callback writing to the
#      terminal: no line of any capture holds the status line and another
#      message; the run's id is shown; the status line is gone at the end;
#      the output says which task it is;
#   2. --quiet (with the `log` callback too): nothing but the result, so
#      stderr, the terminal, stays empty;
#   3. --verbose on tests/term/tools.json (test plugins: no model, no key):
#      after the run the scrollback holds each task with its agent, each
#      tool call with its arguments and its result, the streamed text as
#      text, and the answer.
#
#   test-term.sh WEFT      (meson sets WEFT_SOURCE_ROOT and WEFT_BUILD_ROOT)
#
# Prints TAP.  Exits 77 (skipped) when tmux is missing.
set -uo pipefail

weft=$(realpath "$1")
src=${WEFT_SOURCE_ROOT:?}
build=${WEFT_BUILD_ROOT:?}

if ! command -v tmux >/dev/null 2>&1; then
  echo "1..0 # SKIP tmux is not installed (apt-get install tmux)"
  exit 77
fi

tmp=$(mktemp -d)
sock=$tmp/tmux.sock
# KEEP=1 keeps the captures, for a look.
trap 'tmux -S "$sock" kill-server >/dev/null 2>&1; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT

# A private server: no user config, no status bar, panes kept after their
# command ends so that the end can be read.
cat >"$tmp/tmux.conf" <<'EOF'
set -g status off
set -g remain-on-exit on
set -g history-limit 10000
EOF

n=0
failed=0
ok()     { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }

# Runs `command` (a shell line, from the source root) in a new 120×40 pane;
# captures the pane with its scrollback into $tmp/NAME.N every 0.1 s until
# the command has ended, then once more into $tmp/NAME.end.
run_in_terminal() {
  local name=$1 command=$2 i=0
  tmux -S "$sock" -f "$tmp/tmux.conf" -u new-session -d -s "$name" -x 120 -y 40 \
    "cd '$src' && export LANG=C.UTF-8 LC_ALL=C.UTF-8 && $command; echo EXIT=\$?"
  # Bounded (10 minutes), never timed: a loaded machine only takes more captures.
  while [ "$i" -lt 6000 ]; do
    tmux -S "$sock" capture-pane -p -J -S - -t "$name" >"$tmp/$name.$i"
    if [ "$(tmux -S "$sock" display-message -p -t "$name" '#{pane_dead}')" = 1 ]; then
      break
    fi
    i=$((i + 1))
    sleep 0.1
  done
  tmux -S "$sock" capture-pane -p -J -S - -t "$name" >"$tmp/$name.end"
  echo "# $name: $((i + 1)) captures" >&2
}

# The status line: "blog  1/3 done · 2 running · 0 failed · 0.4s".
status_re='^blog  [0-9]+/3 done (·|-) [0-9]+ running (·|-) [0-9]+ failed( (·|-) [0-9]+ skipped)? (·|-) [0-9]+\.[0-9]s$'

# Every line that holds a piece of the status line is the status line alone.
check_no_glue() {
  local name=$1 file bad=0 during=0
  for file in "$tmp/$name".*; do
    if grep -Eq "$status_re" "$file"; then
      during=$((during + 1))
    fi
    if grep -E '[0-9]+/3 done|running (·|-)' "$file" | grep -Evq "$status_re"; then
      echo "# $file: a line holds the status line and more:" >&2
      grep -E '[0-9]+/3 done|running (·|-)' "$file" | grep -Ev "$status_re" | sed 's/^/#   /' >&2
      bad=1
    fi
  done
  if [ "$bad" = 0 ] && [ "$during" -gt 0 ]; then
    ok "$name: no line holds the status line and another message ($during captures showed it)"
  elif [ "$bad" = 0 ]; then
    not_ok "$name: no capture showed the status line"
  else
    not_ok "$name: a line holds the status line and another message"
  fi
}

expect_line() {    # expect_line NAME DESCRIPTION REGEX (in the last capture)
  if grep -Eq -- "$3" "$tmp/$1.end"; then
    ok "$1: $2"
  else
    not_ok "$1: $2"
    echo "# no line matches: $3" >&2
    sed 's/^/#   /' "$tmp/$1.end" >&2
  fi
}

refuse_line() {    # refuse_line NAME DESCRIPTION REGEX
  if grep -Eq -- "$3" "$tmp/$1.end"; then
    not_ok "$1: $2"
    sed 's/^/#   /' "$tmp/$1.end" >&2
  else
    ok "$1: $2"
  fi
}

# ---- 1. the status line and the rest ------------------------------------

run_in_terminal blog "'$weft' run examples/blog.json"
check_no_glue blog
expect_line blog "the run's id is shown" \
  '^\[ *[0-9.]+s\] run [0-9a-f-]{36} started \(flow blog, 3 tasks\)$'
expect_line blog "each task's end is a line" '^\[ *[0-9.]+s\] task article completed'
expect_line blog "the output says which task it is" '^== article ==$'
refuse_line blog "the status line is gone at the end" "$status_re"
expect_line blog "it completed" '^EXIT=0$'

run_in_terminal blog-log "'$weft' run examples/blog.json --callback log"
check_no_glue blog-log
expect_line blog-log "the callback's lines are shown" ' blog [0-9a-f]{8} task ideas completed in '
expect_line blog-log "it completed" '^EXIT=0$'

# ---- 2. --quiet -----------------------------------------------------------

run_in_terminal quiet "'$weft' run --quiet --callback log examples/blog.json >'$tmp/quiet.out'"
# (tmux's own "Pane is dead" line aside.)
if [ "$(grep -Ev '^$|^Pane is dead' "$tmp/quiet.end")" = "EXIT=0" ]; then
  ok "quiet: nothing on the terminal but the exit line"
else
  not_ok "quiet: nothing on the terminal but the exit line"
  sed 's/^/#   /' "$tmp/quiet.end" >&2
fi
if grep -q '^(written by task article of flow blog' "$tmp/quiet.out"; then
  ok "quiet: the result is on stdout"
else
  not_ok "quiet: the result is on stdout"
fi

# ---- 3. --verbose -----------------------------------------------------------

run_in_terminal verbose "'$weft' run -v -P '$build/tests/plugins/good' tests/term/tools.json"
expect_line verbose "a task starts with its agent" '^\[ *[0-9.]+s\] task gather started \(agent caller\)$'
for call in 'lookup 0' 'lookup 1' 'fetch 2' 'fetch 3'; do
  set -- $call
  expect_line verbose "tool call $1 n=$2 with its arguments" \
    "^\[ *[0-9.]+s\] task gather calls tool $1 with \{\"n\":$2\}$"
  expect_line verbose "tool call $1 n=$2 with its result" \
    "^\[ *[0-9.]+s\] task gather: tool $1 returned: $1 n=$2 [0-9]+ [0-9]+$"
done
expect_line verbose "the answer of a task" '^\[ *[0-9.]+s\] task gather completed \([0-9.]+s\), its answer:$'
expect_line verbose "streamed text under its task" '^\[ *[0-9.]+s\] task summary writes:$'
expect_line verbose "streamed text kept as text (1)" '^    Streamed words arrive one by one,$'
expect_line verbose "streamed text kept as text (2)" '^    and stay as text in the scrollback\.$'
expect_line verbose "it completed" '^EXIT=0$'

echo "1..$n"
[ "$failed" = 0 ]
