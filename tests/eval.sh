#!/bin/sh
# eval.sh PROVBOT -- the held-out set's floors (issue: understanding).
# tests/heldout.tsv was written apart from the training examples.
P=$1
n=0
check() { # NAME CONDITION-RESULT DETAIL
    n=$((n+1))
    if [ "$2" = 1 ]; then echo "ok $n - $1 ($3)"; else echo "not ok $n - $1 ($3)"; fi
}
out=$("$P" eval tests/heldout.tsv --min-accuracy 0.95)
rc=$?
echo "$out" | sed 's/^/# /'
get() { echo "$out" | awk -v k="$1" '$1 == k":" {print $2; exit}'; }
acc=$(get accuracy); en=$(get accuracy_en); sv=$(get accuracy_sv)
cw=$(get in_scope_confidently_wrong)
oos=$(echo "$out" | awk '$1 == "out_of_scope" && NF == 5 {print $3; exit}')
# a figure missing from the output, or not a number, fails the check
isnum() { awk -v a="$1" 'BEGIN { exit !(a ~ /^[0-9]+(\.[0-9]+)?$/) }'; }
ge() { isnum "$1" && awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? 1 : 0 }' || echo 0; }
lt() { isnum "$1" && awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 < b + 0) ? 1 : 0 }' || echo 0; }
check "eval exits 0 at --min-accuracy 0.95" "$([ $rc = 0 ] && echo 1)" "exit $rc"
check "accuracy >= 0.95" "$(ge "$acc" 0.95)" "$acc"
check "English accuracy >= 0.93" "$(ge "$en" 0.93)" "$en"
check "Swedish accuracy >= 0.93" "$(ge "$sv" 0.93)" "$sv"
check "out_of_scope recall >= 0.90" "$(ge "$oos" 0.90)" "${oos:-missing}"
check "confidently wrong < 3%" "$(lt "$cw" 0.03)" "${cw:-missing}"
"$P" eval tests/heldout.tsv --min-accuracy 0.999 >/dev/null 2>&1
check "--min-accuracy above the score exits 1" "$([ $? = 1 ] && echo 1)" ""
echo "1..$n"
