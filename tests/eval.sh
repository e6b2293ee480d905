#!/bin/sh
# eval.sh PROVBOT -- the held-out sets' floors (issue 14: understanding).
# tests/heldout.tsv, tests/heldout2.tsv and tests/heldout3.tsv were written
# apart from the training examples; heldout2 and heldout3 are the realistic
# ones (near-domain traps, paraphrases, long messages; heldout3 was written
# before the changes it measures). Floors: the issue's targets, a little under
# what is reached.
P=$1
n=0
check() { # NAME CONDITION-RESULT DETAIL
    n=$((n+1))
    if [ "$2" = 1 ]; then echo "ok $n - $1 ($3)"; else echo "not ok $n - $1 ($3)"; fi
}
# a figure missing from the output, or not a number, fails the check
isnum() { awk -v a="$1" 'BEGIN { exit !(a ~ /^[0-9]+(\.[0-9]+)?$/) }'; }
ge() { isnum "$1" && awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? 1 : 0 }' || echo 0; }
lt() { isnum "$1" && awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 < b + 0) ? 1 : 0 }' || echo 0; }
# floors FILE MIN-ACCURACY MIN-PER-LANGUAGE MIN-OOS-RECALL MAX-WRONG-INTENT
floors() {
    out=$("$P" eval "$1" --min-accuracy "$2")
    rc=$?
    echo "$out" | sed "s|^|# $1: |"
    get() { echo "$out" | awk -v k="$1" '$1 == k":" {print $2; exit}'; }
    acc=$(get accuracy); en=$(get accuracy_en); sv=$(get accuracy_sv)
    cw=$(get in_scope_confidently_wrong)
    oos=$(echo "$out" | awk '$1 == "out_of_scope" && NF == 5 {print $3; exit}')
    check "$1: eval exits 0 at --min-accuracy $2" "$([ $rc = 0 ] && echo 1)" "exit $rc"
    check "$1: accuracy >= $2" "$(ge "$acc" "$2")" "${acc:-missing}"
    check "$1: English accuracy >= $3" "$(ge "$en" "$3")" "${en:-missing}"
    check "$1: Swedish accuracy >= $3" "$(ge "$sv" "$3")" "${sv:-missing}"
    check "$1: out_of_scope recall >= $4" "$(ge "$oos" "$4")" "${oos:-missing}"
    check "$1: wrong intent (in scope, read as another) < $5" "$(lt "$cw" "$5")" "${cw:-missing}"
}
floors tests/heldout.tsv 0.98 0.95 0.90 0.03
floors tests/heldout2.tsv 0.97 0.95 0.95 0.02
floors tests/heldout3.tsv 0.96 0.95 0.95 0.02
"$P" eval tests/heldout.tsv --min-accuracy 0.999 >/dev/null 2>&1
check "--min-accuracy above the score exits 1" "$([ $? = 1 ] && echo 1)" ""
if /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
    bl=$(/usr/bin/python3 tests/baseline.py "$P" 2>&1)
    rc=$?
    echo "$bl" | sed 's/^/# /'
    check "baseline.py prints provbot and scikit-learn side by side" "$([ $rc = 0 ] && echo 1)" "exit $rc"
fi
echo "1..$n"
