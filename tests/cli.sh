#!/bin/sh
# cli.sh PROVBOT -- the command line's contract: exit codes, one output line
# per input line whatever the bytes, and a broken pack refused with its file
# and field. Prints TAP.
P=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0
ok() { n=$((n+1)); echo "ok $n - $1"; }
nok() { n=$((n+1)); echo "not ok $n - $1"; [ -n "$2" ] && echo "#   $2"; }
expect() { # NAME COND DETAIL
    if [ "$2" = 0 ]; then ok "$1"; else nok "$1" "$3"; fi
}

# --- classify on hostile input -------------------------------------------
python3 - "$T/in" <<'PY'
import sys
lines = [b"hello", b"", b"\xff\xfe\xc3", b"a\x00b", b"x" * (1 << 20), b"\xc3\xa5\xc3\xa4\xc3\xb6 \xc3\x85\xc3\x84\xc3\x96",
         b"\xe2\x82", b"\x01\x02\x1b[31m", b"<img src=x onerror=alert(1)>", b"\xf0\x9f\x98\x80 emoji", b"   ", b"\r"]
open(sys.argv[1], "wb").write(b"\n".join(lines) + b"\n")
PY
"$P" classify < "$T/in" > "$T/out" 2> "$T/err"
expect "classify exits 0 on hostile input" $? "$(head -3 "$T/err")"
python3 - "$T/out" 12 <<'PY'
import json, sys
rows = open(sys.argv[1], "rb").read().split(b"\n")
assert rows[-1] == b"", "output must end with a newline"
rows = rows[:-1]
assert len(rows) == int(sys.argv[2]), "%d lines out for %s in" % (len(rows), sys.argv[2])
ids = {"greeting","help","thanks","goodbye","affirm","deny","change_contact_email","email_not_received",
       "when_email_sent","resend_email","no_edit_access","ponr","closed_line","provisioning_deadline",
       "edit_failed","open_case","case_status","transaction_history","out_of_scope"}
for r in rows:
    o = json.loads(r.decode("utf-8"))
    assert set(o) == {"text","intent","confidence","lang","alternatives"}, o.keys()
    assert o["intent"] in ids and o["lang"] in ("en", "sv") and 0 <= o["confidence"] <= 1
    assert len(o["alternatives"]) <= 3
    for a in o["alternatives"]:
        assert a["intent"] in ids and 0 <= a["confidence"] <= o["confidence"] + 1e-9 or o["intent"] == "out_of_scope"
o = [json.loads(r) for r in rows]
assert o[1]["intent"] == "out_of_scope", "a blank line is out_of_scope"
assert o[10]["intent"] == "out_of_scope", "spaces only is out_of_scope"
assert o[0]["intent"] == "greeting"
assert "\ufffd" in o[2]["text"] and "\ufffd" in o[3]["text"], "invalid UTF-8 and NUL become U+FFFD"
assert len(o[4]["text"]) == 1 << 20, "a 1 MB line is echoed whole"
PY
expect "classify: one JSON object per input line, valid fields, U+FFFD for bad bytes" $?

printf 'jag har inte fått etableringsmejlet\nthe provisioning email never arrived\n' | "$P" classify > "$T/l"
python3 -c "
import json,sys
a,b=[json.loads(l) for l in open('$T/l')]
assert a['lang']=='sv' and b['lang']=='en', (a['lang'], b['lang'])
assert a['intent']==b['intent']=='email_not_received'
" 2>"$T/e"
expect "classify: language and intent in both languages" $? "$(cat "$T/e")"

# --- chat --jsonl on hostile input: exactly one reply per line ----------
"$P" chat --jsonl --data "$T/d1" < "$T/in" > "$T/out" 2> "$T/err"
expect "chat --jsonl exits 0 on hostile input" $? "$(head -3 "$T/err")"
python3 - "$T/out" 12 <<'PY'
import json, sys
rows = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
assert len(rows) == int(sys.argv[2]), "%d replies for %s lines" % (len(rows), sys.argv[2])
for r in rows:
    o = json.loads(r)
    assert o["type"] == "reply" and set(o) >= {"reply_to","text","lang","intent","confidence","expect","buttons","case"}
PY
expect "chat --jsonl: one reply object per input line" $?

printf '{"text":"hi","id":"m1"}\n' | "$P" chat --jsonl --data "$T/d1" | grep -q '"reply_to":"m1"'
expect "chat --jsonl: a JSON line's id comes back as reply_to" $?

# --- usage and configuration errors ------------------------------------
"$P" frobnicate > /dev/null 2> "$T/err"; rc=$?
[ $rc = 2 ] && grep -q 'unknown subcommand frobnicate' "$T/err"
expect "unknown subcommand: exit 2 and a message naming it" $? "rc=$rc $(cat "$T/err")"
"$P" classify --bogus < /dev/null > /dev/null 2> "$T/err"; rc=$?
[ $rc = 2 ] && grep -q -- '--bogus' "$T/err"
expect "unknown option: exit 2" $? "rc=$rc"
bad=""
for c in "" classify eval chat serve cases outbox "cases list" "chat --jsonl"; do
    for h in --help -h; do
        "$P" $c $h > "$T/h" 2> "$T/he"; rc=$?
        [ $rc = 0 ] && grep -q 'usage: provbot' "$T/h" && grep -q "^  ${c%% *} " "$T/h" ||
            bad="$bad [provbot $c $h: exit $rc, $(wc -c < "$T/h") bytes on stdout]"
    done
done
expect "SUBCOMMAND --help (and -h) exits 0 with the usage naming it, for every subcommand" \
    "$([ -z "$bad" ]; echo $?)" "$bad"
"$P" > "$T/h" 2> "$T/he"; rc=$?
[ $rc = 2 ] && grep -q 'usage: provbot' "$T/he"
expect "no subcommand: exit 2 with the usage on stderr" $? "rc=$rc"
"$P" eval /nonexistent/file > /dev/null 2> "$T/err"; rc=$?
expect "eval on a missing file: exit 2" "$([ $rc = 2 ]; echo $?)" "rc=$rc"
"$P" cases show PB-999999 --data "$T/d1" > /dev/null 2>&1; rc=$?
expect "cases show of an unknown id: exit 1" "$([ $rc = 1 ]; echo $?)" "rc=$rc"
"$P" cases list --json --data "$T/d1" | python3 -c 'import json,sys; assert isinstance(json.load(sys.stdin), list)'
expect "cases list --json prints an array" $?

# --- global options before the subcommand (as git and docker take them) ---
printf '{"text":"hi","id":"g1"}\n' | "$P" --data "$T/g1" --intents "${PROVBOT_INTENTS:-intents}" chat --jsonl \
    > "$T/g" 2> "$T/err"; rc=$?
[ $rc = 0 ] && grep -q '"reply_to":"g1"' "$T/g" && [ -f "$T/g1/provbot.db" ]
expect "global options before the subcommand: --data DIR chat uses DIR" $? "rc=$rc $(cat "$T/err")"
"$P" --data "$T/g1" cases list --json | python3 -c 'import json,sys; assert isinstance(json.load(sys.stdin), list)'
expect "global options before the subcommand: --data DIR cases list --json" $?
"$P" --data "$T/g1" > /dev/null 2> "$T/err"; rc=$?
[ $rc = 2 ] && grep -q 'no subcommand' "$T/err"
expect "global options and no subcommand: exit 2 naming the problem" $? "rc=$rc $(cat "$T/err")"
"$P" --bogus chat < /dev/null > /dev/null 2> "$T/err"; rc=$?
[ $rc = 2 ] && grep -q -- '--bogus' "$T/err"
expect "an unknown option before the subcommand: exit 2 naming it" $? "rc=$rc $(cat "$T/err")"

# --- a store from a newer provbot is refused ----------------------------
mkdir -p "$T/new" && sqlite3 "$T/new/provbot.db" 'PRAGMA user_version=99;'
echo hi | "$P" chat --jsonl --data "$T/new" > /dev/null 2> "$T/err"; rc=$?
[ $rc = 2 ] && grep -q 'newer than this provbot' "$T/err"
expect "a store with a newer schema: exit 2, clear message" $? "rc=$rc $(cat "$T/err")"

# --- a broken pack: exit 2 naming the file and the field ---------------
broken() { # NAME EXPECTED-REGEX PYTHON-MUTATION
    rm -rf "$T/p" && cp -r "${PROVBOT_INTENTS:-intents}" "$T/p"
    python3 -c "import json,os,re;D='$T/p';$3"
    echo hi | "$P" classify --intents "$T/p" > /dev/null 2> "$T/err"; rc=$?
    if [ $rc = 2 ] && grep -Eq "$2" "$T/err"; then ok "broken pack: $1"; else nok "broken pack: $1" "rc=$rc $(cat "$T/err")"; fi
}
broken "bad JSON, with line and column" 'thanks\.json: bad JSON at line 3, column [0-9]+' \
    "open(D+'/thanks.json','w').write('{\n  \"id\": \"thanks\",\n  \"examples\": [,\n}')"
broken "a pattern that does not compile (pcre2 message, offset)" 'ponr\.json: patterns\[0\]: pattern error at offset [0-9]+: .*' \
    "p=D+'/ponr.json';d=json.load(open(p));d['patterns']=['(unclosed'];json.dump(d,open(p,'w'))"
broken "a missing language" 'help\.json: answer: missing language "sv"' \
    "p=D+'/help.json';d=json.load(open(p));del d['answer']['sv'];json.dump(d,open(p,'w'))"
broken "an unknown intent id (a contract intent missing)" 'intent "goodbye" of the contract is missing' \
    "p=D+'/goodbye.json';d=json.load(open(p));d['id']='good_bye';json.dump(d,open(p,'w'))"
broken "a step asking an unknown question" 'flows\.json: steps\[[0-9]+\]\.ask: unknown question' \
    "p=D+'/flows.json';d=json.load(open(p));d['steps'][2]['ask']='nowhere';json.dump(d,open(p,'w'))"
broken "an FAQ standing for an entry that is not after it" 'flows\.json: faq\[[0-9]+\]\.instead_of: "after_rsd" is no later FAQ entry' \
    "p=D+'/flows.json';d=json.load(open(p));[f for f in d['faq'] if f['id']=='rsd_ahead'][0]['instead_of']=['after_rsd'];json.dump(d,open(p,'w'))"
broken "an FAQ's 'unless' with a bad pattern" 'flows\.json: faq\[[0-9]+\]\.unless\[0\]: pattern error' \
    "p=D+'/flows.json';d=json.load(open(p));[f for f in d['faq'] if f['id']=='after_rsd'][0]['unless']=['(unclosed'];json.dump(d,open(p,'w'))"
broken "a question's yes_when on an unknown fact" 'flows\.json: questions\.access\.yes_when\.when: unknown fact "mood"' \
    "p=D+'/flows.json';d=json.load(open(p));d['questions']['access']['yes_when']={'mood':'happy'};json.dump(d,open(p,'w'))"
broken "an FAQ pending on an unknown question (in a list)" 'flows\.json: faq\[[0-9]+\]\.pending: unknown question' \
    "p=D+'/flows.json';d=json.load(open(p));[f for f in d['faq'] if f['id']=='how_at_question'][0]['pending']=['status','nowhere'];json.dump(d,open(p,'w'))"
broken "a step condition on an unknown fact" 'flows\.json: steps\[0\]\.when: unknown fact "mood"' \
    "p=D+'/flows.json';d=json.load(open(p));d['steps'][0]['when']['mood']='happy';json.dump(d,open(p,'w'))"
broken "a condition with a value the fact cannot take" 'flows\.json: steps\[0\]\.when\.ponr: not a value of the fact' \
    "p=D+'/flows.json';d=json.load(open(p));d['steps'][0]['when']['ponr']='maybe';json.dump(d,open(p,'w'))"
broken "a negated condition ('!value') with a value the fact cannot take" 'flows\.json: steps\[0\]\.when\.ponr: not a value of the fact' \
    "p=D+'/flows.json';d=json.load(open(p));d['steps'][0]['when']['ponr']='!maybe';json.dump(d,open(p,'w'))"
broken "an intent setting an unknown fact" 'closed_line\.json: set\.colour: not a fact of flows\.json' \
    "p=D+'/closed_line.json';d=json.load(open(p));d['set']={'colour':'red'};json.dump(d,open(p,'w'))"
broken "an intent starting an unknown flow" 'open_case\.json: flow: must be "process"' \
    "p=D+'/open_case.json';d=json.load(open(p));d['flow']='nowhere';json.dump(d,open(p,'w'))"
broken "an entity rule that does not compile" 'entities\.json: values\.answer\.yes\[0\]: pattern error' \
    "p=D+'/entities.json';d=json.load(open(p));d['values']['answer']['yes'][0]='[';json.dump(d,open(p,'w'))"
echo hi | "$P" classify --intents "$T/nowhere" > /dev/null 2> "$T/err"; rc=$?
expect "a missing pack folder: exit 2" "$([ $rc = 2 ]; echo $?)" "rc=$rc"
echo "1..$n"
