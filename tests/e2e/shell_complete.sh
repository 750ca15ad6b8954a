#!/bin/sh
# Tab completion inside parentheses, in a real terminal under tmux: after
# a function's '(' the shell offers the flow's fields (and DISTINCT for an
# aggregate), not keywords or functions; after WITH ( the options the
# parser accepts, and after 'option =' their usual values.
. "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || { fail "tmux is installed"; exit 1; }
start_flowsqld || exit 1
URL=http://$HTTP

tm() { tmux -S "$T/tmux.sock" "$@"; }
trap 'tm kill-server 2>/dev/null; cleanup' EXIT INT TERM
tm new-session -d -s s -x 200 -y 40 \
    "env -u LESS HOME=$T TERM=xterm PAGER= $B/flowsql -u $URL"
screen() { tm capture-pane -p -t s; }
wait_for() { # TEXT: until the screen shows it (10 s)
    i=0
    while ! screen | grep -qF -- "$1"; do
        i=$((i + 1)); [ $i -gt 100 ] && return 1
        sleep 0.1
    done
}
expect() { # NAME TEXT
    if wait_for "$2"; then ok "$1"; else
        fail "$1" "no [$2] on the screen:"
        screen | sed 's/^/    | /' >&2
    fi
}
# absent NAME TEXT: the screen (settled) does not show TEXT
absent() {
    sleep 0.3
    if screen | grep -qF -- "$2"; then
        fail "$1" "[$2] is on the screen:"
        screen | sed 's/^/    | /' >&2
    else ok "$1"; fi
}
keys() { tm send-keys -t s -l -- "$1"; }
fresh() { tm send-keys -t s C-u; tm send-keys -t s C-l; sleep 0.2; }
wait_for "flowsql=>" || { fail "the shell starts"; exit 1; }

# --- after a function's '(' ------------------------------------------------
fresh
keys "SELECT sum(by"
tm send-keys -t s Tab
expect "sum(by<Tab> is the field bytes, not the keyword BY" "flowsql=> SELECT sum(bytes"
fresh
keys "SELECT avg(src"
tm send-keys -t s Tab Tab
expect "avg(src<Tab><Tab> lists the src fields" "srcport"
fresh
keys "SELECT max(s"
tm send-keys -t s Tab Tab
expect "max(s<Tab><Tab> lists fields" "sampling"
absent "but no keyword (SLIDE)" "SLIDE"
absent "and no function (sum)" " sum "
fresh
keys "SELECT count(DIST"
tm send-keys -t s Tab
expect "count(DIST<Tab>: DISTINCT for an aggregate" "flowsql=> SELECT count(DISTINCT"
fresh
keys "SELECT network(dsti"
tm send-keys -t s Tab
expect "a scalar function's argument: a field" "flowsql=> SELECT network(dstip"
fresh
keys "SELECT sum(bytes), count(DISTINCT dstp"
tm send-keys -t s Tab
expect "the innermost open '(' counts" "count(DISTINCT dstport"

# --- WITH ( options = values ------------------------------------------------
fresh
keys "CREATE QUERY q WITH (elast"
tm send-keys -t s Tab
expect "WITH (elast<Tab>: the option elasticsearch_index" "WITH (elasticsearch_index"
fresh
keys "CREATE QUERY q WITH (retention = 7d, max"
tm send-keys -t s Tab
expect "after a comma: the next option" "WITH (retention = 7d, max_groups"
fresh
keys "CREATE QUERY q WITH (store = t"
tm send-keys -t s Tab
expect "store = t<Tab>: the value true" "WITH (store = true"
fresh
keys "CREATE QUERY q WITH (retention = "
tm send-keys -t s Tab Tab
expect "retention = <Tab><Tab>: durations" "24h"
absent "not option names" "max_groups"
fresh
keys "CREATE QUERY q WITH (store=f"
tm send-keys -t s Tab
expect "store=f<Tab> without blanks: false" "WITH (store=false"
exit 0
