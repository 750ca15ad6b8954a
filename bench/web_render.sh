#!/bin/sh
# bench/web_render.sh - the web interface with 100k-row windows, in
# Debian's chromium driven by Playwright (bench/web_render.mjs). `make
# bench-web` runs it (never part of make test; the web test, tests/e2e/
# web.sh, checks the same page once with a bound, this measures it).
#
#   flowsqld (no token, loopback) with two queries: web_big, a row per
#   (srcip, srcport) every 10 s, and host_stats_10s of queries/; flowgen
#   sends WEB_RATE flows/s (12000: 120k flows, about 100k+ rows, per
#   window) from the 65536 addresses of 10.0.0.0/16 for the whole run.
#   The browser follows web_big's page and records, for WEB_WINDOWS
#   windows (6), the time from a window's JSON being parsed to the next
#   paint (table, chart, top 10) and the parse time; then sorting the
#   table by a column and scrolling to its last row; the heatmap of the
#   whole /16 (65536 cells) from the page's opening to its drawing; and
#   the console reading one stored window (100k+ rows) from SQLite.
#
# Settings (environment): B (build), WEB_RATE, WEB_WINDOWS, CHROMIUM
# (/usr/bin/chromium). Prints one line per figure and a summary.
set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
B=${B:-build}
RATE=${WEB_RATE:-12000}
WINDOWS=${WEB_WINDOWS:-6}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

WEB_NODE=$(tests/web/install.sh) || { echo "bench/web_render.sh: tests/web/install.sh failed" >&2; exit 1; }
[ -x "$CHROMIUM" ] || { echo "bench/web_render.sh: no $CHROMIUM (make deps-test)" >&2; exit 1; }

T=$(mktemp -d /tmp/flowsql-bench-web.XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    sleep 0.3
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP=127.0.0.1:$(port)
IPFIX=$(port)
mkdir -p "$T/queries"
cp queries/host_stats_10s.sql "$T/queries/"
"$B/flowsqld" --http "$HTTP" --ipfix-port "$IPFIX" --netflow-port "$(port)" --sflow-port 0 \
    --data-dir "$T/data" --queries-dir "$T/queries" 2>"$T/flowsqld.log" &
PIDS="$PIDS $!"
i=0
until curl -sf "http://$HTTP/api/v1/healthz" >/dev/null; do
    i=$((i + 1))
    [ $i -lt 100 ] || { cat "$T/flowsqld.log" >&2; exit 1; }
    sleep 0.1
done
curl -sf "http://$HTTP/api/v1/queries" -d '{"name": "web_big", "sql": "SELECT srcip, srcport, count(*) AS flows, sum(bytes) AS bytes FROM flows WINDOW 10s GROUP BY srcip, srcport"}' >/dev/null ||
    { echo "bench/web_render.sh: cannot register web_big" >&2; exit 1; }
# enough flows for the whole run: the windows, the heatmap, the console
secs=$(( (WINDOWS + 6) * 10 + 30 ))
"$B/flowgen" --udp "127.0.0.1:$IPFIX" --now --rate "$RATE" --flows $((RATE * secs)) \
    --sources 65536 --src-base 10.0.0.0 --dests 5000 --seed 3 2>"$T/flowgen.log" &
PIDS="$PIDS $!"

echo "web: $(grep -c '^processor' /proc/cpuinfo) cores, $($CHROMIUM --version 2>/dev/null), node $(node --version)"
WEB_NODE=$WEB_NODE BASE="http://$HTTP" WINDOWS=$WINDOWS CHROMIUM=$CHROMIUM \
    timeout $((secs + 120)) node bench/web_render.mjs
st=$?
lost=$(curl -s "http://$HTTP/metrics" | awk '/^flowsql_ingest_queue_drops_total/ {s += $2} END {print s + 0}')
echo "web: flows dropped by the daemon during the run: $lost"
exit $st
