#!/bin/sh
# fuzz.sh SECONDS -- every libFuzzer target: first its regression inputs
# (tests/fuzz/regress/NAME: every crash ever found, kept), then SECONDS of
# fuzzing from its seed corpus. Prints TAP with executions, coverage and
# crashes; a crash is kept in build-fuzz/crashes/NAME for a regression input.
secs=${1:-30}
cd "$(dirname "$0")/.." || exit 1
n=0
for f in build-fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    case "$name" in *.d) continue;; esac
    n=$((n+1))
    reg=tests/fuzz/regress/$name
    if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
        if "$f" "$reg"/* > build-fuzz/$name.regress.log 2>&1; then
            echo "ok $n - $name replays $(ls "$reg" | wc -l) regression inputs"
        else
            echo "not ok $n - $name fails a regression input"
            tail -20 build-fuzz/$name.regress.log | sed 's/^/#   /'
        fi
        n=$((n+1))
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
        echo "ok $n - $name: ${execs:-0} executions in ${secs} s, coverage ${cov:-0} edges, 0 crashes"
    else
        echo "not ok $n - $name: exit $rc, $crashes crash inputs in build-fuzz/crashes/$name"
        grep -A15 'ERROR\|SUMMARY' "build-fuzz/$name.log" | head -30 | sed 's/^/#   /'
    fi
done
echo "1..$n"
