#!/bin/sh
# convtest_self.sh CONVTEST -- the conversation harness fails a wrong bot.
# Runs CONVTEST against tests/selftest/fakebot.py, which misbehaves in one way
# per FAKEBOT_MODE (no reply, stray output, a reply breaking the contract, a
# non-zero exit, a sanitizer report, a hang at exit, a broken `cases list`),
# and against bad .conv lines (a < line checking nothing, a typo in a key, an
# unknown line); each must fail with its reason. A well-behaved fake passes,
# including a whole-line `! case` check. Prints TAP.
C=$1
cd "$(dirname "$0")/.." || exit 1
FAKE=$(pwd)/tests/selftest/fakebot.py
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0
check() { n=$((n+1)); if [ "$2" = 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; [ -n "$3" ] && printf '%s\n' "$3" | head -20 | sed 's/^/#   /'; fi; }

# run NAME MODE CONV-TEXT EXPECTED-REGEX: convtest must exit 1 and say why
fails() {
    printf '%% FAKEBOT_MODE=%s\n%b' "$2" "$3" > "$T/$1.conv"
    TEST_SLOWDOWN=0.2 "$C" "$FAKE" "$T/$1.conv" > "$T/$1.tap" 2>&1; rc=$?
    [ $rc = 1 ] && grep -q '^not ok' "$T/$1.tap" && grep -Eq "$4" "$T/$1.tap"
    check "convtest fails: $1" $? "rc=$rc $(cat "$T/$1.tap")"
}
hi='@\n> hi\n< text~hi\n'
fails "a bot that never replies (per-reply timeout)" silent "$hi" 'no reply within 2000 ms'
fails "a stray stdout line after a reply" extra_line '@\n> hi\n< text~hi\n> again\n< text~again\n' 'stray output'
fails "a reply without buttons" missing_field "$hi" 'contract at "buttons"'
fails "a reply with an intent outside the catalogue" bad_intent "$hi" 'contract at "intent"'
fails "a reply with a case missing fields" bad_case "$hi" 'case object breaks the contract'
fails "exit status 1" exit1 "$hi" 'exit status 1'
fails "a runtime error: on stderr" sanitizer "$hi" 'sanitizer report on stderr: .*runtime error'
fails "a LeakSanitizer report and exit 23" leak "$hi" 'exit status 23'
fails "a bot that does not exit when its input ends" hang_at_exit "$hi" 'output was not closed within|did not exit within'
fails "cases list crashing" cases_crash '! cases 0\n' 'cases list --json killed by signal'
fails "cases list exiting 1" cases_exit1 '! cases 0\n' 'cases list --json exit status 1'
fails "cases list printing no JSON" cases_garbage '! cases 0\n' 'printed no JSON array'
fails "a < line that checks no text, intent or case field" good '@\n> hi\n< lang=en & expect=null\n' 'must check text, intent or case'
fails "a misspelt key" good '@\n> hi\n< txet~hi\n' 'harness error: bad check'
fails "a line with an unknown prefix" good '@\n> hi\n<text~hi\n? what\n' 'harness error: a line starts with'
fails "a whole-line case check (not cut at a space)" good '! case 0 summary~^one two three$\n' 'summary~\^one two three\$: got one two three & four'
fails "a text check that does not match" good "@\n> hi\n< text~bye\n" 'text~bye: got hi'
fails "a JSON message whose id does not come back" good '@\n> {"text":"hi","id":"m7"}\n< text~hi\n' 'contract at "reply_to"'

printf '%s\n' '% FAKEBOT_MODE=good' '@ --session s1' '> hi there' '< text~^hi there$ & intent=greeting & lang=en & buttons=[] & buttons!~. & case=null' \
    '! cases 1' '! case 0 summary~^one two three & four$' '! case 0 summary=one two three & four' > "$T/good.conv"
"$C" "$FAKE" "$T/good.conv" > "$T/good.tap" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(grep -c '^ok' "$T/good.tap")" = 5 ] && ! grep -q '^not ok' "$T/good.tap"
check "convtest passes a well-behaved bot (whole-line checks with spaces and &)" $? "rc=$rc $(cat "$T/good.tap")"
echo "1..$n"
