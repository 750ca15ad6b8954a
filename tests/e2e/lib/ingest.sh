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
# flowsql_start/flowsql_rows are the only place that knows how flowsql
# is run. Today that is build/tools/ingest_agg; when flowsqld exists, they
# become: start flowsqld on the ports with the saved query
#   SELECT srcip, count(*), sum(packets), sum(bytes), min(start), max(end)
#   FROM flows WINDOW 1h GROUP BY srcip
# and print its rows as "srcip flows packets bytes first last" (times in
# ms since the epoch).

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
    rm -f "$T/fs.ports"
    bg "$B/tools/ingest_agg" --bind 127.0.0.1 --ipfix-port 0 --tcp-port 0 \
        --netflow-port 0 --ports-file "$T/fs.ports" --idle-ms "${1:-4000}" \
        --max-s 120 --stats >"$T/fs.out" 2>"$T/fs.err"
    FS_PID=$LAST_PID
    wait_file "$T/fs.ports" || { echo "# flowsql did not start" >&2; return 1; }
    read -r FS_IPFIX_PORT FS_TCP_PORT FS_NETFLOW_PORT <"$T/fs.ports"
}

flowsql_rows() { # "srcip flows packets bytes first last", the one switch
    awk 'NF == 6' "$T/fs.out"
}

# Wait here, in this shell: a pipeline's subshell cannot wait for it.
flowsql_wait() { wait "$FS_PID" 2>/dev/null; }
flowsql_result() {
    flowsql_wait
    flowsql_rows | awk '{ print $1, $2, $3, $4 }' | sort
}
flowsql_times() {
    flowsql_wait
    flowsql_rows | awk '{ print $1, $5, $6 }' | sort
}

flowsql_stats() { cat "$T/fs.err"; }

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
