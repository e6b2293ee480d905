#!/bin/sh
# bench.sh -- `make bench`: figures, not pass/fail.
cd "$(dirname "$0")/.." || exit 1
echo "== understanding and dialog (targets: >= 100,000 utterances/s, start-up < 100 ms, RSS < 20 MB, >= 20,000 turns/s)"
build/bench/bench_engine intents tests/heldout.tsv || exit 1
if [ -x build/bench/ws_load ]; then
    echo
    echo "== web chat (targets: >= 10,000 replies/s and >= 0.2 of the baseline; p99 < 5 ms, p999 < 20 ms at 2,000 msg/s; <= 20 KiB per idle connection)"
    build/bench/ws_load build/provbot build/bench/ws_baseline || exit 1
fi
