#!/usr/bin/env python3
"""mutate.py -- a small mutation tester for provbot (no C mutation tool is
packaged in Debian). Not part of `make test`: `make mutate` runs it.

In a copy of the tree (under /tmp, never in place) it applies one
mutation at a time to src/MODULE.c -- negate a condition, swap < / <= and
> / >=, == / !=, a constant 0<->1 or N -> N+1, delete a statement, return
early -- or to an intents/ answer (module "intents": an answer text replaced),
rebuilds incrementally (only the mutated object recompiles, then the links),
runs the fast suites (unit, conversations, cli, outbox; each under a timeout,
stopping at the first that fails) and counts the mutant killed when a suite
fails. Mutants that do not compile are counted apart; mutations inside
comments, string literals and preprocessor lines are never made (they would
be equivalent or meaningless).

Environment: MODULES (default "dialog entity case engine wchat wx rt"),
MUTANTS_PER_MODULE (15), MUTATE_SEED (1616: the sampling is deterministic),
MUTATE_TIMEOUT (seconds per suite, 120), MUTATE_SUITES (default
"facts unit conversations cli outbox"; "facts" is tests/tools/facttest over
tests/facts/*.tsv), MUTATE_SAN (the build's sanitizer flags, default
"-fsanitize=leak": LeakSanitizer makes a test program that leaks exit 23,
so a deleted free() is killed; "-fsanitize=address,undefined" also kills
out-of-bounds reads, at about twice the time; "" for none), MUTATE_DIR (the copy; default
a new /tmp/provbot-mutate.XXXX, removed at the end unless MUTATE_KEEP=1).
Mutants listed in tests/mutate-equivalent.txt (judged equivalent: no
test can tell them apart) are skipped and counted apart.
A suite command that already fails on the unmutated tree is left out of
every later run, with a warning (a red test on main does not stop the
measurement; the warning names it).
Prints the score per module (killed / total, %) and every surviving mutant
(file:line, operator, the mutated line). Exit 0 (it measures; it does not judge).
"""
import json, os, random, re, shutil, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MODULES = (os.environ.get("MODULES") or "dialog entity case engine wchat wx rt").split()
PER = int(os.environ.get("MUTANTS_PER_MODULE") or 15)
SEED = int(os.environ.get("MUTATE_SEED") or 1616)
TIMEOUT = int(os.environ.get("MUTATE_TIMEOUT") or 120)
SUITES = (os.environ.get("MUTATE_SUITES") or "facts unit conversations cli outbox").split()
SAN = os.environ.get("MUTATE_SAN", "-fsanitize=leak")
# -O1 with ASan, as `make test` builds it (at -O2 gcc's -Wformat-truncation fires)
BUILD = ["make", "-s", "-j2", "BUILD=build", "SAN=" + SAN] + (["OPT=-O1"] if "address" in SAN else []) + \
    ["all", "units", "tools"]


def log(*a):
    print(*a, flush=True)


# ------------------------------------------------------------------ C source scanning
def code_mask(lines):
    """For each line, a list of booleans: True where the character is code
    (not inside a comment, a string or a char literal). Preprocessor lines
    are all False."""
    out, in_block = [], False
    for line in lines:
        m = [False] * len(line)
        if not in_block and line.lstrip().startswith("#"):
            out.append(m)
            continue
        i, q = 0, None
        while i < len(line):
            c = line[i]
            if in_block:
                if line.startswith("*/", i):
                    in_block = False
                    i += 2
                    continue
            elif q:
                if c == "\\":
                    i += 2
                    continue
                if c == q:
                    q = None
            elif line.startswith("/*", i):
                in_block = True
                i += 2
                continue
            elif line.startswith("//", i):
                break
            elif c in "\"'":
                q = c
            else:
                m[i] = True
            i += 1
        out.append(m)
    return out


def balanced_end(line, start):
    """Index of the ')' closing the '(' at start, or -1 (on this line only)."""
    depth = 0
    for i in range(start, len(line)):
        if line[i] == "(":
            depth += 1
        elif line[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


REL = [("<=", "<"), (">=", ">"), ("==", "!="), ("!=", "=="), ("<", "<="), (">", ">=")]
LOGGY = re.compile(r"\b(log_event|serve_log|fprintf|printf|logline|perror|assert)\s*\(")
RET_TYPES = [(re.compile(r"^(static\s+)?(const\s+)?(char|cJSON|struct\s+\w+|\w+)\s*\*"), "return NULL;"),
             (re.compile(r"^(static\s+)?void\s"), "return;"),
             (re.compile(r"^(static\s+)?bool\s"), "return false;"),
             (re.compile(r"^(static\s+)?(inline\s+)?(int|long|size_t|ssize_t|int64_t|uint32_t|unsigned|"
                         r"double|enum\s+\w+)\s"), "return 0;")]


def c_mutants(path):
    """Every candidate mutant of one C file: (line index, operator, new line)."""
    lines = open(path).read().split("\n")
    mask = code_mask(lines)
    out = []
    for n, line in enumerate(lines):
        m = mask[n]
        code = "".join(c if m[i] else " " for i, c in enumerate(line))
        if not code.strip() or LOGGY.search(code):
            continue
        # negate a condition
        for k in re.finditer(r"\b(if|while)\s*\(", code):
            p = k.end() - 1
            e = balanced_end(code, p)
            if e > 0:
                out.append((n, "negate " + k.group(1), line[:p + 1] + "!(" + line[p + 1:e] + ")" + line[e:]))
        # relational / equality operators
        for i in range(len(code)):
            for a, b in REL:
                if code.startswith(a, i) and m[i]:
                    prev, nxt = code[i - 1] if i else " ", code[i + len(a)] if i + len(a) < len(code) else " "
                    if len(a) == 1 and (nxt in "=<>" or prev in "<>-=!"):
                        continue  # part of <=, <<, ->, ...
                    if a in ("<", ">") and "#include" in line:
                        continue
                    out.append((n, "%s -> %s" % (a, b), line[:i] + b + line[i + len(a):]))
                    break
        # constants
        for k in re.finditer(r"(?<![\w.])(\d+)(?![\w.])", code):
            v = int(k.group(1))
            new = "1" if v == 0 else "0" if v == 1 else str(v + 1)
            out.append((n, "constant %d -> %s" % (v, new), line[:k.start()] + new + line[k.end():]))
        # delete a statement (a call or an assignment on one line); "{ }", not
        # ";", so a deleted if-body still compiles under -Wempty-body
        s = code.strip()
        if s.endswith(";") and not re.match(r"(return|break|continue|goto|case|default)\b", s) and \
                re.match(r"[\w>*.\[\]-]+\s*(\(|[+\-*/|&]?=[^=])", s) and line.count(";") == 1 \
                and not re.match(r"(const\s+)?(struct\s+)?\w+\s+\**\w+\s*=", s):
            out.append((n, "delete statement", re.sub(r"\S.*", "{ /* deleted */ }", line, count=1)))
    # return early: the first line of each function body
    for n, line in enumerate(lines):
        if line == "{" and n > 0 and mask[n - 1] and not lines[n - 1].startswith((" ", "\t", "#")):
            k = n - 1
            while k > 0 and "(" not in lines[k] and lines[k - 1] and not lines[k - 1].startswith(" "):
                k -= 1
            if "(" not in lines[k] or "=" in lines[k].split("(")[0]:
                continue
            for rx, ret in RET_TYPES:
                if rx.match(lines[k]):
                    out.append((n, "return early (%s)" % ret, "{ " + ret))
                    break
    return lines, out


# ------------------------------------------------------------------ intents answers
def intent_mutants(root):
    """(file, path of keys, operator, new value) for every answer text."""
    out = []
    for f in sorted(os.listdir(os.path.join(root, "intents"))):
        if not f.endswith(".json") or f in ("flows.json", "entities.json", "pack.json"):
            continue
        d = json.load(open(os.path.join(root, "intents", f)))
        ans = d.get("answer") if isinstance(d, dict) else None
        if isinstance(ans, dict):
            for lang, text in sorted(ans.items()):
                if isinstance(text, str) and text:
                    out.append((f, lang, "answer text replaced", "Your order has been cancelled."))
    return out


# ------------------------------------------------------------------ running
def suite_cmds(tree, s):
    """The commands of suite s, each run in tree."""
    if s == "unit":
        return [[os.path.join(tree, "build", "tests", t)]
                for t in sorted(os.listdir(os.path.join(tree, "build", "tests")))
                if t.startswith("test_") and not t.endswith(".d")]
    if s == "facts":
        if not os.path.isdir(os.path.join(tree, "tests", "facts")):
            return []
        facts = sorted(os.path.join("tests", "facts", f) for f in os.listdir(os.path.join(tree, "tests", "facts"))
                       if f.endswith(".tsv"))
        return [["build/tools/facttest", "intents"] + facts]
    if s == "conversations":
        convs = sorted(os.path.join("tests", "conv", c) for c in os.listdir(os.path.join(tree, "tests", "conv"))
                       if c.endswith(".conv"))
        return [["build/tools/convtest", "build/provbot", c] for c in convs]  # one a file
    return [["sh", "tests/%s.sh" % s, "build/provbot"]]


EXCLUDED = set()  # commands that fail on the unmutated tree


def run_suites(tree, baseline=False):
    """The name of the first suite that fails (the mutant is killed), or None.
    On the baseline, every failing command is put in EXCLUDED instead."""
    for s in SUITES:
        # leaks count in the engine's own tests; the other suites' drivers
        # (convtest, the shell) and the bot's exit are not judged on them here
        leaks = "1" if s in ("unit", "facts") else "0"
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=" + leaks, LSAN_OPTIONS="detect_leaks=" + leaks,
                   CMOCKA_MESSAGE_OUTPUT="TAP", PROVBOT_BIN=os.path.join(tree, "build", "provbot"))
        cmds = [c for c in suite_cmds(tree, s) if " ".join(c) not in EXCLUDED]
        for c in cmds:
            try:
                p = subprocess.run(c, cwd=tree, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                                   errors="replace")
            except subprocess.TimeoutExpired:
                if baseline:
                    EXCLUDED.add(" ".join(c))
                    continue
                return s + " (timeout)"
            if p.returncode != 0 or re.search(r"^not ok", p.stdout, re.M):
                if baseline:
                    EXCLUDED.add(" ".join(c))
                    continue
                return s
    return None


def sample(tree, mod, rng):
    """PER mutants of module mod, drawn with rng: (path, original text,
    mutated text, label "file:line: operator: the mutated line")."""
    if mod == "intents":
        cands = intent_mutants(tree)
        out = []
        for f, lang, op, new in (cands[k] for k in sorted(rng.sample(range(len(cands)), min(PER, len(cands))))):
            path = os.path.join(tree, "intents", f)
            orig = open(path).read()
            d = json.loads(orig)
            d["answer"][lang] = new
            out.append((path, orig, json.dumps(d, ensure_ascii=False, indent=2),
                        "intents/%s answer.%s: %s" % (f, lang, op)))
        return out
    src = os.path.join(tree, "src", mod + ".c")
    if not os.path.exists(src):
        log("# no src/%s.c: skipped" % mod)
        return []
    lines, cands = c_mutants(src)
    out = []
    for n, op, new in (cands[k] for k in sorted(rng.sample(range(len(cands)), min(PER, len(cands))))):
        out.append((src, "\n".join(lines), "\n".join(lines[:n] + [new] + lines[n + 1:]),
                    "src/%s.c:%d: %s: %s" % (mod, n + 1, op, (lines[n] if op.startswith("delete")
                                                              else new).strip())))
    return out


def load_equivalent(path):
    """Mutants judged equivalent (tests/mutate-equivalent.txt): lines
    "FILE: OPERATOR: MUTATED LINE  # why", without the line number so that
    they survive edits elsewhere in the file. Not built, not counted."""
    out = {}
    if os.path.exists(path):
        for line in open(path):
            if line.strip() and not line.startswith("#"):
                key, _, why = line.rstrip("\n").partition("  # ")
                out[key.strip()] = why.strip() or "equivalent"
    return out


def equivalent_key(label):
    m = re.match(r"(\S+?):\d+: (.*)$", label)
    return (m.group(1) + ": " + m.group(2)).strip() if m else label


EQUIV = load_equivalent(os.path.join(ROOT, "tests", "mutate-equivalent.txt"))


def build(tree):
    return subprocess.run(BUILD, cwd=tree, capture_output=True, text=True).returncode == 0


def main():
    tree = os.environ.get("MUTATE_DIR") or tempfile.mkdtemp(prefix="provbot-mutate.")
    log("# mutate: copy in %s, seed %d, %d per module, modules %s, suites %s"
        % (tree, SEED, PER, " ".join(MODULES), " ".join(SUITES)))
    shutil.copytree(ROOT, tree, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".git", "build*", "out", "node_modules", "provbot"))
    t0 = time.time()
    if not build(tree):
        log("# mutate: the unmutated copy does not build")
        return 2
    run_suites(tree, baseline=True)
    for c in sorted(EXCLUDED):
        log("# WARNING: fails on the unmutated tree, left out: %s" % c.replace(tree + "/", ""))
    log("# baseline green (%.0f s)" % (time.time() - t0))
    scores, survivors = [], []
    for mod in MODULES:
        rng = random.Random("%d:%s" % (SEED, mod))
        killed = total = nocompile = equiv = 0
        for path, orig, mutated, label in sample(tree, mod, rng):
            open(path, "w").write(mutated)
            try:
                if equivalent_key(label) in EQUIV:
                    equiv += 1
                    log("  %-9s %s (%s)" % ("equivalent", label, EQUIV[equivalent_key(label)]))
                    continue
                if not build(tree):
                    nocompile += 1
                    log("  %-9s %s" % ("nocompile", label))
                    continue
                total += 1
                who = run_suites(tree)
                killed += bool(who)
                if not who:
                    survivors.append(label)
                log("  %-9s %s %s" % ("killed" if who else "SURVIVED", label, who or ""))
            finally:
                open(path, "w").write(orig)
        scores.append((mod, killed, total, nocompile, equiv))
    log("# mutation score per module (%.0f min)" % ((time.time() - t0) / 60))
    for mod, killed, total, nocompile, equiv in scores:
        log("%-10s %3d / %3d killed  %5.1f %%   (%d more did not compile, %d listed as equivalent)"
            % (mod, killed, total, 100.0 * killed / total if total else 0.0, nocompile, equiv))
    all_k, all_t = sum(s[1] for s in scores), sum(s[2] for s in scores)
    log("%-10s %3d / %3d killed  %5.1f %%" % ("all", all_k, all_t, 100.0 * all_k / all_t if all_t else 0.0))
    log("# surviving mutants (%d)" % len(survivors))
    for s in survivors:
        log("  " + s)
    if not os.environ.get("MUTATE_KEEP") and not os.environ.get("MUTATE_DIR"):
        shutil.rmtree(tree, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
