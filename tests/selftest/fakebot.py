#!/usr/bin/env python3
"""fakebot.py -- a stand-in for provbot that misbehaves on purpose, so that
tests/convtest_self.sh can show the conversation harness fails it.
FAKEBOT_MODE (environment) picks the fault; "good" answers every message
with a valid reply object that echoes the text."""
import json, os, sys, time

mode = os.environ.get("FAKEBOT_MODE", "good")
args = sys.argv[1:]


def reply(text, **over):
    r = {"type": "reply", "reply_to": None, "text": text, "lang": "en", "intent": "greeting",
         "confidence": 1, "expect": None, "buttons": [], "case": None}
    r.update(over)
    return r


if args[:2] == ["cases", "list"]:
    if mode == "cases_crash":
        os.abort()
    if mode == "cases_exit1":
        print("[]")
        sys.exit(1)
    if mode == "cases_garbage":
        print("no cases here")
        sys.exit(0)
    print(json.dumps([{"id": "PB-000001", "type": "Change provisioning contact email",
                       "status": "filed", "order_ref": "55512345", "new_email": "a@example.org",
                       "requester": None, "lang": "en", "summary": "one two three & four",
                       "created_at": "2024-01-01T00:00:00Z", "remote_id": None}]))
    sys.exit(0)

for n, line in enumerate(sys.stdin):
    text = line.rstrip("\n")
    if mode == "silent":
        time.sleep(3600)
    r = reply(text)
    if mode == "missing_field":
        del r["buttons"]
    if mode == "bad_intent":
        r["intent"] = "weather"
    if mode == "bad_case":
        r["case"] = {"id": "PB-1"}
    print(json.dumps(r), flush=True)
    if mode == "extra_line" and n == 0:
        print("debug: hello", flush=True)
    if mode == "sanitizer":
        print("src/x.c:1:2: runtime error: signed integer overflow", file=sys.stderr, flush=True)
if mode == "leak":
    print("==1==ERROR: LeakSanitizer: detected memory leaks", file=sys.stderr)
    sys.exit(23)
if mode == "exit1":
    sys.exit(1)
if mode == "hang_at_exit":
    time.sleep(3600)
