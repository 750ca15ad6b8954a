#!/bin/sh
# The web interface (docs/WEB.md): flowsqld serves it at / and /ui/
# without the token (its files hold no data) while the API keeps asking
# for it; then every page in a real browser (tests/web/web.test.mjs:
# Playwright driving Debian's chromium, headless) against the daemon with
# the saved queries, fed by flowgen (1000 hosts), v5craft (a busy host,
# 10.0.77.7, and a SYN flood toward 10.0.66.6). Screenshots go to
# $FLOWSQL_WEB_SHOTS (make web-shots sets docs/web). First, on a daemon
# without a token, that another site's page may not act on the API (CSRF).
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

code() { curl -s -o "$T/got" -w '%{http_code}' "$@"; }

# ---- another site's page may not act on the API (CSRF) ---------------------------
# As `make run` starts it: loopback, no token. A page of another site can
# POST here without a preflight (a form, a no-cors fetch with a text/plain
# body); its browser sends Origin. Refused, 403; the web interface's own
# requests (Origin = Host), a proxy's (X-Forwarded-Host) and clients that
# send no Origin (curl, the shell) pass.
TOKEN= HEALTH_TOKEN= start_flowsqld || exit 1
Q='{"name": "csrf", "sql": "SELECT srcip, count(*) AS flows FROM flows WINDOW 10s GROUP BY srcip"}'
post() { curl -s -o "$T/got" -w '%{http_code}' -H 'Content-Type: text/plain' "$@" -d "$Q" "http://$HTTP/api/v1/queries"; }
eq "a POST from another site's page (Origin http://evil.example): 403" \
    "$(post -H 'Origin: http://evil.example')" 403
check "... saying why" grep -q 'cross-origin POST refused: Origin http://evil.example is not this daemon' "$T/got"
eq "... and nothing was registered" "$(code "http://$HTTP/api/v1/queries/csrf")" 404
eq "an Origin of \"null\" (a sandboxed page): 403" "$(post -H 'Origin: null')" 403
eq "the same port on another name is another site: 403" "$(post -H "Origin: http://localhost:$HTTP_PORT")" 403
eq "from the daemon's own page (Origin = Host): 201" "$(post -H "Origin: http://$HTTP")" 201
eq "another site's page may not drop it either: 403" \
    "$(code -X DELETE -H 'Origin: http://evil.example' "http://$HTTP/api/v1/queries/csrf")" 403
eq "behind a proxy (Origin = X-Forwarded-Host): 204" \
    "$(code -X DELETE -H 'Origin: https://flows.example' -H 'X-Forwarded-Host: flows.example' "http://$HTTP/api/v1/queries/csrf")" 204
eq "a client that sends no Origin (curl, the shell): 201" "$(post)" 201
eq "a GET from anywhere is answered (it changes nothing; the browser keeps the answer from the other site)" \
    "$(code -H 'Origin: http://evil.example' "http://$HTTP/api/v1/queries/csrf")" 200
stop_flowsqld

rm -rf "$T/run"

# ---- the files, over plain HTTP --------------------------------------------------
TOKEN=web-$$-token
printf '%s\n' "$TOKEN" >"$T/token"
HEALTH_TOKEN=$TOKEN QUERIES_DIR=$top/queries start_flowsqld --api-token-file "$T/token" --archive-flush 1s || exit 1

eq "GET / without the token: the page" "$(code "http://$HTTP/")" 200
check "the page loads its script as a module" grep -q '<script type="module" src="/ui/app.js">' "$T/got"
curl -s -D "$T/head" -o /dev/null "http://$HTTP/"
check "the page has a Content-Security-Policy (scripts from the daemon only)" \
    grep -qi "^Content-Security-Policy: default-src 'self'" "$T/head"
check "the page may not be framed" grep -qi "frame-ancestors 'none'" "$T/head"
eq "the API still wants the token" "$(code "http://$HTTP/api/v1/queries")" 401
eq "a path under /ui/ does not skip the token for the API" \
    "$(code --path-as-is "http://$HTTP/ui/../api/v1/queries")" 404
eq "no such file" "$(code "http://$HTTP/ui/nope.js")" 404
eq "no directory under /ui/" "$(code "http://$HTTP/ui/vendor/uplot/uPlot.min.css")" 404
eq "POST / is refused" "$(code -X POST -d x "http://$HTTP/")" 405
curl -s -D "$T/head405" -o /dev/null -X POST -d x "http://$HTTP/"
check "... with Allow: GET, HEAD" grep -qi '^Allow: GET, HEAD' "$T/head405"
# HEAD: what GET answers, without the body (link checkers, uptime probes)
curl -s -I -o "$T/headonly" "http://$HTTP/"
check "HEAD / answers 200, text/html, with the page's length and no body" \
    sh -c "head -n 1 '$T/headonly' | grep -q ' 200' &&
           grep -qi '^Content-Type: text/html' '$T/headonly' &&
           grep -qi '^Content-Length: $(wc -c <"$top/web/index.html")' '$T/headonly'"
eq "HEAD /ui/app.js: 200" "$(code -I "http://$HTTP/ui/app.js")" 200
same=0; total=0
for f in $(cd "$top" && ls web/*.html web/*.js web/*.css web/*.svg web/vendor/*/*.js web/vendor/*/*.css); do
    total=$((total + 1))
    url=/ui/$(basename "$f")
    [ "$url" = /ui/index.html ] && url=/
    ctype=$(curl -s -o "$T/got" -w '%{content_type}' "http://$HTTP$url")
    case "$f" in
    *.js) want="text/javascript; charset=utf-8" ;;
    *.css) want="text/css; charset=utf-8" ;;
    *.html) want="text/html; charset=utf-8" ;;
    *.svg) want="image/svg+xml" ;;
    esac
    if cmp -s "$T/got" "$top/$f" && [ "$ctype" = "$want" ]; then
        same=$((same + 1))
    else
        echo "  $url: differs from $f or is not $want ($ctype)" >&2
    fi
done
eq "every file of web/ is served as it is, with its type ($total)" "$same" "$total"
etag=$(sed -n 's/^ETag: *//Ip' "$T/head" | tr -d '\r')
eq "unchanged (If-None-Match): 304" "$(code -H "If-None-Match: $etag" "http://$HTTP/")" 304
eq "a stale ETag gets the page" "$(code -H 'If-None-Match: "0-0"' "http://$HTTP/")" 200

# ---- the npm packages, the browser ----------------------------------------------
# make test installed them (make deps-web: tests/web/install.sh, from the
# npm registry, pinned by tests/web/package-lock.json); run alone, this
# installs them. Skipped, said in a SKIP line, only when they are not
# installed and the npm registry cannot be reached at all; any other
# failure to install them is a failure.
if ! WEB_NODE=$("$top/tests/web/install.sh" 2>"$T/npm.err"); then
    if grep -q 'UNREACHABLE' "$T/npm.err"; then
        echo "ok - the browser tests # SKIP: the npm registry is unreachable and tests/web's packages are not installed ($(tail -n 1 "$T/npm.err"))"
        echo "SKIP: tests/e2e/web.sh: the browser tests did not run: the npm registry is unreachable" >&2
        exit 0
    fi
    cat "$T/npm.err" >&2
    fail "install the web tests' npm packages (tests/web/install.sh)"
    exit 1
fi
for f in uPlot.iife.min.js uPlot.min.css; do
    check "web/vendor/uplot/$f is the npm registry's (tests/web/package-lock.json)" \
        cmp -s "$top/web/vendor/uplot/$f" "$WEB_NODE/node_modules/uplot/dist/$f"
done
if [ ! -x "$CHROMIUM" ]; then
    fail "chromium is installed ($CHROMIUM: make deps-test installs it)"
    exit 1
fi
nodev=$(node -e 'console.log(process.versions.node.split(".")[0])' 2>/dev/null)
if [ "${nodev:-0}" -lt 20 ]; then
    fail "Node.js 20 or later (playwright-core needs it; found ${nodev:-none})"
    exit 1
fi

# ---- traffic ------------------------------------------------------------------------
# 1000 hosts of 10.0.0.0/22 at 2000 flows/s (4 min at most)
"$B/flowgen" --udp "127.0.0.1:$IPFIX" --now --rate 2000 --flows 480000 \
    --sources 1000 --seed 1 2>"$T/gen.log" &
PIDS="$PIDS $!"
# the busy host: 150 flows of 20 kB every second, to 150 peers
(
    i=0
    while [ $i -lt 240 ]; do
        echo "10.0.77.7 172.16.9.1 40000 443 6 FSPA 20 20000 150 d" |
            "$B/tools/v5craft" "127.0.0.1:$NETFLOW" --rate 200 2>/dev/null
        sleep 1
        i=$((i + 1))
    done
) &
PIDS="$PIDS $!"
# a SYN flood toward 10.0.66.6: 1500 unanswered SYNs from spoofed sources
echo "198.18.0.1 10.0.66.6 50000 80 6 S 1 40 1500 a" |
    "$B/tools/v5craft" "127.0.0.1:$NETFLOW" --rate 500 2>"$T/craft.log"

# ---- the browser ------------------------------------------------------------------
SHOTS=${FLOWSQL_WEB_SHOTS:-$T/shots}
start=$(date +%s)
WEB_NODE=$WEB_NODE BASE="http://$HTTP" TOKEN=$TOKEN SHOTS=$SHOTS TOP=$top \
    FLOWGEN=$B/flowgen IPFIX_PORT=$IPFIX NETFLOW_PORT=$NETFLOW CHROMIUM=$CHROMIUM \
    BUSY=10.0.77.7 SYN_TARGET=10.0.66.6 \
    timeout 300 node "$top/tests/web/web.test.mjs"
st=$?
echo "# the browser tests took $(( $(date +%s) - start )) s" >&2
# 0: every check passed; 3: some "not ok" above; anything else (node's 1
# for an uncaught error, the timeout's 124) is a failure of its own.
check "the browser tests ran to their end (status $st)" test "$st" -eq 0 -o "$st" -eq 3
stop_flowsqld
check "flowsqld stopped cleanly" test "$STATUS" -eq 0
exit 0
