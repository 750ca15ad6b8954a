#!/bin/sh
# flowsqld as an operator first meets it: a config file (quotes, '#',
# both spellings of a name, its errors with a line number) and --read
# of files that are missing or not IPFIX, with the exact messages.
. "$(dirname "$0")/lib.sh"

# ---- the config file -------------------------------------------------------

# A quoted '#' is part of the value; a '#' after a blank starts a comment;
# netflow_port is netflow-port.
NF=$(free_port)
cat >"$T/good.conf" <<EOF
# flowsqld settings
api-token = "ab#cd"   # the token has a '#' in it
netflow_port = $NF
log-level = 'info'
EOF
# (A shell variable, not exported: start_flowsqld's health check sends
# it, the daemon gets its token from the file alone.)
FLOWSQL_API_TOKEN='ab#cd'
start_flowsqld --config "$T/good.conf" || exit 1
unset FLOWSQL_API_TOKEN
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer ab#cd' "http://$HTTP/api/v1/queries")
eq "a quoted '#' is kept: token ab#cd accepted" "$CODE" 200
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer "ab' "http://$HTTP/api/v1/queries")
eq "the token is not cut at '#'" "$CODE" 401
stop_flowsqld
# The command line came after the file (--netflow-port "$NETFLOW" wins),
# so ask for the file alone: the effective port is logged at start.
"$B/flowsqld" --config "$T/good.conf" --http off --ipfix-port 0 --sflow-port 0 \
    --data-dir "$T/d1" --queries-dir "$T/none" >/dev/null 2>"$T/nf.log" &
P=$!
PIDS="$PIDS $P"
check "netflow_port (underscore) is accepted" \
    wait_until 10 grep -q "NetFlow udp/$NF" "$T/nf.log"
kill -TERM "$P"
wait "$P"

# Errors name the file and the line.
conf_err() { # NAME FILE-TEXT WANT
    printf '%s\n' "$2" >"$T/bad.conf"
    "$B/flowsqld" --config "$T/bad.conf" --http off >/dev/null 2>"$T/err"
    st=$?
    eq "$1: exit status 2" "$st" 2
    eq "$1: message" "$(cat "$T/err")" "$3"
}
conf_err "unknown setting" "$(printf '# ok\nhttp = off\nnetflw-port = 9')" \
    "flowsqld: $T/bad.conf:3: unknown setting 'netflw-port' (did you mean 'netflow-port'?)"
conf_err "unterminated quote" 'api-token = "abc' \
    "flowsqld: $T/bad.conf:1: unterminated \" quote"
conf_err "text after a quote" 'api-token = "abc" def' \
    "flowsqld: $T/bad.conf:1: unexpected 'def' after the closing quote"
conf_err "no '='" "$(printf '\nhttp off')" \
    "flowsqld: $T/bad.conf:2: expected 'name = value'"
conf_err "bad value" 'ipfix_port = "12x"' \
    "flowsqld: $T/bad.conf:1: --ipfix-port: '12x' is not a valid number"

# ---- --read of files that are not what they should be -----------------------

mkdir -p "$T/q"
read_err() { # NAME FILE WANT
    "$B/flowsqld" --read "$2" --queries-dir "$T/q" --data-dir "$T/d3" \
        >"$T/read.out" 2>"$T/read.err"
    st=$?
    eq "$1: exit status 1" "$st" 1
    eq "$1: message" "$(sed 's/^[^ ]* //' "$T/read.err" | grep '^ERROR')" "$3"
    eq "$1: nothing on stdout" "$(wc -c <"$T/read.out")" 0
}
read_err "--read of a missing file" "$T/nonexist.ipfix" \
    "ERROR main: cannot open $T/nonexist.ipfix: No such file or directory"
printf 'this is not IPFIX at all\n' >"$T/text.ipfix"
read_err "--read of a text file" "$T/text.ipfix" \
    "ERROR main: $T/text.ipfix: neither IPFIX (version 10) nor pcap/pcapng: it starts with bytes 74 68 69 73"
exit 0
