#!/bin/sh
# packs.sh PROVBOT CONVTEST -- the test packs of tests/packs/: each a knowledge
# pack of its own (a made-up article: its intents, flow and case type) whose
# conversation files (DIR/conv/*.conv) run through the same strict harness as
# tests/conv/, on the same provbot: a new article needs no C change. The case
# type every filed case must have is the pack's first in cases.json; its own
# intent ids are taken (CONVTEST_ANY_INTENT). Prints TAP.
P=$1
C=$2
cd "$(dirname "$0")/.." || exit 1
rc=0
for d in tests/packs/*/; do
    d=${d%/}
    type=$(python3 -c 'import json, sys
print(next(iter(json.load(open(sys.argv[1]))["types"].values()))["name"])' "$d/cases.json") || exit 1
    PROVBOT_INTENTS=$d CONVTEST_CASE_TYPE=$type CONVTEST_ANY_INTENT=1 "$C" "$P" "$d"/conv/*.conv || rc=1
done
exit $rc
