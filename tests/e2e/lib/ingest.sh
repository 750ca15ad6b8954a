# tests/e2e/lib/ingest.sh - shared by the ingest end-to-end tests (sourced,
# not run: tests/run.sh only runs tests/e2e/*.sh).
#
# The pattern of every test: an exporter's output is captured once
# (capture_udp / capture_tcp), then the same datagrams are replayed at a
# modest rate to flowsql and to the oracle (nfcapd), and the per-source
# flow, packet and byte counts of both must be identical:
#
#   flowsql_start         start flowsql's collector (sets FS_*_PORT)
#   oracle_start          start nfcapd (sets NF_PORT)
#   replay_to_both X.pcap
#   flowsql_result > a;  oracle_result > b;  same a b "name"
#
# flowsql_start/flowsql_wait are the only place that knows how flowsql
# is run: flowsqld on loopback ports with one saved query,
#   SELECT srcip, count(*), sum(packets), sum(bytes), min(start), max(end)
#   FROM flows WINDOW 1h GROUP BY srcip
# stopped (SIGTERM: its open window is closed and stored) once the
# collectors have been idle, and its stored rows read back through the ad
# hoc SQL endpoint as "srcip flows packets bytes first last" (times in ms
# since the epoch, sums over the windows the run spanned).

: "${FLOWSQL_BUILD:=$(cd "$(dirname "$0")/../.." && pwd)/build}"
B=$FLOWSQL_BUILD
T=$(mktemp -d /tmp/flowsql-e2e.XXXXXX)
PIDS=""

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT

bg() { # run a command in the background, remember its pid
    "$@" &
    PIDS="$PIDS $!"
    LAST_PID=$!
}

wait_file() { # wait until a file exists (up to 10 s)
    i=0
    while [ ! -s "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    [ -s "$1" ]
}

stop_pid() { # stop one background process and wait for it
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# ---- flowsql ---------------------------------------------------------------

flowsql_start() { # [idle_ms]
    FS_IDLE=${1:-4000}
    rm -rf "$T/fs" "$T/fs.out"
    mkdir -p "$T/fs/q"
    echo "CREATE QUERY per_src AS SELECT srcip, count(*) AS flows,
          sum(packets) AS packets, sum(bytes) AS bytes, min(start) AS first,
          max(end) AS last FROM flows WINDOW 1h GROUP BY srcip" \
        >"$T/fs/q/per_src.sql"
    FS_HTTP=$(free_both_port)
    FS_IPFIX_PORT=$(free_both_port)   # IPFIX over UDP and TCP share it
    FS_TCP_PORT=$FS_IPFIX_PORT
    FS_NETFLOW_PORT=$(free_udp_port)
    bg "$B/flowsqld" --listen 127.0.0.1 --http "127.0.0.1:$FS_HTTP" \
        --ipfix-port "$FS_IPFIX_PORT" --netflow-port "$FS_NETFLOW_PORT" \
        --data-dir "$T/fs/data" --queries-dir "$T/fs/q" --log-level warn \
        2>"$T/fs.log"
    FS_PID=$LAST_PID
    : >"$T/fs.err"
    fs_up "$FS_HTTP" || { echo "# flowsqld did not start" >&2; cat "$T/fs.log" >&2; return 1; }
}

fs_up() { # port: wait (10 s at most) until flowsqld answers
    i=0
    while ! curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 100 ] && return 1
        sleep 0.1
    done
}

fs_records() { # records decoded so far, all exporters
    curl -s "http://127.0.0.1:$FS_HTTP/metrics" |
        awk '/^flowsql_ingest_records_total\{/ { n += $2 } END { print n + 0 }'
}

# Wait here, in this shell: until nothing arrived for FS_IDLE ms (at most
# 120 s), then stop flowsqld and read its stored rows back once.
flowsql_wait() {
    [ -f "$T/fs.out" ] && return 0
    last=-1 still=0 waited=0
    while [ $still -lt "$FS_IDLE" ] && [ $waited -lt 120000 ]; do
        n=$(fs_records)
        if [ "$n" = "$last" ]; then still=$((still + 100)); else still=0; last=$n; fi
        sleep 0.1
        waited=$((waited + 100))
    done
    # The collector's counters, one line per exporter and domain, into
    # fs.err: "exporter A domain D decode_errors N unknown_tmpl N
    # seq_lost N seq_lost_msgs N queue_drops N".
    curl -s "http://127.0.0.1:$FS_HTTP/metrics" | awk '
        /^flowsql_ingest_[a-z_]+_total\{exporter=/ {
            split($1, a, "{"); m = a[1]; sub("flowsql_ingest_", "", m); sub("_total", "", m)
            k = a[2]; sub("}", "", k); v[k, m] = $2; keys[k] = 1
        }
        END {
            for (k in keys) {
                e = k; sub(/exporter="/, "", e); sub(/",domain=".*/, "", e)
                d = k; sub(/.*domain="/, "", d); sub(/"/, "", d)
                printf "exporter %s domain %s decode_errors %d unknown_tmpl %d seq_lost %d seq_lost_msgs %d queue_drops %d\n",
                    e, d, v[k, "decode_errors"], v[k, "unknown_template"],
                    v[k, "records_lost"], v[k, "messages_lost"], v[k, "queue_drops"]
            }
        }' >"$T/fs.err"
    kill -TERM "$FS_PID" 2>/dev/null
    wait "$FS_PID" 2>/dev/null
    # flowsql_wait may run in a subshell (flowsql_result | ...), where
    # wait returns at once: wait until the process is gone (or a zombie),
    # it still closes its archive files and its database.
    i=0
    while [ -e "/proc/$FS_PID" ] && [ $i -lt 300 ] &&
          ! grep -q '^[0-9]* (.*) Z' "/proc/$FS_PID/stat" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    port=$(free_both_port)
    "$B/flowsqld" --listen 127.0.0.1 --http "127.0.0.1:$port" --ipfix-port 0 \
        --netflow-port 0 --data-dir "$T/fs/data" --queries-dir "$T/fs/q" \
        --log-level warn 2>>"$T/fs.log" &
    rp=$!
    fs_up "$port" &&
    curl -s -d '{"sql":"SELECT ip_text(srcip), sum(flows), sum(packets), sum(bytes), min(first), max(last) FROM per_src GROUP BY srcip"}' \
        "http://127.0.0.1:$port/api/v1/sql" |
        jq -r '.rows[] | map(tostring) | join(" ")' >"$T/fs.out"
    kill -TERM $rp 2>/dev/null
    wait $rp 2>/dev/null
}

flowsql_rows() { flowsql_wait; cat "$T/fs.out"; }
flowsql_result() {
    flowsql_rows | awk '{ print $1, $2, $3, $4 }' | sort
}
flowsql_times() {
    flowsql_rows | awk '{ print $1, $5, $6 }' | sort
}

flowsql_stats() { cat "$T/fs.err" "$T/fs.log"; }

# clean_counters NAME [ERRORS]: every exporter line of fs.err shows no
# sequence gap and no drop, and none matches ERRORS (a grep pattern,
# decode errors by default)
clean_counters() {
    if grep -q "${2:-decode_errors [1-9]}" "$T/fs.err" ||
       grep -v -q 'seq_lost 0 seq_lost_msgs 0 queue_drops 0' "$T/fs.err"; then
        echo "not ok - $1: counters show loss or errors"
        cat "$T/fs.err" >&2
    else
        echo "ok - $1: no sequence gap, no drop, no error"
    fi
}

# ---- the oracle: nfcapd + nfdump -A srcip ------------------------------------

oracle_start() {
    rm -rf "$T/nf"
    mkdir -p "$T/nf"
    NF_PORT=$(free_udp_port)
    bg nfcapd -w "$T/nf" -p "$NF_PORT" -b 127.0.0.1 -B 8000000 -t 3600 \
        >"$T/nfcapd.log" 2>&1
    NF_PID=$LAST_PID
    sleep 0.5
}

oracle_rows() { # same columns as flowsql_rows, from nfdump -A srcip
    sleep 0.5
    stop_pid "$NF_PID"
    TZ=UTC nfdump -R "$T/nf" -A srcip \
        -o 'fmt:%sa %fl %pkt %byt %ts %te' -q -N 2>/dev/null |
        python3 -c '
import calendar, sys, time
def ms(d, t):
    main, _, frac = t.partition(".")
    s = calendar.timegm(time.strptime(d + " " + main, "%Y-%m-%d %H:%M:%S"))
    return s * 1000 + int((frac + "000")[:3])
for line in sys.stdin:
    f = line.split()
    if len(f) == 8:
        print(*f[:4], ms(f[4], f[5]), ms(f[6], f[7]))'
}

oracle_result() { oracle_rows >"$T/nf.rows"; awk '{ print $1, $2, $3, $4 }' "$T/nf.rows" | sort; }
oracle_times() { awk '{ print $1, $5, $6 }' "$T/nf.rows" | sort; }

free_both_port() { # free for TCP and UDP alike
    python3 -c '
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass'
}

free_udp_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- capture and replay --------------------------------------------------------

capture_udp() { # out.pcap: start capturing; sets CAP_PORT
    rm -f "$T/cap.port"
    bg "$B/tools/capture" --udp 0 --out "$1" --ports-file "$T/cap.port" \
        --idle-ms "${CAP_IDLE_MS:-3000}" --max-s 120 2>"$T/capture.log"
    CAP_PID=$LAST_PID
    wait_file "$T/cap.port" || return 1
    read -r CAP_PORT <"$T/cap.port"
}

capture_tcp() { # out.pcap out.ipfix: start capturing; sets CAP_PORT
    rm -f "$T/cap.port"
    bg "$B/tools/capture" --tcp 0 --out "$1" --stream "$2" \
        --ports-file "$T/cap.port" --idle-ms "${CAP_IDLE_MS:-3000}" \
        --max-s 120 2>"$T/capture.log"
    CAP_PID=$LAST_PID
    wait_file "$T/cap.port" || return 1
    read -r CAP_PORT <"$T/cap.port"
}

capture_wait() { wait "$CAP_PID" 2>/dev/null; cat "$T/capture.log" >&2; }

replay_to_both() { # x.pcap flowsql_port
    "$B/tools/replay" "$1" --to "127.0.0.1:$2" --to "127.0.0.1:$NF_PORT" \
        --pps "${REPLAY_PPS:-2000}" 2>>"$T/replay.log"
}

# ---- verdicts -----------------------------------------------------------------------

same() { # flowsql.txt oracle.txt name
    n=$(wc -l <"$2")
    if [ "$n" -gt 0 ] && cmp -s "$1" "$2"; then
        flows=$(awk '{ s += $2 } END { print s }' "$2")
        echo "ok - $3 ($n sources, ${4:-$flows flows}: same)"
    else
        echo "not ok - $3"
        echo "# flowsql (<) vs oracle (>), $(wc -l <"$1") vs $n sources:" >&2
        diff "$1" "$2" | grep '^<' | head -5 >&2
        diff "$1" "$2" | grep '^>' | head -5 >&2
        flowsql_stats >&2
    fi
}
