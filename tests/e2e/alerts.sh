#!/bin/sh
# Alert actions (docs/ALERTS.md) against real receivers on loopback: a
# small HTTP server (python3) that keeps every POST and answers 500 to the
# first two of one path, and rsyslogd (Debian's) listening on UDP and TCP
# and writing what it parsed to a file. Flows are NetFlow v5 from
# tests/tools/v5craft.c; each query reads its own source network.
. "$(dirname "$0")/lib.sh"

command -v rsyslogd >/dev/null || PATH=$PATH:/usr/sbin
if ! command -v rsyslogd >/dev/null; then
    fail "rsyslogd is installed (make deps-test)"
    exit 1
fi

# ---- the webhook receiver ------------------------------------------------
HP=$(free_port)
cat >"$T/hook.py" <<'EOF'
import http.server, sys
out, fail_first = sys.argv[2], int(sys.argv[3])
seen = {}
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        seen[self.path] = seen.get(self.path, 0) + 1
        code = 200
        if self.path == "/gone":
            code = 404
        elif self.path == "/hooks" and seen[self.path] <= fail_first:
            code = 500
        with open(out, "a") as f:
            f.write("%d %s %s\n" % (code, self.path, body.decode()))
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
: >"$T/hook.out"
python3 "$T/hook.py" "$HP" "$T/hook.out" 2 2>"$T/hook.log" &
PIDS="$PIDS $!"

# ---- rsyslogd, unprivileged, in the foreground ---------------------------
UP=$(free_port)
TP=$(free_port)
mkdir -p "$T/rsyslog"
: >"$T/syslog.out"
cat >"$T/rsyslog.conf" <<EOF
global(workDirectory="$T/rsyslog")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="$UP" ruleset="alerts")
input(type="imtcp" address="127.0.0.1" port="$TP" ruleset="alerts")
template(name="fields" type="string"
  string="%inputname%|%pri%|%protocol-version%|%app-name%|%procid%|%msgid%|%hostname%|%timereported:::date-rfc3339%|%structured-data%|%msg%\n")
ruleset(name="alerts") {
  action(type="omfile" file="$T/syslog.out" template="fields")
}
EOF
rsyslogd -n -f "$T/rsyslog.conf" -i "$T/rsyslog.pid" 2>"$T/rsyslog.log" &
PIDS="$PIDS $!"
tcp_up() { python3 -c "import socket; socket.create_connection(('127.0.0.1', $TP), 1)"; }
check "rsyslogd listens" wait_until 10 tcp_up
wait_until 5 curl -s -o /dev/null "http://127.0.0.1:$HP/"

# ---- a query file with alerts to syslog: UDP and TCP ---------------------
# Its note column has the three characters RFC 5424 escapes: " \ ]
mkdir -p "$T/run/queries"
cat >"$T/run/queries/sys.sql" <<EOF
CREATE QUERY sys WITH (alert = 'syslog:udp://127.0.0.1:$UP, syslog:tcp://127.0.0.1:$TP') AS
SELECT srcip, 'say "hi" \\ [x]' AS note, count(*) AS flows
FROM flows WHERE srcip IN 10.3.0.0/24 WINDOW 1s GROUP BY srcip
EOF
start_flowsqld || exit 1

# ---- bad options are refused when the query is made -----------------------
refused() {   # refused NAME WITH_OPTIONS WORDS: 400 and the error says WORDS
    api POST /api/v1/queries "{\"sql\":\"CREATE QUERY bad WITH ($2) AS SELECT count(*) AS n FROM flows WINDOW 1s\"}" >"$T/bad"
    if [ "$CODE" = 400 ] && grep -q "$3" "$T/bad"; then ok "$1"; else fail "$1" "$CODE $(cat "$T/bad")"; fi
}
refused "a target of an unknown kind is refused" "alert = 'mailto:soc@example.com'" "expected webhook:http(s)"
refused "a webhook needs http(s)" "alert = 'webhook:ftp://x/y'" "starts with http:// or https://"
refused "syslog needs a port" "alert = 'syslog:udp://127.0.0.1'" "expected host:port"
refused "syslog needs udp or tcp" "alert = 'syslog:127.0.0.1:514'" "udp:// or tcp://"
refused "a bad alert_every is refused" "alert = 'syslog:udp://h:514', alert_every = 'often'" "alert_every must be a duration"
refused "a bad alert_rate is refused" "alert = 'syslog:udp://h:514', alert_rate = '60 per minute'" "alert_rate must be N/s, N/m or N/h"
refused "alert_rate without alert is refused" "alert_rate = '1/m'" "needs the option alert"

# ---- webhooks -------------------------------------------------------------
mkq() {   # mkq NAME OPTIONS NETWORK
    api POST /api/v1/queries "{\"sql\":\"CREATE QUERY $1 WITH ($2) AS SELECT srcip, count(*) AS flows, sum(bytes) AS bytes FROM flows WHERE srcip IN $3 WINDOW 1s GROUP BY srcip\"}" >/dev/null
    eq "query $1 is made" "$CODE" 201
}
mkq hooks "alert = 'webhook:http://127.0.0.1:$HP/hooks', alert_every = '10m'" 10.1.0.0/24
mkq rated "alert = 'webhook:http://127.0.0.1:$HP/rated', alert_rate = '5/m'" 10.2.0.0/24
mkq gone "alert = 'webhook:http://127.0.0.1:$HP/gone'" 10.4.0.0/24
DEAD=$(free_port)
mkq dead "alert = 'webhook:http://127.0.0.1:$DEAD/nobody', alert_every = '0s'" 10.5.0.0/24

sleep 1      # past the queries' first (partial) window
craft() { "$B/tools/v5craft" "127.0.0.1:$NETFLOW" --rate 500 2>>"$T/craft.log"; }
# Three rounds over three sources for hooks (one alert each, then quiet);
# 20 sources at once for rated (5 pass); one each for gone and dead, and
# two syslog sources.
round() {
    craft <<EOF
10.1.0.1 192.168.0.1 40000 80 6 SA 10 1000 3 a
10.3.0.1 192.168.0.1 40000 80 6 SA 10 1000 2 a
EOF
}
round
craft <<EOF
10.2.0.1 192.168.0.1 40000 80 6 SA 10 1000 20 a
10.4.0.1 192.168.0.1 40000 80 6 SA 10 1000
10.5.0.1 192.168.0.1 40000 80 6 SA 10 1000
EOF
posts() { grep -c "^$1 $2 " "$T/hook.out"; }
three_hooks() { [ "$(posts 200 /hooks)" = 3 ]; }
check "hooks: the three sources' alerts arrive, after two 500s" wait_until 30 three_hooks
eq "hooks: the receiver answered 500 twice" "$(posts 500 /hooks)" 2
grep "^200 /hooks " "$T/hook.out" | cut -d' ' -f3- >"$T/hooks.json"
eq "hooks: one alert per source" \
   "$(jq -r '.key' "$T/hooks.json" | sort | tr '\n' ' ')" "10.1.0.1 10.1.0.2 10.1.0.3 "
eq "hooks: the body has query, window, row, host" \
   "$(jq -r '[.query, (.window_end_ms - .window_start_ms), .row.flows, .row.bytes, (.window_start | test("^[0-9-]+T[0-9:.]+Z$")), (.host | length > 0), has("instance"), .partial] | map(tostring) | join(" ")' "$T/hooks.json" | sort -u)" \
   "hooks 1000 1 1000 true true true false"
eq "hooks: the row's address is the source" \
   "$(jq -r '.row.srcip == .key' "$T/hooks.json" | sort -u)" true

five_rated() { [ "$(posts 200 /rated)" = 5 ]; }
check "rated: five of the twenty sources alert (5/m)" wait_until 20 five_rated
wait_metric flowsql_alerts_rate_limited_total 15 10
eq "rated: the other fifteen are counted as rate limited" \
   "$(metric flowsql_alerts_rate_limited_total)" 15
eq "gone: a 404 is not retried" "$(posts 404 /gone)" 1

# More rounds for hooks: the same keys within alert_every stay quiet.
sleep 1.5
round
sleep 1.5
round
dedup6() { [ "$(metric flowsql_alerts_deduplicated_total)" -ge 6 ]; }
check "hooks: the later windows' rows are deduplicated" wait_until 10 dedup6
sleep 1
eq "hooks: still three alerts" "$(posts 200 /hooks)" 3

# ---- syslog: UDP and TCP, parsed as RFC 5424 by rsyslogd --------------------
n_sys() { [ "$(grep -c "|flowsqld|" "$T/syslog.out")" -ge "$1" ]; }
check "syslog: 4 messages (2 sources over UDP and TCP)" wait_until 20 n_sys 4
eq "syslog: both listeners got them" \
   "$(cut -d'|' -f1 "$T/syslog.out" | sort | uniq -c | awk '{print $1, $2}' | tr '\n' ' ')" \
   "2 imtcp 2 imudp "
eq "syslog: PRI local0.warning, version 1, app-name, procid, msgid" \
   "$(cut -d'|' -f2-6 "$T/syslog.out" | sort -u)" "132|1|flowsqld|$FLOWSQLD|sys"
eq "syslog: the timestamp is RFC 3339" \
   "$(cut -d'|' -f8 "$T/syslog.out" | grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)$')" 0
SD=$(grep imtcp "$T/syslog.out" | grep 10.3.0.1 | cut -d'|' -f9)
case $SD in
'[flowsql@32473 query="sys" window_start="'*'" window_end="'*'" srcip="10.3.0.1" note="say \"hi\" \\ [x\]" flows="1"]')
    ok "syslog: structured data with the row, escaped per RFC 5424" ;;
*)  fail "syslog: structured data with the row, escaped per RFC 5424" "$SD" ;;
esac
eq "syslog: the text names query and key" \
   "$(grep imudp "$T/syslog.out" | cut -d'|' -f10 | sed 's/^ //' | sort | tr '\n' ' ')" \
   "flowsql alert: sys 10.3.0.1 flowsql alert: sys 10.3.0.2 "

# TCP reconnects when the server goes away and comes back.
kill "$(cat "$T/rsyslog.pid")"
sleep 1
rsyslogd -n -f "$T/rsyslog.conf" -i "$T/rsyslog.pid" 2>>"$T/rsyslog.log" &
PIDS="$PIDS $!"
wait_until 10 tcp_up
craft <<EOF
10.3.0.9 192.168.0.1 40000 80 6 SA 10 1000
EOF
tcp_again() { grep -q '^imtcp|.*10\.3\.0\.9' "$T/syslog.out"; }
check "syslog: TCP connects again after rsyslogd restarted" wait_until 20 tcp_again

# ---- a dead receiver: counted as failed after the retries, no hang ---------
failed2() { [ "$(metric flowsql_alerts_failed_total)" -ge 2 ]; }
check "dead: the alert fails after its attempts (and gone's 404)" wait_until 30 failed2
eq "retries counted: hooks' two and dead's four" \
   "$(metric flowsql_alerts_retries_total)" 6
eq "nothing dropped" "$(metric flowsql_alerts_dropped_total)" 0
curl -s "http://$HTTP/metrics" >"$T/metrics"
grep -q '^# TYPE flowsql_alerts_delivered_total counter' "$T/metrics" &&
    ok "metrics have HELP and TYPE" || fail "metrics have HELP and TYPE"
metrics_documented alert "$T/metrics" flowsql_alerts_ "$(pwd)/docs/ALERTS.md"

# A stop while an alert waits for a dead receiver: quick and clean.
craft <<EOF
10.5.0.2 192.168.0.1 40000 80 6 SA 10 1000
EOF
busy() { [ "$(metric flowsql_alerts_queued_total)" -gt "$(($(metric flowsql_alerts_delivered_total) + $(metric flowsql_alerts_failed_total)))" ]; }
wait_until 10 busy
t0=$(date +%s)
stop_flowsqld
eq "clean stop with an alert undeliverable" "$STATUS" 0
took=$(( $(date +%s) - t0 ))
check "the stop took at most 12 s (took $took)" test "$took" -le 12
eq "both of dead's alerts were logged as given up" \
   "$(grep -c "query dead: alert to http://127.0.0.1:$DEAD/nobody given up" "$T/flowsqld.log")" 2
check "gone's 404 was logged" grep -q "query gone: .* given up after 1 attempts: HTTP status 404" "$T/flowsqld.log"

exit $FAILED
