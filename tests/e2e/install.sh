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

# The file list: binaries, man pages, the sample config and the saved
# queries (shipped under share/, active under /etc), docs.
(cd "$D" && find . -type f -o -type l) | sed 's|^\./|/|' | sort >"$T/files"
{
    echo /usr/local/bin/flowsql
    echo /usr/local/bin/flowsqld
    echo /usr/local/share/man/man1/flowsql.1
    echo /usr/local/share/man/man8/flowsqld.8
    echo /usr/local/share/flowsql/flowsqld.conf
    echo /etc/flowsql/flowsqld.conf
    echo /usr/local/lib/systemd/system/flowsqld.service
    echo /usr/local/lib/flowsql/flowsql.so
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

# The man pages: rendered without a warning, and every option of --help
# there with the same text (and default).
for page in man1/flowsql.1 man8/flowsqld.8; do
    w=$(LC_ALL=C MANWIDTH=80 man --warnings -l "$D/usr/local/share/man/$page" 2>&1 >/dev/null)
    eq "man -l $page renders without warnings" "$w" ""
done
LC_ALL=C MANWIDTH=80 man -l "$D/usr/local/share/man/man8/flowsqld.8" \
    2>/dev/null >"$T/flowsqld.man"
LC_ALL=C MANWIDTH=80 man -l "$D/usr/local/share/man/man1/flowsql.1" \
    2>/dev/null >"$T/flowsql.man"
for c in "" replay history export; do
    "$D/usr/local/bin/flowsql" $c --help
done >"$T/flowsql.help"
missing=$(python3 - "$T/help.inst" "$T/flowsqld.man" "$T/flowsql.help" \
                    "$T/flowsql.man" <<'EOP'
import re, sys
def flat(s): return " ".join(s.split())
def items(text):
    """each option of a --help text: its head and its whole help"""
    out, cur = [], None
    for line in text.splitlines():
        m = re.match(r"  (-\S.*?)  +(.*)$", line)
        if m:
            cur = [m.group(1), m.group(2)]; out.append(cur)
        elif cur and re.match(r" {6,}\S", line):
            cur[1] += " " + line.strip()
        else:
            cur = None
    return out
bad = []
for helpf, manf, daemon in ((sys.argv[1], sys.argv[2], 1),
                            (sys.argv[3], sys.argv[4], 0)):
    man = flat(open(manf).read())
    opts = items(open(helpf).read())
    if len(opts) < 10: bad.append("%s: only %d options" % (helpf, len(opts)))
    for head, text in opts:
        if daemon:    # flowsqld: the default [X] is "Default: X" in the page
            m = re.match(r"(.*) \[([^][]*)\]$", text)
            if m: text = m.group(1) + " Default: " + m.group(2)
        if flat(head + " " + text) not in man: bad.append(head)
print(" ".join(bad))
EOP
)
eq "every option of --help is in the man pages, with its text" "$missing" ""

# The sample config: every option (but --config) with its default,
# commented out; with every line uncommented flowsqld takes it as is.
grep -o -- '^  --[a-z0-9-]*=' "$T/help.inst" | sed 's/^  --//; s/=$//' | \
    grep -vx config | sort >"$T/o.help"
grep -o '^#[a-z0-9-]* =' "$D/etc/flowsql/flowsqld.conf" | \
    sed 's/^#//; s/ =$//' | sort >"$T/o.conf"
eq "the sample config has every option" "$(comm -3 "$T/o.help" "$T/o.conf" | tr -d '\t' | tr '\n' ' ')" ""
check "the sample config shows the defaults" \
    grep -qx '#data-dir = /var/lib/flowsql' "$D/etc/flowsql/flowsqld.conf"

# The installed daemon, with the sample config uncommented and settings
# pointing into the DESTDIR after it (a later line wins).
HP=$(free_port)
sed 's/^#\([a-z0-9-]* =\)/\1/' "$D/etc/flowsql/flowsqld.conf" >"$T/test.conf"
cat >>"$T/test.conf" <<EOC
data-dir    = $D/var/lib/flowsql
queries-dir = $D/etc/flowsql/queries
http        = 127.0.0.1:$HP
ipfix-port  = $(free_port)
netflow-port = $(free_port)
sflow-port  = $(free_port)
archive     = off
EOC
# Its stderr as systemd's journal would be (JOURNAL_STREAM names it):
# each line starts with its level as <N>, and an unloadable query file
# makes an error line.
echo "hello" >"$D/etc/flowsql/queries/zz_bad.sql"
: >"$T/d.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/d.log") \
    "$D/usr/local/bin/flowsqld" --config "$T/test.conf" 2>>"$T/d.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:$HP/healthz"
# /healthz says ok once the saved queries are all loaded (ready.sh)
want=$(ls "$top"/queries/*.sql | wc -l)
n=$(curl -s "http://127.0.0.1:$HP/api/v1/queries" | jq '.queries | length')
eq "the installed flowsqld, the sample config: the installed queries" "$n" "$want"
check "its database is in the configured data dir" \
    test -f "$D/var/lib/flowsql/flowsql.db"
kill -TERM $DPID; wait $DPID
eq "it stops with status 0 on SIGTERM" $? 0
rm -rf "$D/var/lib/flowsql"     # the daemon's data, not make install's
rm "$D/etc/flowsql/queries/zz_bad.sql"
check "journal: info lines start <6>" grep -q '^<6>INFO  main: ' "$T/d.log"
check "journal: error lines start <3>" \
    grep -q '^<3>ERROR queries: .*zz_bad.sql: not a statement' "$T/d.log"
eq "journal: every line has a level, none a time" \
    "$(grep -cv '^<[3467]>' "$T/d.log")" 0
# Without JOURNAL_STREAM (or when stderr is not that stream), lines keep
# their time.
: >"$T/plain.log"
JOURNAL_STREAM=1:2 "$D/usr/local/bin/flowsqld" --config "$T/test.conf" \
    --read /nonexistent 2>>"$T/plain.log"
check "not the journal: lines keep their time" \
    grep -q '^20[0-9-]*T[0-9:.]*Z ERROR main: ' "$T/plain.log"
rm -rf "$D/var/lib/flowsql"

# The systemd unit, installed for real under a temporary PREFIX (so the
# program it starts exists): systemd-analyze verifies it, and its
# sandbox's exposure stays low (systemd-analyze security, offline).
if command -v systemd-analyze >/dev/null 2>&1; then
    P=$T/prefix
    nice make -s -C "$top" B="$mb" PREFIX="$P" SYSCONFDIR="$P/etc" \
        LOCALSTATEDIR="$P/var" install >"$T/pinstall.log" 2>&1
    u=$P/lib/systemd/system/flowsqld.service
    check "the unit starts the installed flowsqld with the config" \
        grep -qx "ExecStart=$P/bin/flowsqld --config $P/etc/flowsql/flowsqld.conf" "$u"
    v=$(MANPATH=$P/share/man systemd-analyze verify "$u" 2>&1)
    eq "systemd-analyze verify flowsqld.service" "$v" ""
    systemd-analyze security --offline=yes --threshold=20 "$u" >"$T/sec" 2>&1
    eq "systemd-analyze security: exposure at most 2.0" $? 0 
    grep 'Overall exposure' "$T/sec" >&2
    for k in DynamicUser=yes StateDirectory=flowsql ConfigurationDirectory=flowsql \
             ProtectSystem=strict NoNewPrivileges=yes CapabilityBoundingSet= \
             'ExecReload=/bin/kill -HUP $MAINPID'; do
        check "the unit has $k" grep -qx "$k" "$u"
    done
else
    echo "# SKIP systemd unit checks: no systemd-analyze" >&2
fi

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
