#!/bin/sh
# install.sh - `make install` into a DESTDIR, the installed flowsqld run
# from there, `make uninstall` (docs/OPERATIONS.md).
#
# Installs with PREFIX=/usr/local into a temporary DESTDIR, checks the
# exact file list, that the installed flowsqld defaults to the installed
# paths (/var/lib/flowsql, /etc/flowsql/queries) while the checkout's
# keeps ./data and ./queries, runs the installed flowsqld with a config
# pointing into the DESTDIR (its shipped queries load, its database is
# made there), then uninstalls and checks nothing is left.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
# make's B: relative to the checkout when the build is in it.
case "$B" in "$top"/*) mb=${B#"$top"/} ;; *) mb=$B ;; esac
D=$T/dest

if nice make -s -C "$top" B="$mb" DESTDIR="$D" install >"$T/install.log" 2>&1
then ok "make install DESTDIR=..."
else fail "make install DESTDIR=..." "$(tail -n 5 "$T/install.log")"; exit 1
fi

# The file list: binaries, saved queries
# (shipped under share/, active under /etc), docs.
(cd "$D" && find . -type f -o -type l) | sed 's|^\./|/|' | sort >"$T/files"
{
    echo /usr/local/bin/flowsql
    echo /usr/local/bin/flowsqld
    for q in "$top"/queries/*.sql; do
        echo "/etc/flowsql/queries/$(basename "$q")"
        echo "/usr/local/share/flowsql/queries/$(basename "$q")"
    done
    for d in "$top"/README.md "$top"/LICENSE "$top"/docs/*.md \
             "$top"/docs/openapi.yaml; do
        echo "/usr/local/share/doc/flowsql/$(basename "$d")"
    done
} | sort >"$T/want"
eq "the installed files are the expected ones" \
    "$(diff "$T/want" "$T/files" | grep '^[<>]' | head -n 5 | tr '\n' ' ')" ""
check "binaries are executable" test -x "$D/usr/local/bin/flowsqld" -a \
    -x "$D/usr/local/bin/flowsql"
check "shipped queries are the checkout's" \
    cmp -s "$top/queries/syn_flood.sql" "$D/etc/flowsql/queries/syn_flood.sql"

# Installed defaults, and the checkout's unchanged.
"$D/usr/local/bin/flowsqld" --help >"$T/help.inst"
"$B/flowsqld" --help >"$T/help.co"
check "installed --data-dir defaults to /var/lib/flowsql" \
    grep -q -- '--data-dir=TEXT .*\[/var/lib/flowsql\]' "$T/help.inst"
check "installed --queries-dir defaults to /etc/flowsql/queries" \
    grep -q -- '--queries-dir=TEXT .*\[/etc/flowsql/queries\]' "$T/help.inst"
check "checkout --data-dir still defaults to ./data" \
    grep -q -- '--data-dir=TEXT .*\[\./data\]' "$T/help.co"
check "checkout --queries-dir still defaults to ./queries" \
    grep -q -- '--queries-dir=TEXT .*\[\./queries\]' "$T/help.co"
eq "installed flowsql --version" "$("$D/usr/local/bin/flowsql" --version)" \
    "$("$B/flowsql" --version)"

# The installed daemon, with a config pointing into the DESTDIR.
HP=$(free_port)
cat >"$T/test.conf" <<EOC
data-dir    = $D/var/lib/flowsql
queries-dir = $D/etc/flowsql/queries
http        = 127.0.0.1:$HP
ipfix-port  = $(free_port)
netflow-port = $(free_port)
sflow-port  = $(free_port)
archive     = off
EOC
"$D/usr/local/bin/flowsqld" --config "$T/test.conf" 2>"$T/d.log" &
DPID=$!
PIDS="$PIDS $DPID"
i=0
until curl -sf "http://127.0.0.1:$HP/healthz" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
n=$(curl -s "http://127.0.0.1:$HP/api/v1/queries" | jq '.queries | length')
eq "the installed flowsqld loads the installed queries" "$n" \
    "$(ls "$top"/queries/*.sql | wc -l)"
check "its database is in the configured data dir" \
    test -f "$D/var/lib/flowsql/flowsql.db"
kill -TERM $DPID; wait $DPID
eq "it stops with status 0 on SIGTERM" $? 0
rm -rf "$D/var/lib/flowsql"     # the daemon's data, not make install's

# An operator's edit of a config file survives make uninstall.
echo "-- mine" >>"$D/etc/flowsql/queries/syn_flood.sql"
nice make -s -C "$top" B="$mb" DESTDIR="$D" uninstall >"$T/uninstall.log" 2>&1
eq "make uninstall" $? 0
eq "uninstall keeps an edited config file" \
    "$(cd "$D" && find . -type f | sed 's|^\./|/|')" \
    /etc/flowsql/queries/syn_flood.sql
rm "$D/etc/flowsql/queries/syn_flood.sql"
nice make -s -C "$top" B="$mb" DESTDIR="$D" uninstall >>"$T/uninstall.log" 2>&1
eq "make uninstall leaves no file, no flowsql directory" \
    "$(cd "$D" && find . \( -type f -o -type l -o -name '*flowsql*' \) | head -n 3)" ""
exit 0
