#!/bin/sh
# valgrind.sh -- the unit tests under valgrind (memcheck, no leaks, no
# errors), and the command line on a whole conversation. PCRE2's JIT is
# turned off: valgrind cannot follow JIT code. Prints TAP.
export PROVBOT_PCRE2_JIT=0
VG="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99"
n=0
for t in build/tests/test_*; do
    case "$t" in *.d|*test_ws) continue;; esac
    n=$((n+1))
    if $VG "$t" > /tmp/vg.out.$$ 2>&1; then
        echo "ok $n - valgrind $(basename "$t")"
    else
        echo "not ok $n - valgrind $(basename "$t")"
        grep '==' /tmp/vg.out.$$ | head -20 | sed 's/^/#   /'
    fi
done
T=$(mktemp -d)
n=$((n+1))
if printf 'hi\nopen a case for order 55512345, new contact a@example.org, save fails\nyes\nstatus of my case\n\377\376\n' |
    $VG build/provbot chat --jsonl --data "$T" --user me@example.com > /dev/null 2> /tmp/vg.out.$$; then
    echo "ok $n - valgrind provbot chat --jsonl, a conversation to a filed case"
else
    echo "not ok $n - valgrind provbot chat --jsonl"
    head -20 /tmp/vg.out.$$ | sed 's/^/#   /'
fi
n=$((n+1))
if head -50 tests/heldout.tsv | cut -f2 | $VG build/provbot classify > /dev/null 2> /tmp/vg.out.$$; then
    echo "ok $n - valgrind provbot classify"
else
    echo "not ok $n - valgrind provbot classify"
    head -20 /tmp/vg.out.$$ | sed 's/^/#   /'
fi
rm -rf "$T" /tmp/vg.out.$$
echo "1..$n"
