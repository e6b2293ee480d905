#!/bin/sh
# bench.sh -- `make bench`: figures, not pass/fail.
cd "$(dirname "$0")/.." || exit 1
echo "== understanding and dialog (targets: >= 100,000 utterances/s, start-up < 100 ms, RSS < 20 MB, >= 20,000 turns/s)"
build/bench/bench_engine intents tests/heldout.tsv || exit 1
echo
echo "== understanding on tests/heldout2.tsv (realistic messages): every confusion, truth -> guess"
grep -v '^#' tests/heldout2.tsv > "${TMPDIR:-/tmp}/heldout2.$$"
cut -f2 "${TMPDIR:-/tmp}/heldout2.$$" | build/provbot classify --intents intents |
    python3 -c '
import collections, json, sys
truth = [l.split("\t", 1)[0] for l in open(sys.argv[1], encoding="utf-8")]
guess = [json.loads(l)["intent"] for l in sys.stdin]
conf = collections.Counter((t, g) for t, g in zip(truth, guess) if t != g)
right = sum(t == g for t, g in zip(truth, guess))
print("accuracy %.4f (%d of %d)" % (right / len(truth), right, len(truth)))
for (t, g), n in sorted(conf.items(), key=lambda kv: (-kv[1], kv[0])):
    print("  %-22s -> %-22s %d" % (t, g, n))
' "${TMPDIR:-/tmp}/heldout2.$$"
rm -f "${TMPDIR:-/tmp}/heldout2.$$"
if [ -x build/bench/ws_load ]; then
    echo
    echo "== web chat (targets: >= 10,000 replies/s and >= 0.2 of the baseline; p99 < 5 ms, p999 < 20 ms at 2,000 msg/s; <= 20 KiB per idle connection)"
    build/bench/ws_load build/provbot build/bench/ws_baseline || exit 1
fi
