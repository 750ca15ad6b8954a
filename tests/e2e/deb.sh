#!/bin/sh
# deb.sh - `make deb`: the Debian package (debian/rules, debhelper).
#
# Builds it from this build's objects, checks its control fields, its
# file list, its conffiles and its maintainer scripts (dh_installsystemd
# enables and starts flowsqld.service, stops it on removal), then unpacks
# it and runs its flowsqld as the service would: an unprivileged user,
# no capabilities, no new privileges (setpriv), the package's own config
# with the data directory and ports moved into the test's directory.
# Then, as root on a machine where systemd does not run and flowsql is not
# installed, the package is installed with dpkg -i (its postinst runs
# without systemd), its installed flowsqld run as the service would, and
# it is purged: nothing of it may remain. Elsewhere that part is skipped,
# saying why.
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
wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:$HP/healthz"
# /healthz says ok once the saved queries are all loaded (ready.sh)
want=$(ls "$T/root/etc/flowsql/queries" | wc -l)
n=$(curl -s "http://127.0.0.1:$HP/api/v1/queries" | jq '.queries | length')
eq "as the service user: it loads the package's queries" "$n" "$want"
eq "as the service user: its database belongs to it" \
    "$(stat -c %U "$T/state/flowsql.db" 2>/dev/null)" nobody
check "as the service user: no capability" \
    grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$SVC/status"
kill -TERM "$SVC"; wait "$SVC"
eq "as the service user: SIGTERM stops it with status 0" $? 0

# --- installed with dpkg on this machine, then purged ----------------------------
# Only where it touches nothing of anyone's: no systemd running (its
# postinst would start the service for real), no flowsql installed or
# left over. One test run at a time (a lock), and the package is purged
# however the test ends.
why=""
if [ -d /run/systemd/system ]; then why="systemd runs here (the postinst would start flowsqld)"
elif dpkg-query -W flowsql >/dev/null 2>&1; then why="a flowsql package is installed here"
elif [ -e /etc/flowsql ] || [ -e /usr/bin/flowsqld ] || [ -e /var/lib/flowsql ]; then
    why="/etc/flowsql, /usr/bin/flowsqld or /var/lib/flowsql exists"
fi
if [ -n "$why" ]; then
    echo "# SKIP dpkg -i / --purge of the package: $why" >&2
    exit 0
fi
exec 9>/tmp/flowsql-deb-install.lock
flock -w 600 9 || { fail "the dpkg test's lock (/tmp/flowsql-deb-install.lock)"; exit 1; }
if dpkg-query -W flowsql >/dev/null 2>&1; then
    echo "# SKIP dpkg -i: flowsql got installed meanwhile" >&2
    exit 0
fi
INSTALLED=1
purge() {
    [ -n "$INSTALLED" ] && dpkg --purge flowsql >>"$T/dpkg.log" 2>&1
    INSTALLED=""
}
trap 'purge; cleanup' EXIT INT TERM
wants=/etc/systemd/system/multi-user.target.wants/flowsqld.service
if dpkg -i "$deb" >"$T/dpkg.log" 2>&1; then ok "dpkg -i installs the package"
else fail "dpkg -i installs the package" "$(tail -n 8 "$T/dpkg.log")"; fi
eq "its state: installed (the postinst ran and succeeded without systemd)" \
   "$(dpkg-query -W -f '${Status}' flowsql)" "install ok installed"
check "the postinst enabled the unit (deb-systemd-helper's link)" \
    test "$(readlink "$wants")" = /lib/systemd/system/flowsqld.service
eq "every file of the package is on disk, as packed" \
   "$(while read -r f; do [ -e "$f" ] || echo "$f"; done <"$T/files")" ""
eq "dpkg lists them as the package's" \
   "$(dpkg -L flowsql | sort | comm -13 - "$T/files")" ""
dpkg-query -W -f '${Conffiles}\n' flowsql | awk 'NF >= 2 {print $1, $2}' >"$T/conffiles"
eq "the conffiles are the /etc files, with their checksums" \
   "$(awk '{print $1}' "$T/conffiles" | sort | tr '\n' ' ')" \
   "$(grep '^/etc/' "$T/files" | sort | tr '\n' ' ')"
eq "and the files on disk match those checksums" \
   "$(while read -r f sum; do [ "$(md5sum <"$f" | cut -d' ' -f1)" = "$sum" ] || echo "$f"; done <"$T/conffiles")" ""

# The installed daemon as the unit runs it: its config and queries from
# /etc/flowsql (read-only to it), an unprivileged user, no capability;
# only the state directory and ports are the test's.
HP=$(free_port)
mkdir -p "$T/istate"
chown nobody "$T/istate"
setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs \
    --inh-caps=-all --bounding-set=-all \
    /usr/bin/flowsqld --config /etc/flowsql/flowsqld.conf \
    --data-dir "$T/istate" --http "127.0.0.1:$HP" --ipfix-port "$(free_port)" \
    --netflow-port "$(free_port)" --sflow-port "$(free_port)" \
    2>"$T/isvc.log" &
SVC=$!
PIDS="$PIDS $SVC"
wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:$HP/healthz"
eq "installed: /usr/bin/flowsqld runs the queries of /etc/flowsql/queries" \
   "$(curl -s "http://127.0.0.1:$HP/api/v1/queries" | jq '.queries | length')" \
   "$(ls /etc/flowsql/queries/*.sql | wc -l)"
check "installed: the man page is there for man" \
    sh -c 'zcat /usr/share/man/man8/flowsqld.8.gz | grep -q "^\.TH FLOWSQLD 8"'
kill -TERM "$SVC"; wait "$SVC"
eq "installed: SIGTERM stops it with status 0" $? 0

if dpkg --purge flowsql >>"$T/dpkg.log" 2>&1; then ok "dpkg --purge removes it"
else fail "dpkg --purge removes it" "$(tail -n 8 "$T/dpkg.log")"; fi
INSTALLED=""
check "dpkg no longer knows it" sh -c '! dpkg-query -W flowsql >/dev/null 2>&1'
eq "no file of the package is left" \
   "$(while read -r f; do [ -e "$f" ] && echo "$f"; done <"$T/files")" ""
eq "nor /etc/flowsql, /var/lib/flowsql, the unit's link or deb-systemd-helper's state" \
   "$(ls -d /etc/flowsql /var/lib/flowsql "$wants" \
        /var/lib/systemd/deb-systemd-helper-enabled/flowsqld.service.dsh-also \
        /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/flowsqld.service 2>/dev/null)" ""
exit 0
