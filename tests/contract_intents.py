#!/usr/bin/env python3
"""contract_intents.py INTENTS_DIR -- the contract's intent catalogue, checked over the pack.

The ids are those of tests/contract_intents.txt (a copy of the catalogue of
../shared/contract.md; when that file is at hand, the copy is checked against it).
For each id: exactly one file of INTENTS_DIR has it, with non-empty examples and a
non-empty answer in English and Swedish; and every role of pack.json names one of
them. The loader checks none of this: a test pack (tests/packs) has its own ids.
Prints TAP.
"""
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LANGS = ("en", "sv")
n = 0
failed = 0


def check(ok, name, why=""):
    global n, failed
    n += 1
    failed += not ok
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name))
    if not ok and why:
        print("#   " + why)


def catalogue():
    with open(os.path.join(HERE, "contract_intents.txt"), encoding="utf-8") as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def contract_ids(path):
    """The ids of the contract's catalogue table ("| id | the user... |")."""
    ids, inside = [], False
    for line in open(path, encoding="utf-8"):
        if line.startswith("## "):
            inside = line.startswith("## Intent catalogue")
        m = re.match(r"^\| ([a-z_]+) \|", line)
        if inside and m and m.group(1) != "id":
            ids.append(m.group(1))
    return ids


def texts_ok(obj, arrays):
    if not isinstance(obj, dict):
        return False
    for lang in LANGS:
        v = obj.get(lang)
        if arrays and not (isinstance(v, list) and v and all(isinstance(s, str) and s.strip() for s in v)):
            return False
        if not arrays and not (isinstance(v, str) and v.strip()):
            return False
    return True


def main():
    pack = sys.argv[1] if len(sys.argv) > 1 else "intents"
    ids = catalogue()
    check(len(ids) == 19 and len(set(ids)) == 19, "the catalogue has 19 distinct ids", "got %d" % len(ids))
    shared = os.path.join(HERE, "..", "..", "shared", "contract.md")
    if os.path.exists(shared):
        got = contract_ids(shared)
        check(got == ids, "tests/contract_intents.txt is the contract's catalogue",
              "contract.md has %s" % got)
    by_id = {}
    for path in sorted(glob.glob(os.path.join(pack, "*.json"))):
        doc = json.load(open(path, encoding="utf-8"))
        if isinstance(doc.get("id"), str):
            by_id.setdefault(doc["id"], []).append((os.path.basename(path), doc))
    for i in ids:
        files = by_id.get(i, [])
        check(len(files) == 1, "intent %s is defined once" % i, "files: %s" % [f for f, _ in files])
        if len(files) != 1:
            continue
        f, doc = files[0]
        check(texts_ok(doc.get("examples"), True), "intent %s has examples in en and sv" % i, f)
        check(texts_ok(doc.get("answer"), False), "intent %s answers in en and sv" % i, f)
    roles = json.load(open(os.path.join(pack, "pack.json"), encoding="utf-8")).get("roles", {})
    check(bool(roles) and all(v in ids for v in roles.values()),
          "every role of pack.json is played by a contract intent", "roles: %s" % roles)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
