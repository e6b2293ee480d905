#!/bin/sh
# mutate.sh -- `make mutate`: the mutation score of src/ modules and intents/
# answers (tests/mutate.py; MODULES, MUTANTS_PER_MODULE, MUTATE_SEED,
# MUTATE_TIMEOUT). Slow (about 30 s per mutant on 2 cores), not part of
# `make test`.
cd "$(dirname "$0")/.." || exit 1
exec nice -n 10 python3 tests/mutate.py
