#!/bin/sh
# tests/run.sh BUILD_DIR [SANITIZER_BUILD_DIR...]
#
# Runs every unit test binary of each build directory, then every
# end-to-end script in tests/e2e/ (against the first build directory),
# then, against a ThreadSanitizer build (a directory whose name ends in
# "tsan", made with make TSAN=1), the e2e scripts of TSAN_E2E: the whole
# daemon under TSan. Each program prints "ok - name" / "not ok - name"
# lines; a program that exits non-zero without reporting a failure (a
# crash, a sanitizer report) counts as one failure. Ends with
# "N passed, N failed".
#
# FLOWSQL_TESTS=pattern runs only the programs whose name matches.

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
[ $# -ge 1 ] || { echo "usage: tests/run.sh BUILD [ASAN_BUILD]" >&2; exit 2; }
main_build=$1
pass=0
fail=0
log=$(mktemp -d /tmp/flowsql-tests.XXXXXX)

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# The first race ends the program (status 66); tests/tsan/suppressions.txt
# lists the races inside other projects' libraries, each with its reason.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$top/tests/tsan/suppressions.txt"
TSAN_E2E="tests/e2e/daemon.sh tests/e2e/reload.sh tests/e2e/pcap_dir.sh tests/e2e/pcap_if.sh"
# the engine's helper threads (--engine-threads 2 and 4)
TSAN_E2E="$TSAN_E2E tests/e2e/threads.sh"

run_one() { # label command...
    label=$1; shift
    case "$label" in *${FLOWSQL_TESTS:-}*) ;; *) return ;; esac
    out=$log/$(echo "$label" | tr '/ ' '__').out
    start=$(date +%s)
    "$@" >"$out" 2>"$out.err"
    status=$?
    secs=$(( $(date +%s) - start ))
    p=$(grep -c '^ok ' "$out")
    f=$(grep -c '^not ok ' "$out")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $label exited with status $status" >>"$out"
        f=$((f + 1))
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $label reported no results" >>"$out"
        f=1
    fi
    pass=$((pass + p))
    fail=$((fail + f))
    printf '%-40s %4d passed %3d failed %4ds\n' "$label" "$p" "$f" "$secs"
    if [ "$f" -ne 0 ]; then
        grep '^not ok' "$out" | sed 's/^/    /'
        tail -n 40 "$out.err" | sed 's/^/    | /'
    fi
}

for build in "$@"; do
    for t in "$build"/tests/test_*; do
        [ -x "$t" ] || continue
        run_one "$build/$(basename "$t")" "$t"
    done
done

for t in tests/e2e/*.sh; do
    [ -f "$t" ] || continue
    [ "$(basename "$t")" = lib.sh ] && continue   # helpers, not a test
    FLOWSQL_BUILD=$top/$main_build run_one "$t" sh "$t"
done

for build in "$@"; do
    case "$build" in *tsan) ;; *) continue ;; esac
    for t in $TSAN_E2E; do
        FLOWSQL_BUILD=$top/$build run_one "$t ($build)" sh "$t"
    done
done

echo "logs in $log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
