#!/bin/sh
# deb.sh - `make deb`: the Debian package (debian/rules, debhelper).
#
# Builds it from this build's objects, checks its control fields, its
# file list, its conffiles and its maintainer scripts (dh_installsystemd
# enables and starts flowsqld.service, stops it on removal), then unpacks
# it and runs its flowsqld as the service would: an unprivileged user,
# no capabilities, no new privileges (setpriv), the package's own config
# with the data directory and ports moved into the test's directory. The
# package is not installed on this machine (the test machine's systemd
# does not run: docs/OPERATIONS.md).
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
case "$B" in "$top"/*) mb=${B#"$top"/} ;; *) mb=$B ;; esac

if nice make -s -C "$top" B="$mb" deb >"$T/deb.log" 2>&1
then ok "make deb"
else fail "make deb" "$(tail -n 8 "$T/deb.log")"; exit 1
fi
deb=$(ls "$B"/deb/flowsql_*.deb 2>/dev/null)
eq "one package, named for the version" "$(basename "$deb")" \
    "flowsql_$("$B/flowsqld" --version | cut -d' ' -f2)-1_$(dpkg --print-architecture).deb"
eq "debhelper's scratch files are gone" \
    "$(ls -A "$top/debian" | tr '\n' ' ')" "changelog control rules source "
eq "Package" "$(dpkg-deb -f "$deb" Package)" flowsql
check "Depends on the shared libraries it links" \
    sh -c "dpkg-deb -f '$deb' Depends | grep -q 'libmicrohttpd.*librdkafka'"

dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' | grep -v '/$' | sort >"$T/files"
for f in /usr/bin/flowsqld /usr/bin/flowsql /lib/systemd/system/flowsqld.service \
         /etc/flowsql/flowsqld.conf /etc/flowsql/queries/syn_flood.sql \
         /usr/share/man/man8/flowsqld.8.gz /usr/share/man/man1/flowsql.1.gz \
         /usr/lib/flowsql/flowsql.so; do
    check "the package holds $f" grep -qx "$f" "$T/files"
done
check "the package holds the docs (compressed by dh_compress)" \
    grep -qx '/usr/share/doc/flowsql/OPERATIONS.md.gz' "$T/files"
eq "nothing under /usr/local or /usr/lib/debug" \
    "$(grep -E '^/usr/(local|lib/debug)' "$T/files")" ""

dpkg-deb -e "$deb" "$T/ctl"
check "every file under /etc is a conffile" sh -c \
    "grep '^/etc/' '$T/files' | diff - '$T/ctl/conffiles' >/dev/null"
check "postinst enables flowsqld.service" \
    grep -q "deb-systemd-helper enable 'flowsqld.service'" "$T/ctl/postinst"
check "postinst starts it" grep -q "deb-systemd-invoke \$_dh_action 'flowsqld.service'" "$T/ctl/postinst"
check "prerm stops it" grep -q "deb-systemd-invoke stop 'flowsqld.service'" "$T/ctl/prerm"
check "postrm purges its state" grep -q "deb-systemd-helper purge 'flowsqld.service'" "$T/ctl/postrm"

# Its flowsqld, unpacked, run as the unit runs it: not root, no
# capability, no new privileges, the package's config file.
dpkg-deb -x "$deb" "$T/root"
check "the unit starts /usr/bin/flowsqld with /etc/flowsql/flowsqld.conf" \
    grep -qx 'ExecStart=/usr/bin/flowsqld --config /etc/flowsql/flowsqld.conf' \
    "$T/root/lib/systemd/system/flowsqld.service"
if [ "$(id -u)" != 0 ]; then
    echo "# SKIP running the package's flowsqld as nobody: needs root" >&2
    exit 0
fi
HP=$(free_port)
sed 's/^#\([a-z0-9-]* =\)/\1/' "$T/root/etc/flowsql/flowsqld.conf" >"$T/svc.conf"
cat >>"$T/svc.conf" <<EOC
data-dir    = $T/state
queries-dir = $T/root/etc/flowsql/queries
http        = 127.0.0.1:$HP
ipfix-port  = $(free_port)
netflow-port = $(free_port)
sflow-port  = $(free_port)
EOC
mkdir -p "$T/state"
chmod 0755 "$T"
chown nobody "$T/state"
setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs \
    --inh-caps=-all --bounding-set=-all \
    "$T/root/usr/bin/flowsqld" --config "$T/svc.conf" 2>"$T/svc.log" &
SVC=$!
PIDS="$PIDS $SVC"
i=0
until curl -sf "http://127.0.0.1:$HP/healthz" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
# (/healthz answers before the saved queries are all loaded: wait.)
want=$(ls "$T/root/etc/flowsql/queries" | wc -l)
for i in $(seq 1 50); do
    n=$(curl -s "http://127.0.0.1:$HP/api/v1/queries" | jq '.queries | length')
    [ "$n" = "$want" ] && break
    sleep 0.2
done
eq "as the service user: it loads the package's queries" "$n" "$want"
eq "as the service user: its database belongs to it" \
    "$(stat -c %U "$T/state/flowsql.db" 2>/dev/null)" nobody
check "as the service user: no capability" \
    grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$SVC/status"
kill -TERM "$SVC"; wait "$SVC"
eq "as the service user: SIGTERM stops it with status 0" $? 0
exit 0
