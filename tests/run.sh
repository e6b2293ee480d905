#!/bin/sh
# run.sh -- every suite of `make test`, one TAP stream each, then one line
# "N passed, M failed" over all of them. Exit status 1 when anything failed.
#
# Suites: unit tests (cmocka, also under ASan+UBSan), what single messages
# tell (tests/facts/*.tsv, by tests/tools/facttest.c), the conversation files
# and the answer checks generated from intents/ (tests/conversations.sh), the
# contract's intent catalogue over intents/ (tests/contract_intents.py), the test
# packs of tests/packs/ through the same harness (tests/packs.sh), the
# harness's own check (tests/convtest_self.sh), the command line (classify on
# hostile input, eval floors, a broken pack), the outbox against a flaky case
# server, cases filed in a real Request Tracker (tests/rt.sh), kill -9 during
# many web chats (crash safety), the WAL under sustained load with a kill -9
# at its peak (wal-load), reply latency while the outbox thread purges and
# checkpoints (loop-stall), the threaded suites under ThreadSanitizer, the
# browser, valgrind, and every fuzz target
# (FUZZ_SECONDS each, default 10; two targets at a time).
#
# Every suite runs under timeout(1) with its own limit in minutes, scaled by
# TEST_SLOWDOWN (default 1; CI may set 3); a suite past its limit is killed
# (its whole process group) and counts as a failure: "not ok - NAME timed out".
# RUN_SUITES="conversations cli" runs only the suites named. The suites that
# use only the CPU run two at a time (TEST_LANES workers, default 2), and
# beside them, two at a time, those that mostly wait on servers and fakes;
# those that time things, and the fuzzers, run alone after them
# (TEST_LANES=1: everything one at a time).
cd "$(dirname "$0")/.." || exit 1

units() { # BUILD_DIR
    rc=0
    for t in "$1"/tests/test_*; do
        [ -x "$t" ] || continue
        case "$t" in *.d) continue;; esac
        CMOCKA_MESSAGE_OUTPUT=TAP PROVBOT_BIN="$1/provbot" "$t" || rc=1
    done
    return $rc
}
# `run.sh --units BUILD_DIR`: the unit tests alone (timeout(1) needs a program)
if [ "$1" = --units ]; then units "$2"; exit; fi
OUT=tests/out
mkdir -p "$OUT"
: > "$OUT/all.tap"
rm -f "$OUT"/*.sum "$OUT"/*.bad
suites_failed=""
SLOWDOWN=${TEST_SLOWDOWN:-1}

# run_suite NAME MINUTES COMMAND...: runs one suite, keeps its TAP and its
# summary ($OUT/NAME.sum; $OUT/NAME.bad when it failed). Prints nothing, so
# that two can run at once (lanes below).
run_suite() {
    name=$1; minutes=$2; shift 2
    case " ${RUN_SUITES:-$name} " in *" $name "*) ;; *) return 0;; esac
    limit=$(awk -v m="$minutes" -v s="$SLOWDOWN" 'BEGIN { t = m * 60 * (s > 0 ? s : 1); printf "%d", t < 1 ? 1 : t }')
    start=$(date +%s)
    timeout --kill-after=20 "$limit" "$@" > "$OUT/$name.tap" 2> "$OUT/$name.err"
    rc=$?
    ok=$(grep -c '^ok ' "$OUT/$name.tap")
    bad=$(grep -c '^not ok ' "$OUT/$name.tap")
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "not ok - $name timed out after ${limit}s (limit $minutes min x TEST_SLOWDOWN $SLOWDOWN), killed" >> "$OUT/$name.tap"
        bad=$((bad+1))
    elif [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        # a suite that died without saying which check failed counts as one failure
        echo "not ok - $name exited with status $rc" >> "$OUT/$name.tap"
        bad=1
    fi
    if [ "$ok" -eq 0 ] && [ "$bad" -eq 0 ]; then
        echo "not ok - $name ran no test" >> "$OUT/$name.tap"
        bad=1
    fi
    printf '%-28s %4d passed, %d failed (%ss)\n' "$name" "$ok" "$bad" "$(( $(date +%s) - start ))" > "$OUT/$name.sum"
    if [ "$bad" -gt 0 ]; then
        grep -A3 '^not ok' "$OUT/$name.tap" | head -40 | sed 's/^/    /' >> "$OUT/$name.sum"
        tail -5 "$OUT/$name.err" | sed 's/^/    stderr: /' >> "$OUT/$name.sum"
        : > "$OUT/$name.bad"
    fi
}

# show_suite NAME: prints what run_suite kept and counts it in all.tap.
show_suite() {
    [ -f "$OUT/$1.sum" ] || return 0
    cat "$OUT/$1.sum"
    [ -f "$OUT/$1.bad" ] && suites_failed="$suites_failed $1"
    sed "s/^/[$1] /" "$OUT/$1.tap" >> "$OUT/all.tap"
}

suite() { run_suite "$@"; show_suite "$1"; }   # one at a time

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
# one trained model for every bot the suites start (each in a fresh data
# folder would train its own); the cache itself is tested in tests/unit
export PROVBOT_MODEL_CACHE="$PWD/$OUT/model-cache"
mkdir -p "$PROVBOT_MODEL_CACHE"
# made once, by the plain build, before the suites start: a tenth of a
# second here, where a first start under valgrind, ASan or TSan trains for
# seconds (several at once, as the suites start together)
if [ -x build/provbot ]; then
    build/provbot chat --jsonl --data "$OUT/warm" < /dev/null > /dev/null 2>&1
    rm -rf "$OUT/warm"
fi
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# ThreadSanitizer (build-tsan): the suites where threads meet (the loop, the
# turn pipeline's worker, the Webex worker, the outbox); every report lands
# in $OUT/tsan and fails tsan-reports, which runs after all of them. Set
# before any suite starts, as the TSan suites run beside the others.
rm -rf "$OUT/tsan"
mkdir -p "$OUT/tsan"
export TSAN_OPTIONS="halt_on_error=0 log_path=$PWD/$OUT/tsan/report"

# limits in minutes (at TEST_SLOWDOWN=1): several times a warm run's time
fuzz_targets=$(ls tests/fuzz/fuzz_*.c 2>/dev/null | wc -l)
fuzz_minutes=$(( (fuzz_targets * ${FUZZ_SECONDS:-10} + 59) / 60 + 10 ))

# by_name NAME: runs the suite NAME of the first part (below).
by_name() {
    case $1 in
    valgrind) run_suite valgrind 25 sh tests/valgrind.sh;;
    conversations) run_suite conversations 5 sh tests/conversations.sh build/provbot build/tools/convtest;;
    conversations-asan) run_suite conversations-asan 10 sh tests/conversations.sh build-asan/provbot build/tools/convtest;;
    unit) run_suite unit 5 sh tests/run.sh --units build;;
    unit-asan) run_suite unit-asan 10 sh tests/run.sh --units build-asan;;
    eval) run_suite eval 5 sh tests/eval.sh build/provbot;;
    convtest-self) run_suite convtest-self 3 sh tests/convtest_self.sh build/tools/convtest;;
    cli) run_suite cli 5 sh tests/cli.sh build/provbot;;
    cli-asan) run_suite cli-asan 10 sh tests/cli.sh build-asan/provbot;;
    contract) run_suite contract 1 python3 tests/contract_intents.py intents;;
    packs) run_suite packs 5 sh tests/packs.sh build/provbot build/tools/convtest;;
    packs-asan) run_suite packs-asan 10 sh tests/packs.sh build-asan/provbot build/tools/convtest;;
    facts) run_suite facts 3 build/tools/facttest intents tests/facts/en.tsv tests/facts/sv.tsv;;
    facts-asan) run_suite facts-asan 5 build-asan/tools/facttest intents tests/facts/en.tsv tests/facts/sv.tsv;;
    outbox) run_suite outbox 10 sh tests/outbox.sh build/provbot;;
    outbox-tsan) run_suite outbox-tsan 15 sh tests/outbox.sh build-tsan/provbot;;
    rt) run_suite rt 30 sh tests/rt.sh build/provbot;;
    webex) run_suite webex 5 sh tests/webex.sh build/provbot;;
    webex-tsan) run_suite webex-tsan 10 sh tests/webex.sh build-tsan/provbot;;
    turns-tsan) run_suite turns-tsan 5 env CMOCKA_MESSAGE_OUTPUT=TAP build-tsan/tests/test_turns;;
    browser) run_suite browser 15 sh tests/browser/run.sh;;
    *) echo "run.sh: no suite $1" >&2; exit 1;;
    esac
}
. tests/share.sh   # share_list: workers that share a list of suites
# The first part: two kinds of suite at once. The ones that only use the CPU
# (no timing, no fixed port, no shared folder), the longest first, in two
# workers, one a core. Beside them, two workers for the ones that mostly
# wait (servers, fakes, a real Request Tracker, a browser): they use free
# ports and folders of their own, and their deadlines are event waits
# scaled by TEST_SLOWDOWN. (Not niced: a nice CPU suite beside a busy
# machine's other work misses convtest's reply deadline.) The summaries are
# printed when all are done, in the order below.
cpu_suites="valgrind conversations-asan conversations eval cli-asan cli
    packs-asan packs contract facts-asan facts"
# (the unit tests last: half their time is test_ws waiting for serve)
wait_suites="rt webex-tsan webex convtest-self outbox-tsan outbox browser turns-tsan unit-asan unit"
if [ "${TEST_LANES:-2}" -gt 1 ]; then
    share_list "$OUT/taken-cpu" "${TEST_LANES:-2}" by_name $cpu_suites &
    share_list "$OUT/taken-wait" 2 by_name $wait_suites &
    wait
else
    export VALGRIND_JOBS="${VALGRIND_JOBS:-1}"   # one at a time there too
    share_list "$OUT/taken-cpu" 1 by_name $cpu_suites
    share_list "$OUT/taken-wait" 1 by_name $wait_suites
fi
for s in $cpu_suites $wait_suites; do   # (the lists above: a suite added there is counted)
    show_suite $s
done
# Then, one at a time, the suites that time things (kill -9 at random
# moments, latency, load: on a busy machine their moments would differ), and
# the fuzzers (two targets at a time, on both cores); tsan-reports after the
# last TSan suite.
suite crash-safety 15 python3 tests/crash_safety.py build/provbot 24 6
suite crash-safety-tsan 20 python3 tests/crash_safety.py build-tsan/provbot 24 6
suite tsan-reports 1 sh -c 'n=$(ls "$1" | wc -l); if [ "$n" -eq 0 ]; then echo "ok 1 - no ThreadSanitizer report"; \
    else echo "not ok 1 - $n ThreadSanitizer reports in $1"; grep -h -m2 -A6 WARNING "$1"/* | sed "s/^/#   /" | head -40; fi; \
    echo 1..1' tsan "$OUT/tsan"
suite wal-load 10 python3 tests/wal_load.py build/provbot build/bench/ws_load
suite security 5 python3 tests/security.py build/provbot
suite loop-stall 5 python3 tests/loop_stall.py build/provbot build/bench/ws_load
suite fuzz "$fuzz_minutes" sh tests/fuzz.sh "${FUZZ_SECONDS:-10}"

passed=$(grep -c '\] ok ' "$OUT/all.tap")
failed=$(grep -c '\] not ok ' "$OUT/all.tap")
[ -n "$suites_failed" ] && echo "failed suites:$suites_failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
