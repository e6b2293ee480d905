#!/bin/sh
# fuzz.sh SECONDS [JOBS] -- every libFuzzer target: first its regression
# inputs (tests/fuzz/regress/NAME: every crash ever found, kept), then its
# whole seed corpus (libFuzzer replays a corpus before it mutates), then
# SECONDS of fuzzing. JOBS targets run at a time (default 2, one a core).
# Prints TAP with executions, coverage and crashes; a crash is kept in
# build-fuzz/crashes/NAME for a regression input.
secs=${1:-30}
jobs=${2:-2}
cd "$(dirname "$0")/.." || exit 1
# the targets that classify read the trained model from a cache (make test's,
# else one in build-fuzz/) instead of training it at each start: seconds of
# each target's time
mkdir -p build-fuzz/model-cache
export PROVBOT_MODEL_CACHE="${PROVBOT_MODEL_CACHE:-$PWD/build-fuzz/model-cache}"

# fuzz_one NAME: the TAP lines of one target (numbered later) into
# build-fuzz/NAME.tap
fuzz_one() {
    name=$1
    f=build-fuzz/$name
    out=build-fuzz/$name.tap
    : > "$out"
    reg=tests/fuzz/regress/$name
    if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
        if "$f" "$reg"/* > build-fuzz/$name.regress.log 2>&1; then
            echo "ok - $name replays $(ls "$reg" | wc -l) regression inputs" >> "$out"
        else
            echo "not ok - $name fails a regression input" >> "$out"
            tail -20 build-fuzz/$name.regress.log | sed 's/^/#   /' >> "$out"
        fi
    fi
    work=build-fuzz/corpus/$name
    mkdir -p "$work" "build-fuzz/crashes/$name"
    [ -d "tests/fuzz/corpus/$name" ] && cp -n tests/fuzz/corpus/$name/* "$work/" 2>/dev/null
    maxlen=4096
    [ "$name" = fuzz_pack ] && maxlen=65536
    "$f" "$work" -max_total_time="$secs" -max_len=$maxlen -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="build-fuzz/crashes/$name/" > "build-fuzz/$name.log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/$name.log" | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "build-fuzz/$name.log" | tail -1 | grep -o '[0-9]*')
    crashes=$(ls "build-fuzz/crashes/$name" | wc -l)
    if [ "$rc" = 0 ] && [ "$crashes" = 0 ]; then
        echo "ok - $name: ${execs:-0} executions in ${secs} s, coverage ${cov:-0} edges, 0 crashes" >> "$out"
    else
        echo "not ok - $name: exit $rc, $crashes crash inputs in build-fuzz/crashes/$name" >> "$out"
        grep -A15 'ERROR\|SUMMARY' "build-fuzz/$name.log" | head -30 | sed 's/^/#   /' >> "$out"
    fi
}

names=""
for f in build-fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    case "$f" in *.d|*.tap|*.log) continue;; esac
    names="$names $(basename "$f")"
done
# JOBS workers share the list (a worker whose target ended starts the next
# at once instead of waiting for the slowest of a batch)
. tests/share.sh
share_list build-fuzz/taken "$jobs" fuzz_one $names
n=0
for name in $names; do
    while IFS= read -r line; do
        case "$line" in
            "ok - "*|"not ok - "*)
                n=$((n + 1))
                echo "$line" | sed "s/^\(not \)*ok - /\1ok $n - /";;
            *) echo "$line";;
        esac
    done < "build-fuzz/$name.tap"
done
echo "1..$n"
