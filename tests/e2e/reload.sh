#!/bin/sh
# SIGHUP reloads the saved query directory, and what lies there is not
# trusted: a FIFO named *.sql must not block the signal loop (SIGTERM
# still stops the daemon), a symlink is not followed, and text that is
# not a statement (a secret, a binary) never reaches the log.
. "$(dirname "$0")/lib.sh"

Q=$T/queries
mkdir -p "$Q"
echo "SELECT count(*) AS flows FROM flows WINDOW 1m" >"$Q/good.sql"
QUERIES_DIR=$Q start_flowsqld || exit 1
check "good.sql is registered at start" \
    wait_until 5 grep -q 'registered good' "$T/flowsqld.log"

# What an attacker with write access to the directory (or a careless
# operator) leaves there.
echo 'root:$6$SECRETHASH:19000:0:99999:7:::' >"$T/shadow"
mkfifo "$Q/x.sql"
ln -s "$T/shadow" "$Q/y.sql"
printf 'SECRETBINARY\000\001\002\377 garbage\n' >"$Q/z.sql"
printf 'SECRETTEXT is not a statement\n' >"$Q/w.sql"
echo "SELECT srcip, count(*) AS n FROM flows WINDOW 1m GROUP BY srcip;; oops" \
    >"$Q/v.sql"
# A name that would forge a log line, and a statement after comments.
echo "SELECT count(*) AS n FROM flows WINDOW 1m" \
    >"$Q/$(printf 'a\nFORGED ERROR main: x.sql')"
printf -- '-- what it shows\n/* a block\n comment */\n select count(*) AS n FROM flows WINDOW 10s\n' \
    >"$Q/commented.sql"

# The start logged one "N loaded, N failed" line; the reload logs another.
reloaded() { [ "$(grep -c 'loaded, .* failed' "$T/flowsqld.log")" -ge 2 ]; }
kill -HUP "$FLOWSQLD"
check "the reload finishes (a FIFO does not block it)" wait_until 5 reloaded
kill -TERM "$FLOWSQLD"
i=0
while kill -0 "$FLOWSQLD" 2>/dev/null && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
check "SIGTERM after SIGHUP stops the daemon within 5 s" \
    sh -c "! kill -0 $FLOWSQLD 2>/dev/null"
kill -9 "$FLOWSQLD" 2>/dev/null

L=$T/flowsqld.log
check "the FIFO is refused" grep -q "x.sql: not a regular file" "$L"
check "the symlink is refused" \
    grep -q "y.sql: not a regular file (a symbolic link)" "$L"
check "no secret reaches the log" sh -c "! grep -q SECRET '$L'"
check "the binary file is refused as not a statement" \
    grep -q "z.sql: not a statement" "$L"
check "the text file is refused as not a statement" \
    grep -q "w.sql: not a statement" "$L"
# A file that does read as a statement gets the parser's message with the
# offending line and a caret, as before.
check "a statement's syntax error is shown with its line" \
    grep -q "v.sql: line 1, column" "$L"
check "a statement after comments is loaded" \
    grep -q 'registered commented' "$L"
check "a file name cannot forge a log line" sh -c "! grep -q '^FORGED' '$L'"
check "and is refused by its shown name" \
    grep -q 'a?FORGED ERROR main: x.sql: control characters in the name' "$L"
check "good.sql is kept through the reload" \
    sh -c "! grep -q 'dropped good' '$L'"
grep -n 'queries\|SIGHUP' "$L" >&2

# SIGTERM while /metrics is being read: the collectors are stopped and
# freed while the REST API still answers, so /metrics must not read them
# (under ThreadSanitizer, tests/run.sh runs this against build/tsan too,
# that was a race and a use after free).
rm -f "$Q"/*
: >"$L"
QUERIES_DIR=$Q start_flowsqld || exit 1
(while :; do curl -s "http://$HTTP/metrics" >/dev/null 2>&1; done) &
POLL=$!
PIDS="$PIDS $POLL"
sleep 1
stop_flowsqld
kill "$POLL" 2>/dev/null
eq "SIGTERM while /metrics is read: exits 0" "$STATUS" 0
check "and no sanitizer report" sh -c "! grep -q 'Sanitizer' '$L'"
exit 0
