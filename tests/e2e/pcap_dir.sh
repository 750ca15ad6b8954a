#!/bin/sh
# The watched directory (--pcap-dir, docs/INGEST.md "A watched
# directory"): 20 captures arrive while flowsqld runs (renamed in from
# hidden or .tmp names, or written in place and closed, pcap and pcapng),
# then 11 more while it is down, one of them still being written when it
# starts; a stop in the middle of a large file; a file that is no capture,
# a truncated capture, a symlink and a FIFO. Every file is metered once:
# the stored windows hold, per source, the flows, packets and bytes the
# generator wrote (and what flowsqld --read gives over all the captures
# put end to end); nothing is read twice across the restarts.
. "$(dirname "$0")/lib.sh"
GEN="python3 $(dirname "$0")/lib/pcapgen.py"
IN=$T/in
STAGE=$T/stage
mkdir -p "$IN" "$STAGE" "$T/run/queries"
cat >"$T/run/queries/per_src.sql" <<'EOF'
CREATE QUERY per_src AS
SELECT srcip, count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes
FROM flows WINDOW 1h GROUP BY srcip
EOF
T0=1767225600        # 2026-01-01; each group of files an hour apart

files_are() {  # files_are RESULT N
    [ "$(metric "flowsql_pcap_files_total{result=\"$1\"}")" = "$2" ]
}
# regular files left in the watched directory itself
left_in() { find "$IN" -mindepth 1 -maxdepth 1 ! -type d | wc -l; }

# ---- start-up errors -------------------------------------------------------
startup_error() {  # startup_error NAME MESSAGE ARGS...: exits 1, says MESSAGE
    n=$1; m=$2; shift 2
    "$B/flowsqld" --http off --ipfix-port 0 --netflow-port 0 --sflow-port 0 \
        --archive off --data-dir "$T/errdata" --queries-dir "$T/none" "$@" \
        >/dev/null 2>"$T/err.log"
    eq "$n: exit status" $? 1
    check "$n: the message" grep -q -- "$m" "$T/err.log"
}
startup_error "no such directory" "--pcap-dir $T/nope: No such file or directory" \
    --pcap-dir "$T/nope"
startup_error "done is the watched directory" "--pcap-done $IN is the watched directory itself" \
    --pcap-dir "$IN" --pcap-done "$IN"
mkdir -p /dev/shm/fsql$$ && SHM=/dev/shm/fsql$$
startup_error "done on another file system" "--pcap-done $SHM is not on the file system of --pcap-dir" \
    --pcap-dir "$IN" --pcap-done "$SHM"
rmdir "$SHM"
startup_error "done without a directory" "--pcap-done is for --pcap-dir, which is not set" \
    --pcap-done delete

# ---- 20 files while running --------------------------------------------
$GEN series "$STAGE" cap 0 20 "$T0" --hosts 10 >"$T/exp1.txt"
start_flowsqld --pcap-dir "$IN" || exit 1
# (/healthz says ok once the directory is watched; ready.sh)
check "the done directory is created" wait_until 10 test -d "$IN/done/failed"
for f in $(cd "$STAGE" && ls); do
    n=${f#cap-}; n=${n%%.*}; n=${n#0}; n=${n#0}
    case $((n % 3)) in
    0)  cat "$STAGE/$f" >"$IN/$f" ;;                  # in place, closed
    1)  cp "$STAGE/$f" "$IN/.$f" && mv "$IN/.$f" "$IN/$f" ;;
    2)  cp "$STAGE/$f" "$IN/$f.tmp" && mv "$IN/$f.tmp" "$IN/$f" ;;
    esac
done
check "20 files metered" wait_until 20 files_are done 20
eq "none left in the directory" "$(left_in)" 0
eq "20 files in done/" "$(find "$IN/done" -maxdepth 1 -type f | wc -l)" 20

# ---- files that are not captures ----------------------------------------
echo "not a capture" >"$IN/notes.pcap"
$GEN big "$T/tr100.pcap" 100 $((T0 + 3600)) --net 10.9.9 >/dev/null
$GEN big "$STAGE/tr40.pcap" 40 $((T0 + 3600)) --net 10.9.9 >"$T/exp_tr.txt"
# 40 whole records (16 + 60 bytes each) and part of the 41st
head -c $((24 + 40 * 76 + 30)) "$T/tr100.pcap" >"$IN/.cut.pcap"
mv "$IN/.cut.pcap" "$IN/cut.pcap"
$GEN big "$T/outside.pcap" 50 $((T0 + 3600)) --net 10.8.8 >/dev/null
ln -s "$T/outside.pcap" "$IN/link.pcap"
mkfifo "$IN/fifo.pcap"
check "4 bad files counted" wait_until 10 files_are failed 4
eq "moved to done/failed" "$(cd "$IN/done/failed" && ls | tr '\n' ' ')" \
    "cut.pcap fifo.pcap link.pcap notes.pcap "
check "the symlink was moved, not its target" test -L "$IN/done/failed/link.pcap" -a -f "$T/outside.pcap"
check "the daemon lives on" curl -sf -o /dev/null "http://$HTTP/healthz"
check "the log says why" grep -q 'link.pcap: a symbolic link' "$T/flowsqld.log"
check "the log names the truncation" grep -q 'cut.pcap: .*truncated' "$T/flowsqld.log"

# ---- 11 more while flowsqld is down, one still being written -------------
stop_flowsqld
eq "SIGTERM exits 0" "$STATUS" 0
$GEN series "$STAGE" cap 20 11 $((T0 + 7200)) --hosts 10 >"$T/exp2.txt"
for n in $(seq 20 29); do
    f=$(cd "$STAGE" && ls cap-0$n.*)
    if [ $((n % 2)) = 0 ]; then cp "$STAGE/$f" "$IN/$f"
    else cp "$STAGE/$f" "$IN/.$f" && mv "$IN/.$f" "$IN/$f"; fi
done
# cap-030 is open for writing, half written, when flowsqld starts
python3 - "$STAGE/cap-030.pcap" "$IN/cap-030.pcap" "$T/go" <<'EOF' &
import os, sys, time
data = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as f:
    f.write(data[:len(data) // 2]); f.flush()
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.05)
    f.write(data[len(data) // 2:])
EOF
WRITER=$!
PIDS="$PIDS $WRITER"
sleep 0.3
start_flowsqld --pcap-dir "$IN" || exit 1
check "the 10 complete files are metered at start" wait_until 20 files_are done 10
sleep 1
check "the file being written is left alone" test -f "$IN/cap-030.pcap"
eq "and not refused" "$(metric 'flowsql_pcap_files_total{result="failed"}')" 0
touch "$T/go"
wait "$WRITER"
check "it is metered once closed" wait_until 10 files_are done 11
eq "none left in the directory" "$(left_in)" 0

# ---- a stop in the middle of a large file --------------------------------
$GEN big "$T/big.pcap" 1000000 $((T0 + 3 * 3600)) >"$T/exp_big.txt"
mv "$T/big.pcap" "$IN/.big.pcap"
mv "$IN/.big.pcap" "$IN/big.pcap"
seen=0
i=0
while [ $i -lt 3000 ]; do
    if ls -l "/proc/$FLOWSQLD/fd" 2>/dev/null | grep -q 'big.pcap'; then
        seen=1
        break
    fi
    i=$((i + 1))
done
stop_flowsqld
eq "caught flowsqld reading big.pcap, stopped it" "$seen" 1
eq "SIGTERM exits 0" "$STATUS" 0
check "the file was finished and moved" test -f "$IN/done/big.pcap" -a ! -e "$IN/big.pcap"

# ---- a restart with nothing new: nothing is read again -------------------
start_flowsqld --pcap-dir "$IN" || exit 1
wait_until 10 sh -c "[ \$(grep -c 'pcap: watching' '$T/flowsqld.log') = 3 ]"
sleep 1
eq "no file read again" "$(metric 'flowsql_pcap_files_total{result="done"}')" 0
eq "no packet read again" "$(metric 'flowsql_pcap_packets_total{source="dir"}')" 0

# Per source: flows, packets and bytes of every window stored.
api GET "/api/v1/queries/per_src/results?limit=1000" >"$T/res.json"
eq "results (200)" "$CODE" 200
jq -r '[.[].rows[]] | group_by(.srcip)[] |
       "\(.[0].srcip) \(map(.flows) | add) \(map(.packets) | add) \(map(.bytes) | add)"' \
    "$T/res.json" | sort >"$T/got.txt"
# exp1 and exp2 are one series each: their hosts' long flows are two
cat "$T/exp1.txt" "$T/exp2.txt" | awk '{f[$1]+=$2; p[$1]+=$3; b[$1]+=$4}
    END {for (k in f) print k, f[k], p[k], b[k]}' >"$T/exp_series.txt"
cat "$T/exp_series.txt" "$T/exp_tr.txt" "$T/exp_big.txt" | sort >"$T/want.txt"
check "stored flows, packets, bytes per source equal the captures'" cmp -s "$T/got.txt" "$T/want.txt"
diff "$T/got.txt" "$T/want.txt" | head >&2
eq "sources" "$(wc -l <"$T/got.txt")" $((10 + 40 + 250))
check "nothing of the symlink's target" test -z "$(grep '^10\.8\.8\.' "$T/got.txt")"

# The same captures end to end through --read (its own data directory).
$GEN cat "$T/all.pcap" $(cd "$STAGE" && ls cap-00* cap-01* | sed "s|^|$STAGE/|") \
    "$STAGE/tr40.pcap" $(cd "$STAGE" && ls cap-02* cap-030* | sed "s|^|$STAGE/|") \
    "$IN/done/big.pcap"
"$B/flowsqld" --read "$T/all.pcap" --queries-dir "$T/run/queries" \
    --data-dir "$T/readdata" >"$T/read.out" 2>"$T/read.log"
eq "--read exits 0" $? 0
jq -rs '[.[].rows[]] | group_by(.srcip)[] |
        "\(.[0].srcip) \(map(.flows) | add) \(map(.packets) | add) \(map(.bytes) | add)"' \
    "$T/read.out" | sort >"$T/read.txt"
check "the same as flowsqld --read over the captures end to end" cmp -s "$T/got.txt" "$T/read.txt"
diff "$T/got.txt" "$T/read.txt" | head >&2

stop_flowsqld
eq "the last run read nothing" "$(grep 'files metered' "$T/flowsqld.log" | tail -1 | sed 's/.*: \([0-9]* files\)/\1/')" \
    "0 files metered, 0 failed, 0 packets, 0 flows"
exit $FAILED
