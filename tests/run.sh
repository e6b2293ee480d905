#!/bin/sh
# run.sh -- every suite of `make test`, one TAP stream each, then one line
# "N passed, M failed" over all of them. Exit status 1 when anything failed.
#
# Suites: unit tests (cmocka, also under ASan+UBSan), the conversation files,
# the command line (classify on hostile input, eval floors, a broken pack),
# the outbox against a flaky case server, cases filed in a real Request
# Tracker (tests/rt.sh), kill -9 during many web chats
# (crash safety), the WAL under sustained load with a kill -9 at its
# peak (wal-load), the browser, valgrind, and every fuzz target
# (FUZZ_SECONDS each, default 10; two targets at a time).
cd "$(dirname "$0")/.." || exit 1
OUT=tests/out
mkdir -p "$OUT"
: > "$OUT/all.tap"
suites_failed=""

suite() { # NAME COMMAND...: runs one suite, keeps its TAP, shows failures
    name=$1; shift
    start=$(date +%s)
    "$@" > "$OUT/$name.tap" 2> "$OUT/$name.err"
    rc=$?
    ok=$(grep -c '^ok ' "$OUT/$name.tap")
    bad=$(grep -c '^not ok ' "$OUT/$name.tap")
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        # a suite that died without saying which check failed counts as one failure
        echo "not ok - $name exited with status $rc" >> "$OUT/$name.tap"
        bad=1
    fi
    if [ "$ok" -eq 0 ] && [ "$bad" -eq 0 ]; then
        echo "not ok - $name ran no test" >> "$OUT/$name.tap"
        bad=1
    fi
    printf '%-28s %4d passed, %d failed (%ss)\n' "$name" "$ok" "$bad" "$(( $(date +%s) - start ))"
    if [ "$bad" -gt 0 ]; then
        grep -A3 '^not ok' "$OUT/$name.tap" | head -40 | sed 's/^/    /'
        tail -5 "$OUT/$name.err" | sed 's/^/    stderr: /'
        suites_failed="$suites_failed $name"
    fi
    sed "s/^/[$name] /" "$OUT/$name.tap" >> "$OUT/all.tap"
}

units() { # BUILD_DIR
    rc=0
    for t in "$1"/tests/test_*; do
        [ -x "$t" ] || continue
        case "$t" in *.d) continue;; esac
        CMOCKA_MESSAGE_OUTPUT=TAP PROVBOT_BIN="$1/provbot" "$t" || rc=1
    done
    return $rc
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
# one trained model for every bot the suites start (each in a fresh data
# folder would train its own); the cache itself is tested in tests/unit
export PROVBOT_MODEL_CACHE="$PWD/$OUT/model-cache"
mkdir -p "$PROVBOT_MODEL_CACHE"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

suite unit units build
suite unit-asan units build-asan
suite conversations build/tools/convtest build/provbot tests/conv/*.conv
suite conversations-asan build/tools/convtest build-asan/provbot tests/conv/*.conv
suite cli sh tests/cli.sh build/provbot
suite cli-asan sh tests/cli.sh build-asan/provbot
suite eval sh tests/eval.sh build/provbot
suite outbox sh tests/outbox.sh build/provbot
suite rt sh tests/rt.sh build/provbot
suite crash-safety python3 tests/crash_safety.py build/provbot 24 6
suite wal-load python3 tests/wal_load.py build/provbot build/bench/ws_load
suite security python3 tests/security.py build/provbot
suite webex sh tests/webex.sh build/provbot
suite browser sh tests/browser/run.sh
suite valgrind sh tests/valgrind.sh
suite fuzz sh tests/fuzz.sh "${FUZZ_SECONDS:-10}"

passed=$(grep -c '\] ok ' "$OUT/all.tap")
failed=$(grep -c '\] not ok ' "$OUT/all.tap")
[ -n "$suites_failed" ] && echo "failed suites:$suites_failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
