#!/bin/bash
# bench/peers/run.sh - flowsqld side by side with the tools network teams
# run today (nfcapd + nfdump, pmacct's nfacctd), on one stream, on this
# machine, one tool after the other. `make bench-peers` runs it.
#
#   1. the stream: flowgen, fixed seed, FLOWS flows over SOURCES source
#      hosts, the full protocol and port mix, kept as an IPFIX file in
#      build/peers/ (reused while its parameters and flowgen.c match) with
#      the generator's exact per-source answer beside it;
#   2. for each receiver (flowsqld with the design-card query, nfacctd
#      aggregating by src_host, nfcapd storing, flowsqld with every saved
#      query): the highest loss-free UDP rate on loopback, by doubling
#      from START_RATE until a step loses, then bisecting. A step sends
#      the first rate x STEP_S flows of the stream (flowgen regenerates
#      them from the seed: the same records as the file) and is loss-free
#      when the tool took every one of them: its count equals the
#      generator's, no sequence-number gap, no kernel socket drop, no
#      internal drop;
#   3. the whole stream once more at each tool's loss-free rate: CPU per
#      million flows, peak memory, and the per-source answer compared
#      with the generator's (flows, packets and bytes of every source);
#   4. the file path: flowsqld --read over the IPFIX file against what
#      network teams do now, nfcapd storing the stream, then
#      nfdump -A srcip over what it stored;
#   5. a profile of flowsqld under the UDP load (perf, cpu-clock);
#   6. one table, and the issue's targets met or missed.
#
# Same stream, same rates, same socket receive buffer (RCVBUF; the kernel
# doubles it, as it does for every tool) and the same machine for every
# tool. Everything is on 127.0.0.1; every process started is stopped.
#
# Settings (environment): PEERS_FLOWS (20000000), PEERS_SOURCES (100000),
# PEERS_DESTS (10000), PEERS_SEED (20), PEERS_STEP_S (10),
# PEERS_START_RATE (250000), PEERS_MAX_RATE (16000000), PEERS_BISECT (2),
# PEERS_CONFIRM (4: whole-stream runs at most once one passed, twice that
# while none has; see full()), PEERS_LONG_S
# (130: a whole-stream run lasts at most that), PEERS_RCVBUF (4194304: this machine's net.core.rmem_max, the most
# nfcapd -B and nfacctd_pipe_size can get), PEERS_TOOLS (which
# searches: "flowsqld nfacctd nfcapd flowsqld_all"; also
# flowsqld_share_on and flowsqld_share_off: every saved query and the
# design card, --share-aggregation on / off; flowsqld_libfixbuf: the
# design card with --ipfix-fast off), PEERS_PROFILE (1),
# PEERS_UDP_ONLY (0; 1: stop after the UDP searches and runs),
# PEERS_FLOWSQLD_ARGS (more options for every flowsqld, e.g.
# "--archive off" or "--engine-threads 1"),
# PEERS_TIME_LIMIT (1200 s: no new
# bisection step or whole-stream try starts past it).

set -u
cd "$(dirname "$0")/../.." || exit 1
top=$(pwd)

B=${B:-build}
FLOWS=${PEERS_FLOWS:-20000000}
SOURCES=${PEERS_SOURCES:-100000}
DESTS=${PEERS_DESTS:-10000}
SEED=${PEERS_SEED:-20}
STEP_S=${PEERS_STEP_S:-10}
START_RATE=${PEERS_START_RATE:-250000}
MAX_RATE=${PEERS_MAX_RATE:-16000000}
BISECT=${PEERS_BISECT:-2}
RCVBUF=${PEERS_RCVBUF:-4194304}
TOOLS=${PEERS_TOOLS:-flowsqld nfacctd nfcapd flowsqld_all}
PROFILE=${PEERS_PROFILE:-1}
CONFIRM=${PEERS_CONFIRM:-4}
LONG_S=${PEERS_LONG_S:-130}
TIME_LIMIT=${PEERS_TIME_LIMIT:-1200}

OUT=${PEERS_OUT:-$top/$B/peers}
PS=$top/$B/peers/peerstat
FLOWGEN=$top/$B/flowgen
FLOWSQLD=$top/$B/flowsqld
# The records do not depend on the send rate: the flow clock is fixed.
GENOPTS="--sources $SOURCES --dests $DESTS --dst-ports 20 --protocols 5 --seed $SEED --clock-rate 1000000"
DESIGN_SQL="SELECT srcip, count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes FROM flows WINDOW 10s GROUP BY srcip"

export LC_ALL=C
T0=$(date +%s)
PIDS=""
STEPNO=0
mkdir -p "$OUT/log"
rm -rf "$OUT/log"
mkdir -p "$OUT/log"
RUN=$(mktemp -d "$OUT/run.XXXXXX")
LOG=$OUT/log/steps.txt
: >"$LOG"

cleanup() {
    for p in $PIDS; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

say() { echo "$*" | tee -a "$LOG"; }
v() { eval echo "\${$1:-}"; }     # v NAME: the value of the variable NAME
# fcalc EXPR [FORMAT]: floating-point arithmetic (printf FORMAT, %.2f)
fcalc() { awk "BEGIN { printf \"${2:-%.2f}\", $1 }"; }
fint() { fcalc "$1" %d; }
# fcmp EXPR: true when the comparison holds
fcmp() { awk "BEGIN { exit !($1) }"; }
elapsed() { echo $(( $(date +%s) - T0 )); }

for t in "$PS" "$FLOWGEN" "$FLOWSQLD"; do
    [ -x "$t" ] || { echo "bench-peers: $t missing (make bench-peers builds it)" >&2; exit 1; }
done
for t in nfcapd nfdump nfacctd sqlite3 curl jq; do
    command -v "$t" >/dev/null || { echo "bench-peers: $t not installed" >&2; exit 1; }
done

# ---- the stream -----------------------------------------------------------

STREAM=$OUT/stream.ipfix
TRUTH=$OUT/stream.per-source
params="flows=$FLOWS $GENOPTS flowgen.c=$(sha1sum bench/flowgen.c | cut -c1-12)"
if [ -s "$STREAM" ] && [ -s "$TRUTH" ] && [ "$(cat "$OUT/stream.params" 2>/dev/null)" = "$params" ]; then
    say "stream: reusing $STREAM ($params)"
else
    need_kb=$(( FLOWS / 1000 * 56 + FLOWS / 1000 * 110 + 1048576 ))
    free_kb=$(df -Pk "$OUT" | awk 'NR==2 {print $4}')
    if [ "$free_kb" -lt "$need_kb" ]; then
        echo "bench-peers: $((free_kb / 1024)) MB free under $OUT, need $((need_kb / 1024)) MB" \
             "(the stream file and nfcapd's store)" >&2
        exit 1
    fi
    rm -f "$STREAM" "$TRUTH" "$OUT/stream.params"
    say "stream: generating $FLOWS flows ($GENOPTS) into $STREAM"
    "$FLOWGEN" --file "$STREAM" --flows "$FLOWS" $GENOPTS --per-source "$TRUTH" \
        --summary 2>>"$LOG" || exit 1
    echo "$params" >"$OUT/stream.params"
fi
free_kb=$(df -Pk "$OUT" | awk 'NR==2 {print $4}')
if [ "$free_kb" -lt $(( FLOWS / 1000 * 110 + 1048576 )) ]; then
    echo "bench-peers: $((free_kb / 1024)) MB free under $OUT: not enough for nfcapd's store" >&2
    exit 1
fi

# ---- the tools: start, drain, counters, stop, per-source answer ---------

# wait_port PORT PID SECONDS: until a UDP socket is bound on PORT
wait_port() {
    local i=0
    while [ "$($PS udp "$1")" = "- -" ]; do
        kill -0 "$2" 2>/dev/null || return 1
        i=$((i + 1)); [ $i -gt $(( $3 * 10 )) ] && return 1
        sleep 0.1
    done
}

# start_tool TOOL DIR: sets TPID, PORT (and HTTP for flowsqld)
start_tool() {
    local tool=$1 dir=$2 i=0
    mkdir -p "$dir"
    PORT=$($PS port)
    case $tool in
    flowsqld|flowsqld_all|flowsqld_share_on|flowsqld_share_off|flowsqld_libfixbuf)
        mkdir -p "$dir/q"
        local share=""
        if [ "$tool" = flowsqld_libfixbuf ]; then
            echo "$DESIGN_SQL" >"$dir/q/design_card.sql"
            share="--ipfix-fast off"
        elif [ "$tool" = flowsqld ]; then
            echo "$DESIGN_SQL" >"$dir/q/design_card.sql"
        else
            cp queries/*.sql "$dir/q/"
        fi
        case $tool in flowsqld_share_*)
            echo "$DESIGN_SQL" >"$dir/q/design_card.sql"
            share="--share-aggregation ${tool#flowsqld_share_}" ;;
        esac
        HTTP=127.0.0.1:$($PS port)
        # shellcheck disable=SC2086
        "$FLOWSQLD" $share ${PEERS_FLOWSQLD_ARGS:-} --listen 127.0.0.1 --ipfix-port "$PORT" --netflow-port 0 --sflow-port 0 \
            --http "$HTTP" --rcvbuf "$RCVBUF" --data-dir "$dir/data" \
            --queries-dir "$dir/q" 2>"$dir/tool.log" &
        TPID=$!
        PIDS="$PIDS $TPID"
        local nq
        nq=$(ls "$dir/q" | wc -l)
        # up, and every saved query registered
        while [ "$(curl -s "http://$HTTP/metrics" 2>/dev/null | grep -c '^flowsql_query_flows_total{')" -lt "$nq" ]; do
            i=$((i + 1))
            if [ $i -gt 100 ] || ! kill -0 "$TPID" 2>/dev/null; then
                echo "flowsqld did not start:" >&2; cat "$dir/tool.log" >&2; return 1
            fi
            sleep 0.1
        done
        ;;
    nfcapd)
        mkdir -p "$dir/store"
        nfcapd -w "$dir/store" -b 127.0.0.1 -p "$PORT" -B "$RCVBUF" >"$dir/tool.log" 2>&1 &
        TPID=$!
        PIDS="$PIDS $TPID"
        wait_port "$PORT" "$TPID" 10 || { cat "$dir/tool.log" >&2; return 1; }
        ;;
    nfacctd)
        # The print plugin by src_host, purged every 10 s like the
        # design card's windows, tuned as pmacct's CONFIG-KEYS advises
        # for heavy loads: a core->plugin pipe of 100 MB in chunks of
        # 100 kB (ratio 1:1000; with 10 MB it lost bursts at 500k/s that
        # this one takes), the default cache of 16411 buckets (about
        # 150k entries: 100k sources per purge fit).
        cat >"$dir/nfacctd.conf" <<EOF
daemonize: false
logfile: $dir/tool.log
nfacctd_ip: 127.0.0.1
nfacctd_port: $PORT
nfacctd_pipe_size: $RCVBUF
nfacctd_time_new: true
nfacctd_disable_checks: false
plugins: print[p]
aggregate[p]: src_host, flows
print_output[p]: csv
print_output_file[p]: $dir/out-%s.csv
print_output_file_append[p]: true
print_refresh_time[p]: 10
plugin_pipe_size[p]: 102400000
plugin_buffer_size[p]: 102400
EOF
        # its log goes to a file of its own (logfile): on stdout the
        # plugin's warnings can stay in a stdio buffer when it exits
        nfacctd -f "$dir/nfacctd.conf" >"$dir/stdout.log" 2>&1 &
        TPID=$!
        PIDS="$PIDS $TPID"
        wait_port "$PORT" "$TPID" 10 || { cat "$dir/stdout.log" "$dir/tool.log" >&2; return 1; }
        # the plugin process comes up after the socket
        while [ "$($PS tree "$TPID" | awk '{print $3}')" -lt 2 ]; do
            i=$((i + 1)); [ $i -gt 100 ] && return 1
            sleep 0.1
        done
        sleep 0.5
        ;;
    esac
}

fq_metrics() { # flowsqld's counters: records lost qdrops qflows overflow storedrops
    curl -s "http://$HTTP/metrics" | awk '
        /^flowsql_ingest_records_total\{/      { rec += $NF }
        /^flowsql_ingest_records_lost_total\{/ { lost += $NF }
        /^flowsql_ingest_queue_drops_total\{/  { qd += $NF }
        /^flowsql_query_flows_total\{/         { if (qf == "" || $NF < qf) qf = $NF }
        /^flowsql_query_flows_overflow_total\{/ { ov += $NF }
        /^flowsql_store_rows_dropped_total /   { sd += $NF }
        END { printf "%d %d %d %d %d %d\n", rec, lost, qd, qf, ov, sd }'
}

# drain TOOL: until the tool has taken in and processed what was sent:
# its socket is empty and its counters (flowsqld) or its CPU time (the
# others) stopped moving for three polls in a row.
drain() {
    local prev="" same=0 i=0 cur
    while [ $same -lt 3 ] && [ $i -lt 300 ]; do
        sleep 0.25
        i=$((i + 1))
        case $1 in
        flowsqld*) cur="$(fq_metrics) $($PS udp "$PORT" | cut -d' ' -f1)" ;;
        *) cur="$($PS tree "$TPID" | cut -d' ' -f1) $($PS udp "$PORT" | cut -d' ' -f1)" ;;
        esac
        case $cur in *" 0") ;; *) same=0; prev=""; continue ;; esac
        if [ "$cur" = "$prev" ]; then same=$((same + 1)); else same=0; fi
        prev=$cur
    done
}

# stop_tool TOOL: the tool's own clean shutdown (flowsqld closes its open
# windows, nfcapd closes its file, nfacctd purges its cache), at most 60 s
stop_tool() {
    local sig=TERM i=0
    [ "$1" = nfacctd ] && sig=INT    # nfacctd ignores SIGTERM
    kill -$sig "$TPID" 2>/dev/null
    while kill -0 "$TPID" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$TPID" 2>/dev/null
    wait "$TPID" 2>/dev/null
}

# ip_of_hex: 32 hex digits of an IPv4-mapped address -> dotted quad
HEX2IP='function h(s,  i, v) { v = 0; for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789ABCDEF", substr(s, i, 1)) - 1; return v }
        function ip(x) { return h(substr(x, 25, 2)) "." h(substr(x, 27, 2)) "." h(substr(x, 29, 2)) "." h(substr(x, 31, 2)) }'

# per_source TOOL DIR: "srcip flows packets bytes" summed over windows,
# sorted, after the tool stopped
per_source() {
    case $1 in
    flowsqld*)
        local tbl=design_card
        case $1 in flowsqld|flowsqld_libfixbuf) ;; *) tbl=host_stats_10s ;; esac
        sqlite3 -separator ' ' "$2/data/flowsql.db" \
            "SELECT hex(srcip), sum(flows), sum(packets), sum(bytes) FROM \"$tbl\" GROUP BY srcip" |
            awk "$HEX2IP"' { print ip($1), $2, $3, $4 }' | sort
        ;;
    nfcapd)
        # the batch way: nfdump -A srcip over what nfcapd stored, timed
        # (best of two runs; the files are in the page cache)
        local k w c r
        NFD_WALL=0
        for k in 1 2; do
            $PS run "$2/nfdump.stat" -- nfdump -R "$2/store" -A srcip -q -N \
                -o 'fmt:%sa %fl %pkt %byt' >"$2/nfdump.out"
            read -r w c r _ <"$2/nfdump.stat"
            if [ "$NFD_WALL" = 0 ] || fcmp "$w < $NFD_WALL"; then
                NFD_WALL=$w NFD_CPU=$c NFD_RSS=$(( r / 1024 ))
            fi
        done
        NFD_BYTES=$(du -sk "$2/store" | cut -f1)
        awk 'NF >= 4 { print $1, $2, $3, $4 }' "$2/nfdump.out" | sort
        ;;
    nfacctd)
        cat "$2"/out-*.csv 2>/dev/null | awk -F, '
            $1 == "SRC_IP" { for (i = 1; i <= NF; i++) c[$i] = i; next }
            NF > 1 { f[$c["SRC_IP"]] += $c["FLOWS"]; p[$c["SRC_IP"]] += $c["PACKETS"]; b[$c["SRC_IP"]] += $c["BYTES"] }
            END { for (k in f) print k, f[k], p[k], b[k] }' | sort
        ;;
    esac
}

# received TOOL DIR: "received seq_lost other_drops" after the stop, for
# the tools that only tell then (nfcapd's exit summary, nfacctd's files
# and log). flowsqld's come from its metrics before the stop.
received() {
    case $1 in
    nfcapd)
        # one summary line per file it closed (it rotates every 5 minutes)
        awk '/^Ident: .* Flows: / { for (i = 1; i <= NF; i++) {
                 if ($i == "Flows:") { v = $(i+1); gsub(/,/, "", v); f += v }
                 if ($i == "Errors:") { v = $(i+1); gsub(/,/, "", v); e += v } } }
             END { printf "%d %d 0\n", f, e }' "$2/tool.log"
        ;;
    nfacctd)
        local n gaps miss
        n=$(cat "$2"/out-*.csv 2>/dev/null | awk -F, '$1 == "SRC_IP" { for (i = 1; i <= NF; i++) if ($i == "FLOWS") c = i; next } NF > 1 { s += $c } END { printf "%d", s }')
        gaps=$(grep -ci 'expecting flow' "$2/tool.log")
        miss=$(grep -ci 'missing data' "$2/tool.log")
        echo "$n $gaps $miss"
        ;;
    esac
}

# compare GOT WANT: "yes" or "no (N of M sources differ)"
compare() {
    if cmp -s "$1" "$2"; then
        echo "yes ($(wc -l <"$2") sources)"
    else
        echo "no ($(comm -3 "$1" "$2" | awk '{print $1}' | sort -u | wc -l) of $(wc -l <"$2") sources differ)"
    fi
}

# ---- one UDP run ------------------------------------------------------------

# run_udp TOOL RATE N CHECK: start the tool, send the first N flows of the
# stream at RATE, drain, measure, stop. CHECK=1 also compares the
# per-source answer. Sets OK (1 loss-free), ACH (achieved flows/s),
# CPUM (CPU s per million flows), HWM (MB), AGREE, SENDT (s), STORE_T
# (first datagram to the tool's exit, s), LINE.
run_udp() {
    local tool=$1 rate=$2 n=$3 check=$4
    local dir=$RUN/$tool-$rate-$n
    REC=0
    start_tool "$tool" "$dir" || { OK=0; ACH=0; LINE="$tool: did not start"; say "$LINE"; return 1; }
    # A step shorter than a window starts so that a 10 s boundary falls in
    # its middle: flowsqld closes a window and nfacctd purges during it.
    local dur
    dur=$(fcalc "$n / $rate" %.3f)
    if fcmp "$dur < 10"; then
        sleep "$(awk -v d="$dur" -v now="$(date +%s.%N)" 'BEGIN {
            w = (10 - d / 2) - (now % 10); while (w < 0.3) w += 10; printf "%.3f", w }')"
    fi
    local cpu0 t1 t2
    cpu0=$($PS tree "$TPID" | cut -d' ' -f1)
    "$FLOWGEN" --udp "127.0.0.1:$PORT" --flows "$n" --rate "$rate" $GENOPTS \
        --summary ${check:+--per-source "$dir/truth"} 2>"$dir/gen.log"
    drain "$tool"
    local st cpu1 hwm_kb udp kdrops
    st=$($PS tree "$TPID")
    cpu1=${st%% *}
    hwm_kb=$(echo "$st" | cut -d' ' -f2)
    udp=$($PS udp "$PORT")
    kdrops=${udp#* }
    local rec lost qd qf ov sd
    if [ "${tool#flowsqld}" != "$tool" ]; then
        read -r rec lost qd qf ov sd <<<"$(fq_metrics)"
        curl -s "http://$HTTP/metrics" | grep -v '^#' >"$dir/metrics"
    fi
    t1=$(date +%s.%N)
    stop_tool "$tool"
    t2=$(date +%s.%N)
    case $tool in
    nfcapd|nfacctd)
        read -r rec lost qd <<<"$(received "$tool" "$dir")"
        qf=$rec ov=0 sd=0
        ;;
    esac
    SENDT=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "s:") print $(i-1) }' "$dir/gen.log")
    ACH=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "flows/s") printf "%d", $(i-1) }' "$dir/gen.log")
    # the stream's time at this rate, plus the tool's own shutdown (it
    # closes its file, windows or cache); not the idle drain polls
    STORE_T=$(fcalc "$SENDT + $t2 - $t1")
    CPUM=$(fcalc "($cpu1 - $cpu0) / ($n / 1000000)")
    HWM=$(( hwm_kb / 1024 ))
    OK=0
    # Flows a query could not place because its group table was at its
    # max_groups cap are counted by flowsqld and reported, not taken as
    # losses: they come from the query's memory bound on this stream
    # (every flow a new host pair), not from the rate.
    [ "$rec" = "$n" ] && [ "$qf" = "$n" ] && [ "$lost" = 0 ] && [ "$qd" = 0 ] &&
        [ "$sd" = 0 ] && [ "$kdrops" = 0 ] && OK=1
    OV=$ov
    AGREE=""
    if [ -n "$check" ] && [ $OK = 0 ]; then
        AGREE="not compared (records lost)"
    elif [ -n "$check" ]; then
        per_source "$tool" "$dir" >"$dir/got"
        sort "$dir/truth" >"$dir/want"
        AGREE=$(compare "$dir/got" "$dir/want")
        cp "$dir/got" "$OUT/log/$tool.per-source"
        case $AGREE in yes*) ;; *) OK=0 ;; esac
    fi
    REC=$rec
    local internal="internal $qd"
    [ "${tool#flowsqld}" != "$tool" ] && internal="queue $qd, over max_groups $ov, result rows not stored $sd, longest close $(awk '/^flowsql_engine_close_seconds_max / { print $2 }' "$dir/metrics") s"
    [ "$tool" = nfacctd ] && internal="'missing data' warnings $qd"
    [ "$tool" = nfacctd ] && lost="$lost gaps"
    LINE=$(printf "%-12s %9d/s: %9d flows in %6.2f s (%9d/s), took %9d, seq-lost %s, drops: kernel %s, %s; cpu %.2f s/M flows, peak %d MB%s: %s" \
        "$tool" "$rate" "$n" "$SENDT" "$ACH" "$rec" "$lost" "$kdrops" "$internal" \
        "$CPUM" "$HWM" "${AGREE:+; per-source $AGREE}" "$([ $OK = 1 ] && echo LOSS-FREE || echo LOSS)")
    say "[$(elapsed) s] $LINE"
    mkdir -p "$OUT/log/steps"
    STEPNO=$((STEPNO + 1))
    cat "$dir/gen.log" "$dir/tool.log" "$dir/metrics" \
        >"$OUT/log/steps/$(printf %02d $STEPNO)-$tool-$rate-$n.log" 2>/dev/null
    rm -rf "$dir"
}

# steps RATE: flows in a step at RATE (STEP_S seconds, at most the stream)
steps() { local n=$(( $1 * STEP_S )); [ $n -gt "$FLOWS" ] && n=$FLOWS; echo $n; }

# step TOOL RATE: one rate step. A tool that took nothing at all had a
# set-up problem (seen once with nfacctd), not a loss: once more then.
step() {
    run_udp "$1" "$2" "$(steps "$2")" ""
    if [ $OK = 0 ] && [ "${REC:-0}" = 0 ]; then
        say "($1 took nothing: the step once more)"
        run_udp "$1" "$2" "$(steps "$2")" ""
    fi
}

# rate_sent RATE: the rate of the step just run: the one asked for, as
# every tool gets the same ones, unless the sender fell short of it
rate_sent() { if [ "$ACH" -lt $(( $1 * 97 / 100 )) ]; then echo "$ACH"; else echo "$1"; fi; }

# search TOOL: highest loss-free rate, by doubling then bisecting. Sets
# BEST_<tool> (the rate asked for), SEARCH_<tool> (the rate sent), BOUND_<tool>
# (1 when the sender could not go faster).
search() {
    local tool=$1 r=$START_RATE lo=0 hi=0 lo_ach=0 bound=0 n
    say ""
    say "== $tool: highest loss-free UDP rate =="
    while :; do
        step "$tool" "$r"
        if [ $OK = 1 ]; then
            lo=$r lo_ach=$(rate_sent "$r")
            if [ "$ACH" -lt $(( r * 97 / 100 )) ]; then bound=1; break; fi
            r=$(( r * 2 ))
            [ $r -gt "$MAX_RATE" ] && break
        else
            hi=$r
            [ $lo -gt 0 ] && break
            r=$(( r / 2 ))
            [ $r -lt 10000 ] && break
        fi
    done
    local i=0
    while [ $lo -gt 0 ] && [ $hi -gt 0 ] && [ $i -lt "$BISECT" ]; do
        if [ "$(elapsed)" -gt "$TIME_LIMIT" ]; then
            say "(time limit: bisection of $tool stopped)"; break
        fi
        r=$(( (lo + hi) / 2 / 1000 * 1000 ))
        [ $r -le $lo ] && break
        step "$tool" "$r"
        if [ $OK = 1 ]; then lo=$r lo_ach=$(rate_sent "$r"); else hi=$r; fi
        i=$((i + 1))
    done
    printf -v "BEST_$tool" %d $lo
    printf -v "SEARCH_$tool" %d $lo_ach
    printf -v "BOUND_$tool" %d $bound
    say "$tool: highest loss-free rate in $STEP_S s steps: $lo_ach flows/s$([ $bound = 1 ] && echo ' (the sender could not go faster)')"
}

# full TOOL: the whole stream (at most LONG_S seconds of it) at the rate
# the search found, with the per-source check. Ten-second steps do not
# hold everything a tool does now and then: nfacctd's purges of 100k
# entries into its files, nfcapd's file rotation, and above all the close
# of flowsqld's one-minute windows, which only costs what it costs once a
# window holds a whole minute of flows; a run of LONG_S (130) seconds
# always holds one whole minute, closed. So the rate that counts is the
# one this run passes. When it loses: 15% lower, or half when a run lasts
# a minute or more (flowsqld with every saved query: the time limit would
# allow few 15% steps); after a pass below a loss more than 25% higher,
# the midpoint once. At most CONFIRM runs, none started past TIME_LIMIT.
# Sets BESTACH_ (0 if none passed), TRIED_ (the lowest rate that lost),
# and CPUM_, HWM_, AGREE_, FULLOK_, STORET_, OV_, N_<tool> of the run
# that counts (the highest pass, else the last run).
full() {
    local tool=$1 rate tries=0 n fail=0 pass=0 keep=""
    rate=$(v "BEST_$tool")
    if [ -z "$rate" ] || [ "$rate" -le 0 ]; then
        say "$tool: no loss-free rate, no whole-stream run"; return
    fi
    say ""
    while :; do
        n=$(( rate * LONG_S )); [ $n -gt "$FLOWS" ] && n=$FLOWS
        say "== $tool: $([ $n = "$FLOWS" ] && echo "the whole stream ($n flows)" || echo "the first $LONG_S s of the stream ($n flows)") at $rate flows/s =="
        run_udp "$tool" "$rate" "$n" 1
        tries=$((tries + 1))
        if [ $OK = 1 ]; then
            pass=$rate
            keep="$(rate_sent "$rate") $n $CPUM $HWM $STORE_T ${OV:-0}|$AGREE"
        else
            fail=$rate
        fi
        # CONFIRM tries once one passed; twice that while none has, so a
        # noisy peer still gets a rate rather than none
        [ $tries -ge "$CONFIRM" ] && [ $pass -gt 0 ] && break
        [ $tries -ge $((CONFIRM * 2)) ] && break
        [ "$(elapsed)" -gt "$TIME_LIMIT" ] && { say "(time limit: no more runs of $tool)"; break; }
        if [ $pass -gt 0 ]; then
            # a pass: refine once if the loss above is far
            [ $fail -gt 0 ] && [ $((pass * 4)) -lt $((fail * 3)) ] || break
            [ "$rate" = "$pass" ] || break     # refined already
            rate=$(( (pass + fail) / 2 / 1000 * 1000 ))
        elif fcmp "$n / $rate >= 60"; then
            rate=$(( rate / 2 / 1000 * 1000 ))
        else
            rate=$(( rate * 85 / 100 / 1000 * 1000 ))
        fi
    done
    [ $pass = 0 ] && say "$tool: no rate passed (lowest tried $fail flows/s)"
    printf -v "TRIED_$tool" %d "$fail"
    printf -v "FULLOK_$tool" %d "$([ $pass -gt 0 ] && echo 1 || echo 0)"
    if [ $pass -gt 0 ]; then
        local a
        read -r a n CPUM HWM STORE_T OV <<<"${keep%%|*}"
        AGREE=${keep#*|}
        printf -v "BESTACH_$tool" %d "$a"
    else
        printf -v "BESTACH_$tool" %d 0
    fi
    printf -v "N_$tool" %d "$n"
    printf -v "CPUM_$tool" %s "$CPUM"
    printf -v "HWM_$tool" %s "$HWM"
    printf -v "AGREE_$tool" %s "$AGREE"
    printf -v "STORET_$tool" %s "$STORE_T"
    printf -v "OV_$tool" %s "${OV:-0}"
}

say "bench-peers: $(date -u +%FT%TZ), $(nproc) cores, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}'), load $(cut -d' ' -f1-3 /proc/loadavg)"
say "stream: $FLOWS flows, $SOURCES sources, seed $SEED; steps of $STEP_S s of traffic from $START_RATE flows/s; receive buffer $RCVBUF bytes for every tool"

for tool in $TOOLS; do
    search "$tool"
done
for tool in $TOOLS; do
    full "$tool"
done
if [ "${PEERS_UDP_ONLY:-0}" = 1 ]; then
    for tool in $TOOLS; do
        say "$tool: loss-free in $STEP_S s steps $(v "SEARCH_$tool") flows/s; whole-stream run $(v "BESTACH_$tool") flows/s (lowest loss $(v "TRIED_$tool"))"
    done
    exit 0
fi

# ---- the file path ----------------------------------------------------------

# flowsqld --read over the stream file, best of two runs (the file read
# once before, so both come from the page cache, as nfdump's do).
say ""
say "== flowsqld --read: the design-card query over the stream file =="
cat "$STREAM" >/dev/null
mkdir -p "$RUN/read/q"
echo "$DESIGN_SQL" >"$RUN/read/q/design_card.sql"
RD_WALL=0
for k in 1 2; do
    rm -rf "$RUN/read/data"
    $PS run "$RUN/read/stat" -- "$FLOWSQLD" --read "$STREAM" --queries-dir "$RUN/read/q" \
        --data-dir "$RUN/read/data" --http off >"$RUN/read/out.json" 2>"$RUN/read/log"
    read -r w c r rc <"$RUN/read/stat"
    say "run $k: $w s wall, $c s cpu, peak $((r / 1024)) MB, exit $rc"
    if [ "$RD_WALL" = 0 ] || fcmp "$w < $RD_WALL"; then
        RD_WALL=$w RD_CPU=$c RD_RSS=$((r / 1024))
    fi
done
jq -r '.rows[] | "\(.srcip) \(.flows) \(.packets) \(.bytes)"' "$RUN/read/out.json" |
    awk '{ f[$1] += $2; p[$1] += $3; b[$1] += $4 } END { for (k in f) print k, f[k], p[k], b[k] }' |
    sort >"$RUN/read/got"
sort "$TRUTH" >"$RUN/truth.sorted"
AGREE_read=$(compare "$RUN/read/got" "$RUN/truth.sorted")
say "flowsqld --read: $FLOWS flows in $RD_WALL s ($(fcalc "$FLOWS / $RD_WALL / 1e6") M flows/s), per-source $AGREE_read"

# The UDP runs sent the same records as the file: their truth is the file's.
for tool in $TOOLS; do
    [ -s "$OUT/log/$tool.per-source" ] || continue
    if cmp -s "$OUT/log/$tool.per-source" "$RUN/truth.sorted"; then
        say "$tool's per-source answer over UDP equals the file's truth"
    fi
done

# ---- where flowsqld's time goes ----------------------------------------------

# profile TOOL: perf record (cpu-clock) of the tool under 5 s of UDP load
# at its loss-free rate. There are no frame pointers in the build or in
# libfixbuf, hence DWARF call chains.
profile() {
    local tool=$1 rate dir n
    rate=$(v "BESTACH_$tool")
    [ -n "$rate" ] && [ "$rate" -gt 0 ] || rate=$(v "TRIED_$tool")
    [ -n "$rate" ] && [ "$rate" -gt 0 ] || return
    say ""
    say "== profile: $tool at $rate flows/s, perf record -e cpu-clock =="
    dir=$RUN/profile-$tool
    start_tool "$tool" "$dir" || return
    n=$(( rate * 5 )); [ $n -gt "$FLOWS" ] && n=$FLOWS
    perf record -q -e cpu-clock -F 299 --call-graph dwarf,16384 -p "$TPID" \
        -o "$dir/perf.data" 2>"$dir/perf.log" &
    PERF=$!
    PIDS="$PIDS $PERF"
    sleep 0.5
    "$FLOWGEN" --udp "127.0.0.1:$PORT" --flows "$n" --rate "$rate" $GENOPTS 2>/dev/null
    drain "$tool"
    kill -INT "$PERF"; wait "$PERF" 2>/dev/null
    stop_tool "$tool"
    rep() { perf report -i "$dir/perf.data" --stdio "$@" 2>/dev/null | grep -v '^#' | grep -v '^$'; }
    {
        echo "-- by thread (ingest_main: the receive thread; engine_main: the engine):"
        rep --no-children --sort pid -g none | head -8
        echo "-- by thread and library:"
        rep --no-children --sort pid,dso -g none | head -14
        echo "-- inclusive (time in the function and what it calls):"
        rep --children --sort sym -g none | head -70
        echo "-- self:"
        rep --no-children --sort dso,sym -g none | head -40
    } >"$OUT/log/profile-$tool.txt"
    rm -f "$dir/perf.data"
    say "profile: $OUT/log/profile-$tool.txt"
    head -24 "$OUT/log/profile-$tool.txt" | tee -a "$LOG"
}

if [ "$PROFILE" = 1 ] && command -v perf >/dev/null; then
    for tool in $TOOLS; do
        case $tool in flowsqld*) profile "$tool" ;; esac
    done
fi

# ---- the table ------------------------------------------------------------------

rate_of() { local r; r=$(v "BESTACH_$1"); [ -n "$r" ] && [ "$r" -gt 0 ] && echo "$r" || echo 0; }
fmt_rate() { [ "$1" -gt 0 ] 2>/dev/null && echo "$(fcalc "$1 / 1e6") M" || echo "none"; }
ratio() { [ "$2" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }' || echo "-"; }
full_note() { # TOOL: how the whole-stream run went
    local ok agree ov
    ok=$(v "FULLOK_$1"); agree=$(v "AGREE_$1"); ov=$(v "OV_$1")
    [ -z "$ok" ] && { echo "-"; return; }
    local n f
    n=$(v "N_$1"); f=$(v "TRIED_$1")
    [ "$n" = "$FLOWS" ] && n="whole stream" || n="first $n flows"
    if [ "$ok" = 1 ]; then
        echo -n "$n loss-free, $agree"
        [ -n "$f" ] && [ "$f" != 0 ] && echo -n "; lost records at $(fmt_rate "$f")"
    else echo -n "LOST records even at $(fmt_rate "$f")"; fi
    [ -n "$ov" ] && [ "$ov" != 0 ] && echo -n "; $ov flows over the max_groups cap of the host-pair queries"
    echo
}
search_note() { # TOOL: the 10 s search's rate when the whole stream needed less
    local s b
    s=$(v "SEARCH_$1"); b=$(v "BESTACH_$1")
    [ -n "$s" ] && [ "$s" != "${b:-0}" ] && echo -n " ($(fmt_rate "$s") in ${STEP_S} s steps)"
    [ "$(v "BOUND_$1")" = 1 ] && echo -n " (sender-bound)"
    return 0
}
R1=$(rate_of flowsqld) R2=$(rate_of nfacctd) R3=$(rate_of nfcapd) R4=$(rate_of flowsqld_all)
ST3=${STORET_nfcapd:-0}
E2E=$(fcalc "$ST3 + ${NFD_WALL:-0}")
TABLE=$OUT/table.md
{
echo "| tool | mode | highest loss-free flows/s (whole stream, at most ${LONG_S} s of it) | CPU s per M flows | peak memory | flowsqld's ratio | that run: per-source answer |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
echo "| flowsqld | UDP, design card (count, sum(packets), sum(bytes) by srcip, WINDOW 10s) | $(fmt_rate "$R1")$(search_note flowsqld) | $(v CPUM_flowsqld) | $(v HWM_flowsqld) MB | 1 | $(full_note flowsqld) |"
echo "| flowsqld | UDP, all $(ls queries/*.sql | wc -l) saved queries | $(fmt_rate "$R4")$(search_note flowsqld_all) | $(v CPUM_flowsqld_all) | $(v HWM_flowsqld_all) MB | - | $(full_note flowsqld_all) |"
echo "| nfcapd 1.7 | UDP, store only (computes nothing) | $(fmt_rate "$R3")$(search_note nfcapd) | $(v CPUM_nfcapd) | $(v HWM_nfcapd) MB | $(ratio "$R1" "$R3") | $(full_note nfcapd) |"
echo "| nfacctd 1.7 | UDP, print plugin by src_host, every 10 s | $(fmt_rate "$R2")$(search_note nfacctd) | $(v CPUM_nfacctd) | $(v HWM_nfacctd) MB | $(ratio "$R1" "$R2") | $(full_note nfacctd) |"
echo "| flowsqld | file: --read, design card | $(fmt_rate "$(fint "$FLOWS / $RD_WALL")") end to end ($RD_WALL s) | $(fcalc "$RD_CPU / ($FLOWS / 1e6)") | $RD_RSS MB | 1 | $AGREE_read |"
if [ -n "${NFD_WALL:-}" ]; then
echo "| nfcapd + nfdump | file: nfcapd stores the stream at its loss-free rate ($ST3 s), nfdump -A srcip ($NFD_WALL s) | $(fmt_rate "$(fint "$FLOWS / $E2E")") end to end ($E2E s) | $(fcalc "((${CPUM_nfcapd:-0}) * $FLOWS / 1e6 + $NFD_CPU) / ($FLOWS / 1e6)") | max(${HWM_nfcapd:-?}, $NFD_RSS) MB | $(ratio "$E2E" "$RD_WALL") | $(full_note nfcapd) |"
echo "| nfdump -A srcip alone | file: nfcapd's store ($((NFD_BYTES / 1024)) MB) | $(fmt_rate "$(fint "$FLOWS / $NFD_WALL")") ($NFD_WALL s) | $(fcalc "$NFD_CPU / ($FLOWS / 1e6)") | $NFD_RSS MB | $(ratio "$NFD_WALL" "$RD_WALL") | (above) |"
fi
} >"$TABLE"

say ""
say "== side by side: $FLOWS flows over $SOURCES sources (seed $SEED), $(nproc) cores, load at the end $(cut -d' ' -f1-3 /proc/loadavg), $(elapsed) s =="
tee -a "$LOG" <"$TABLE"
say ""
say "flowsqld's ratio: its loss-free UDP rate over the peer's; for the file rows, the peer's time over flowsqld's."
say ""
say "targets (issue 10):"
# target TEXT MET [PEER_RATE]: a comparison with a peer that had no
# loss-free rate in this run is not decided either way
target() {
    if [ $# -ge 3 ] && [ "${3:-0}" -le 0 ]; then say "  UNDECIDED (the peer had no loss-free rate in this run): $1"
    elif [ "$2" = 1 ]; then say "  met:    $1"; else say "  MISSED: $1"; fi
}
target "flowsqld >= nfcapd's loss-free UDP rate ($(fmt_rate "$R1") vs $(fmt_rate "$R3"))" \
    "$([ "$R1" -gt 0 ] && [ "$R1" -ge "$R3" ] && echo 1)" "$R3"
target "flowsqld >= 10x nfacctd's loss-free UDP rate ($(fmt_rate "$R1") vs 10 x $(fmt_rate "$R2"))" \
    "$([ "$R1" -gt 0 ] && [ "$R1" -ge $((R2 * 10)) ] && echo 1)" "$R2"
target "flowsqld's file path faster than nfcapd + nfdump (${RD_WALL} s vs ${E2E} s)" \
    "$(fcmp "$RD_WALL < $E2E && $E2E > ${NFD_WALL:-0}" && echo 1)"
target "all saved queries >= 1 M flows/s loss-free over UDP ($(fmt_rate "$R4"))" \
    "$([ "$R4" -ge 1000000 ] && echo 1)"
say ""
say "log: $LOG; table: $TABLE"
