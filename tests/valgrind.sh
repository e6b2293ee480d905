#!/bin/sh
# valgrind.sh -- every unit test under valgrind (memcheck, no leaks, no
# errors), and the command line on a whole conversation and on classify,
# whose output is checked too (a run that prints the wrong thing fails even
# when memcheck is clean). PCRE2's JIT is turned off: valgrind cannot follow
# JIT code (and test_gate checks one text in 8: without the JIT, all of them
# take a minute; the native and ASan runs check every one). Prints TAP.
export PROVBOT_PCRE2_JIT=0
export PROVBOT_TEST_STRIDE=8   # test_gate checks every 8th text (the rest natively)
VG="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# vg_unit TEST N: the TAP line of unit test TEST (number N) into $T/N.tap
vg_unit() {
    if [ ! -x "$1" ]; then
        echo "not ok $2 - valgrind $(basename "$1"): not built"
    elif CMOCKA_MESSAGE_OUTPUT=TAP PROVBOT_BIN=build/provbot $VG "$1" > "$T/$2.out" 2>&1; then
        echo "ok $2 - valgrind $(basename "$1")"
    else
        echo "not ok $2 - valgrind $(basename "$1")"
        grep -E '==|not ok' "$T/$2.out" | head -20 | sed 's/^/#   /'
    fi > "$T/$2.tap"
}
tests=""
for t in build/tests/test_*; do
    case "$t" in *.d) continue;; esac
    tests="$tests $t"
done
# The unit tests two at a time (VALGRIND_JOBS): this suite is the longest of
# make test's first part and would end last, alone, one test after another.
# Their lines are printed in order when all are done.
. tests/share.sh
share_list "$T/taken" "${VALGRIND_JOBS:-2}" vg_unit $tests
n=0
for t in $tests; do
    n=$((n+1))
    cat "$T/$n.tap"
done
[ "$n" -gt 0 ] || { echo "not ok 1 - no unit test built in build/tests"; n=1; }

n=$((n+1))
printf 'hi\nopen a case for order 55512345, new contact a@example.org, save fails, org not onboarded\nyes\nstatus of my case\n\377\376\n' |
    $VG build/provbot chat --jsonl --data "$T/d" --user me@example.com > "$T/chat.out" 2> "$T/vg.out"
rc=$?
python3 - "$T/chat.out" > "$T/py.out" 2>&1 <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
assert len(r) == 5, "%d replies for 5 lines" % len(r)
assert r[0]["intent"] == "greeting", r[0]
assert r[1]["expect"] == "confirm" and "55512345" in r[1]["text"], r[1]
c = r[2]["case"]
assert c and c["status"] == "filed" and c["order_ref"] == "55512345" and c["new_email"] == "a@example.org", r[2]
assert r[3]["intent"] == "case_status" and c["id"] in r[3]["text"], r[3]
assert all(x["type"] == "reply" for x in r)
PY
py=$?
if [ $rc = 0 ] && [ $py = 0 ]; then
    echo "ok $n - valgrind provbot chat --jsonl: a conversation to a filed case, replies checked"
else
    echo "not ok $n - valgrind provbot chat --jsonl (exit $rc)"
    cat "$T/vg.out" "$T/py.out" | head -20 | sed 's/^/#   /'
fi

n=$((n+1))
grep -v '^#' tests/heldout.tsv | head -50 > "$T/set"
cut -f2 "$T/set" > "$T/in"
$VG build/provbot classify < "$T/in" > "$T/cl.out" 2> "$T/vg.out"
rc=$?
lines=$(wc -l < "$T/cl.out")
good=$(cut -f1 "$T/set" | paste - "$T/cl.out" |
    python3 -c 'import json,sys; print(sum(json.loads(l.split("\t",1)[1])["intent"] == l.split("\t")[0] for l in sys.stdin))')
if [ $rc = 0 ] && [ "$lines" = 50 ] && [ "${good:-0}" -ge 47 ]; then
    echo "ok $n - valgrind provbot classify: 50 lines, $good of 50 right"
else
    echo "not ok $n - valgrind provbot classify (exit $rc, $lines lines, ${good:-no} right)"
    head -20 "$T/vg.out" | sed 's/^/#   /'
fi
echo "1..$n"
