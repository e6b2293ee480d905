#!/bin/sh
# conversations.sh PROVBOT CONVTEST -- the conversation files of tests/conv/
# and the checks generated from the knowledge pack (tests/gen_answers.py:
# every intent's answer in both languages), run by the strict harness
# tests/tools/convtest.c. Prints TAP.
P=$1
C=$2
cd "$(dirname "$0")/.." || exit 1
# kept in tests/out/ so that a failing line can be read there (one file per
# build, as the plain and the ASan runs may overlap)
G=tests/out/generated_answers.$(basename "$(dirname "$(realpath "$P")")").conv
mkdir -p tests/out
python3 tests/gen_answers.py "${PROVBOT_INTENTS:-intents}" "$G" || exit 1
# one model cache for the run: a file's first start reads the model instead
# of training it again (the cache itself is tested in test_nlu_cache and cli)
MC=$(mktemp -d) || exit 1
trap 'rm -rf "$MC"' EXIT
PROVBOT_MODEL_CACHE=${PROVBOT_MODEL_CACHE:-$MC} "$C" "$P" tests/conv/*.conv "$G"
