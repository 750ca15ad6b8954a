#!/bin/sh
# POST /api/v1/replay reads only regular files under --replay-dir: off by
# default (403), never a FIFO, a device, a symlink, ".." or an absolute
# path (one 404 that says nothing about what lies outside), never waits
# on a file, and gives up at --replay-timeout.
. "$(dirname "$0")/lib.sh"

R=$T/replay
mkdir -p "$R/sub"
"$B/flowgen" --file "$R/flows.ipfix" --flows 5000 --sources 10 --seed 5 \
    --per-source "$T/expected.txt" 2>/dev/null
cp "$R/flows.ipfix" "$R/sub/again.ipfix"
"$B/flowgen" --file "$R/big.ipfix" --flows 400000 --sources 1000 --seed 6 2>/dev/null
mkfifo "$R/fifo"
ln -s /etc/passwd "$R/passwd"
ln -s flows.ipfix "$R/link.ipfix"
Q='SELECT srcip, count(*) AS flows FROM flows GROUP BY srcip'
body() { printf '{"sql":"%s","file":"%s"}' "$Q" "$1"; }

# --- off by default -------------------------------------------------------
start_flowsqld || exit 1
api POST /api/v1/replay "$(body "$R/flows.ipfix")" >"$T/off"
eq "without --replay-dir replay is off (403)" "$CODE" 403
check "and the error says how to turn it on" grep -q -- '--replay-dir' "$T/off"
api POST /api/v1/replay "$(body /etc/passwd)" >"$T/off2"
eq "an existing file outside gets the same 403" "$CODE" 403
stop_flowsqld

# --- on: files under the directory only ----------------------------------
start_flowsqld --replay-dir "$R" --replay-timeout 30s || exit 1
api POST /api/v1/replay "$(body flows.ipfix)" >"$T/ok"
eq "a file in --replay-dir replays (200)" "$CODE" 200
eq "every flow counted" "$(jq '[.windows[].rows[].flows] | add' "$T/ok")" 5000
api POST /api/v1/replay "$(body sub/again.ipfix)" >/dev/null
eq "a file in a subdirectory replays (200)" "$CODE" 200

# Every refusal is the same 404, whatever is (or is not) at the name.
for f in nope.ipfix /etc/passwd /etc/nonexistent ../replay/flows.ipfix \
         "$R/flows.ipfix" passwd link.ipfix fifo /proc/self/fd/0 /dev/zero \
         sub/../flows.ipfix; do
    api POST /api/v1/replay "$(body "$f")" >"$T/e"
    eq "refused: $f (404)" "$CODE" 404
    eq "  with the one message" "$(jq -r .error "$T/e")" \
       "$f: no such file in $R"
done

# A FIFO never parks a thread: many at once, then /healthz and SIGTERM.
i=0
while [ $i -lt 40 ]; do
    curl -s -m 20 -o /dev/null -d "$(body fifo)" "http://$HTTP/api/v1/replay" &
    PIDS="$PIDS $!"
    i=$((i + 1))
done
sleep 1
CODE=$(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://$HTTP/healthz")
eq "/healthz answers while 40 replays of a FIFO were asked for" "$CODE" 200
t0=$(date +%s)
CODE=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -d "$(body /proc/self/fd/0)" "http://$HTTP/api/v1/replay")
eq "/proc/self/fd/0 answers at once (404)" "$CODE" 404
stop_flowsqld
eq "SIGTERM exits 0 after them" "$STATUS" 0
check "and within 10 s" test $(( $(date +%s) - t0 )) -le 10

# --- the time limit --------------------------------------------------------
start_flowsqld --replay-dir "$R" --replay-timeout 1ms || exit 1
api POST /api/v1/replay "$(body big.ipfix)" >"$T/slow"
eq "a replay past --replay-timeout is 400" "$CODE" 400
check "and says so" grep -q 'time limit of 1 ms' "$T/slow"
stop_flowsqld
exit 0
