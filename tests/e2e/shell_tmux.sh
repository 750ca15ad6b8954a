#!/bin/sh
# The shell in a real terminal, driven under tmux (send-keys, capture-pane):
# a multi-line statement and its aligned table, history (Up arrow, and
# across sessions), tab completion of a field, a function and a query
# name, errors that leave the shell running, Ctrl-C at the prompt, a live
# view and \watch stopped with Ctrl-C, the pager, \q.
#
# Every wait polls the screen for the text it expects, with a time limit,
# instead of sleeping a fixed time.
. "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || { fail "tmux is installed"; exit 1; }
start_flowsqld || exit 1
URL=http://$HTTP
api POST /api/v1/queries '{"name":"talkers","sql":"SELECT srcip, count(*) AS flows FROM flows WINDOW 10s GROUP BY srcip"}' >/dev/null

# A tmux server of our own, gone when the test ends.
tm() { tmux -S "$T/tmux.sock" "$@"; }
trap 'tm kill-server 2>/dev/null; cleanup' EXIT INT TERM

# start_shell NAME ROWS [ENV...]: the shell in a new session NAME.
start_shell() {
    name=$1 rows=$2
    shift 2
    tm new-session -d -s "$name" -x 200 -y "$rows" \
        "env -u LESS HOME=$T TERM=xterm PAGER= $* $B/flowsql -u $URL"
}
screen() { tm capture-pane -p -t "$1"; }
# wait_for SESSION TEXT [COUNT]: until the screen shows TEXT (COUNT times).
wait_for() {
    i=0
    while [ "$(screen "$1" | grep -cF -- "$2")" -lt "${3:-1}" ]; do
        i=$((i + 1))
        [ $i -gt 100 ] && return 1
        sleep 0.1
    done
    return 0
}
# expect NAME SESSION TEXT [COUNT]: a test that the screen shows TEXT.
expect() {
    if wait_for "$2" "$3" "$4"; then ok "$1"; else
        fail "$1" "no [$3] on the screen:"
        screen "$2" | sed 's/^/    | /' >&2
    fi
}
# keys SESSION TEXT: type TEXT literally (a final ';' escaped for tmux).
keys() {
    t=$2
    case "$t" in *\;) t="${t%;}\\;" ;; esac
    tm send-keys -t "$1" -l -- "$t"
}
line() { keys "$1" "$2"; tm send-keys -t "$1" Enter; }
# the last non-empty line of the screen
last_line() { screen "$1" | grep -v '^$' | tail -n 1; }
# expect_last NAME SESSION TEXT: the last line becomes TEXT
expect_last() {
    i=0
    while [ "$(last_line "$2")" != "$3" ]; do
        i=$((i + 1))
        if [ $i -gt 100 ]; then
            fail "$1" "last line [$(last_line "$2")], not [$3]"
            return
        fi
        sleep 0.1
    done
    ok "$1"
}
# an empty prompt (the pane holds no trailing blanks)
prompt_back() { expect_last "$1" "$2" "flowsql=>"; }

start_shell s 50
expect "the banner names the server" s "connected to flowsqld 0.1.0 at $URL (1 query)"
prompt_back "the prompt" s

# --- a multi-line statement and its table --------------------------------------
line s "SHOW"
expect_last "a statement without ';' continues on the next line" s "flowsql->"
line s "  QUERIES;"
expect "the table comes" s "(1 row)"
check "aligned header" sh -c "tmux -S '$T/tmux.sock' capture-pane -p -t s | grep -qxF '  name   | source |  state  | flows | windows | rows | late | overflow | memory |         created'"
check "separator" sh -c "tmux -S '$T/tmux.sock' capture-pane -p -t s | grep -qxF -- '---------+--------+---------+-------+---------+------+------+----------+--------+--------------------------'"
check "row with numbers right-aligned" sh -c "tmux -S '$T/tmux.sock' capture-pane -p -t s | grep -qE '^ talkers \\| api    \\| running \\|     0 \\|       0 \\|'"
prompt_back "the prompt is back" s

# --- history -----------------------------------------------------------------------
tm send-keys -t s Up
expect "Up recalls the statement, its lines joined" s "flowsql=> SHOW QUERIES;"
tm send-keys -t s Enter
expect "and Enter runs it again" s "(1 row)" 2
check "the history is saved in ~/.flowsql_history" grep -qE 'SHOW(\\040| )QUERIES;' "$T/.flowsql_history"

# --- completion ----------------------------------------------------------------------
tm send-keys -t s C-l
keys s "EXPLAIN SELECT dstp"
tm send-keys -t s Tab
expect "Tab completes a field name" s "flowsql=> EXPLAIN SELECT dstport"
keys s ", cou"
tm send-keys -t s Tab
expect "Tab completes a function name with its (" s "flowsql=> EXPLAIN SELECT dstport , count("
line s "*) FROM flows WINDOW 1s GROUP BY 1;"
expect "the completed statement runs" s "aggregate  hash by dstport: count(*)"
keys s '\d tal'
tm send-keys -t s Tab
expect "Tab completes a query name from the server" s 'flowsql=> \d talkers'
tm send-keys -t s Enter
expect "and \\d shows it" s 'Query "talkers", api, running'

# --- errors leave the shell running -------------------------------------------------
tm send-keys -t s C-l
line s "SELECT count(* FROM flows WINDOW 1s;"
expect "a syntax error is shown" s "ERROR: line 1, column 16: syntax error at 'FROM'"
expect "with its caret" s "                 ^^^^"
prompt_back "and the shell keeps running" s

# Ctrl-C at the prompt forgets what was typed
keys s "SELECT srcip"
tm send-keys -t s Enter
expect_last "a statement is being typed" s "flowsql->"
tm send-keys -t s C-c
prompt_back "Ctrl-C at the prompt starts afresh" s

# --- a live view and \watch, stopped by Ctrl-C ----------------------------------------
tm send-keys -t s C-l
line s "SELECT srcip, count(*) FROM flows WINDOW 1s GROUP BY srcip;"
expect "a SELECT over flows with a WINDOW is a live view" s "Live view of temporary query tmp_"
eq "its temporary query is registered" \
   "$(api GET /api/v1/queries | jq -r '[.queries[] | select(.source == "temporary")] | length')" 1
expect "with no flows, it says why no window comes" s "(No window has closed yet: windows close only when flows arrive."
tm send-keys -t s C-c
expect "Ctrl-C stops it and drops the query" s "Stopped; temporary query tmp_"
prompt_back "the prompt is back after the live view" s
eq "the temporary query is gone" \
   "$(api GET /api/v1/queries | jq -r '[.queries[] | select(.source == "temporary")] | length')" 0

tm send-keys -t s C-l
line s '\watch talkers'
expect "\\watch follows a query" s 'Watching "talkers": each window as it closes. Ctrl-C stops.'
i=0
until [ "$(curl -s "$URL/metrics" | sed -n 's/^flowsql_sse_clients //p')" = 1 ] || [ $i -gt 50 ]; do
    sleep 0.1; i=$((i + 1))
done
eq "\\watch is subscribed to the stream" \
   "$(curl -s "$URL/metrics" | sed -n 's/^flowsql_sse_clients //p')" 1
tm send-keys -t s C-c
expect "Ctrl-C stops \\watch" s 'Stopped watching "talkers".'
prompt_back "the prompt is back after \\watch" s
api GET /api/v1/queries/talkers >/dev/null
eq "\\watch leaves the query registered" "$CODE" 200
line s '\conninfo'
expect "the shell still talks to the server" s "Connected to flowsqld 0.1.0 at $URL"

# --- with flows arriving, windows appear live ----------------------------------------------
"$B/flowgen" --tcp "127.0.0.1:$IPFIX" --flows 200000 --rate 5000 --sources 5 \
    --seed 5 2>/dev/null &
GEN=$!
PIDS="$PIDS $GEN"
tm send-keys -t s C-l
line s "SELECT count(*) AS flows FROM flows WINDOW 1s;"
expect "a live view shows each window's title as it closes" s "Window 20"
expect "and its table" s "(1 row)"
expect "window after window" s "(1 row)" 2
tm send-keys -t s C-c
expect "Ctrl-C stops the live view while flows arrive" s "Stopped; temporary query tmp_"
prompt_back "the prompt is back" s
tm send-keys -t s C-l
line s '\watch talkers'
expect "\\watch shows the windows of a registered query" s "Window 20"
check "with its rows of addresses" sh -c "tmux -S '$T/tmux.sock' capture-pane -p -t s | grep -qE '^ 10\\.0\\.0\\.[0-9]+ +\\| +[0-9]+\$'"
tm send-keys -t s C-c
prompt_back "Ctrl-C ends \\watch" s
kill $GEN 2>/dev/null

# --- \q ----------------------------------------------------------------------------------
line s '\q'
i=0
while tm has-session -t s 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "\\q quits" sh -c "! tmux -S '$T/tmux.sock' has-session -t s 2>/dev/null"

# --- history across sessions; the pager -----------------------------------------------------
printf '\\numbers grouped\n' >"$T/.flowsqlrc"
start_shell p 15 PAGER=less
expect "~/.flowsqlrc runs at the start" p "Numbers in tables are grouped by thousands"
prompt_back "a new session" p
tm send-keys -t p Up
expect "history survives the session" p 'flowsql=> \q'
tm send-keys -t p Up
expect "and goes further back" p 'flowsql=> \watch talkers'
tm send-keys -t p C-u
line p '\h fields'
expect "a result longer than the screen goes to the pager" p "Fields of a flow"
expect_last "the pager waits for a key" p ":"
tm send-keys -t p q
prompt_back "q leaves the pager, back at the prompt" p
tm send-keys -t p C-d
i=0
while tm has-session -t p 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "Ctrl-D quits" sh -c "! tmux -S '$T/tmux.sock' has-session -t p 2>/dev/null"
exit 0
