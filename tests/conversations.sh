#!/bin/sh
# conversations.sh PROVBOT CONVTEST -- the conversation files of tests/conv/
# and the checks generated from the knowledge pack (tests/gen_answers.py:
# every intent's answer in both languages), run by the strict harness
# tests/tools/convtest.c. Prints TAP.
P=$1
C=$2
cd "$(dirname "$0")/.." || exit 1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
python3 tests/gen_answers.py "${PROVBOT_INTENTS:-intents}" "$T/generated_answers.conv" || exit 1
"$C" "$P" tests/conv/*.conv "$T/generated_answers.conv"
