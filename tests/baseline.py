#!/usr/bin/python3
"""baseline.py PROVBOT -- the textbook baseline beside provbot, on the held-out sets.

Trains scikit-learn's TF-IDF (word 1-2-grams + character 3-5-grams, lower case)
+ logistic regression on the same intents/*.json examples provbot trains on, and
prints accuracy per language, out_of_scope recall and the wrong-intent rate
(in scope, read as another in-scope intent) for both, on tests/heldout.tsv,
tests/heldout2.tsv and tests/heldout3.tsv. The language of a line is the one provbot detects, so both
are split the same way. Needs Debian's python3-sklearn (exit 0 with a note
when it is missing). Figures, not floors: tests/eval.sh holds the floors.
"""
import glob
import json
import os
import subprocess
import sys

try:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union
except ImportError:
    print("baseline: scikit-learn is not installed (apt-get install python3-sklearn); skipped")
    sys.exit(0)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
NOT_INTENTS = {"pack.json", "entities.json", "flows.json", "objects.json"}


def examples():
    x, y = [], []
    for path in sorted(glob.glob(os.path.join(ROOT, "intents", "*.json"))):
        if os.path.basename(path) in NOT_INTENTS:
            continue
        doc = json.load(open(path, encoding="utf-8"))
        for lang in ("en", "sv"):
            for s in doc.get("examples", {}).get(lang, []):
                x.append(s)
                y.append(doc["id"])
    return x, y


def heldout(path):
    rows = []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line and not line.startswith("#"):
            intent, text = line.split("\t", 1)
            rows.append((intent, text))
    return rows


def figures(truth, guess, langs):
    out = {}
    for lang in ("all", "en", "sv"):
        idx = [i for i in range(len(truth)) if lang == "all" or langs[i] == lang]
        out[lang] = sum(truth[i] == guess[i] for i in idx) / max(len(idx), 1)
    oos = [i for i in range(len(truth)) if truth[i] == "out_of_scope"]
    ins = [i for i in range(len(truth)) if truth[i] != "out_of_scope"]
    out["oos_recall"] = sum(guess[i] == "out_of_scope" for i in oos) / max(len(oos), 1)
    out["wrong_intent"] = sum(guess[i] not in (truth[i], "out_of_scope") for i in ins) / max(len(ins), 1)
    return out


def main():
    prog = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "provbot")
    x, y = examples()
    model = make_pipeline(
        make_union(TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
                   TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
        LogisticRegression(max_iter=2000, C=10))
    model.fit(x, y)
    print("%-18s %-9s %6s %6s %6s %8s %8s" % ("set", "model", "acc", "en", "sv", "oos_rec", "wrong"))
    for name in ("tests/heldout.tsv", "tests/heldout2.tsv", "tests/heldout3.tsv"):
        rows = heldout(os.path.join(ROOT, name))
        texts = [t for _, t in rows]
        truth = [i for i, _ in rows]
        res = subprocess.run([prog, "classify", "--intents", os.path.join(ROOT, "intents")],
                             input="\n".join(texts) + "\n", capture_output=True, text=True, check=True)
        pb = [json.loads(l) for l in res.stdout.splitlines()]
        langs = [o["lang"] for o in pb]
        for label, guess in (("provbot", [o["intent"] for o in pb]),
                             ("sklearn", list(model.predict(texts)))):
            f = figures(truth, guess, langs)
            print("%-18s %-9s %6.3f %6.3f %6.3f %8.3f %8.3f" % (
                name, label, f["all"], f["en"], f["sv"], f["oos_recall"], f["wrong_intent"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
