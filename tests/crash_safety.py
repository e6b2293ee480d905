#!/usr/bin/env python3
"""Crash safety: provbot serve is killed (SIGKILL) at random moments while
many web chat conversations file cases against a flaky case server; it is
restarted each time. Then: every confirmed case was delivered exactly once,
every conversation finished where it left off (after every reconnect, an
unrelated "?" must bring back the question pending before the cut), and
SQLite's integrity_check passes. The case server is the strict fake (body and
token checked, its random plan seeded by CRASH_SEED). Prints TAP.

usage: crash_safety.py PROVBOT [SESSIONS] [KILLS]"""
import json, os, random, re, select, signal, socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fakes"))
from wsclient import WS, Closed  # noqa: E402
from taplib import check, checks, free_port  # noqa: E402

prog = os.path.abspath(sys.argv[1])
nsess = int(sys.argv[2]) if len(sys.argv) > 2 else 24
nkills = int(sys.argv[3]) if len(sys.argv) > 3 else 4
SEED = int(os.environ.get("CRASH_SEED", "4242"))
random.seed(SEED)
tmp = tempfile.mkdtemp()
data = os.path.join(tmp, "data")


case_port, bot_port = free_port(), free_port()
env = dict(os.environ, PROVBOT_CASE_BACKEND="http",
           PROVBOT_CASE_URL="http://127.0.0.1:%d/cases" % case_port,
           PROVBOT_CASE_TOKEN="crash-token-0123",
           PROVBOT_OUTBOX_BACKOFF_MS="100", PROVBOT_CASE_TIMEOUT_MS="500", PROVBOT_LOG="warn")
caselog = os.path.join(tmp, "cases.log")
case_srv = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "fakes", "case_server.py"),
                             str(case_port), caselog, "random", "--seed", str(SEED),
                             "--token", "crash-token-0123"])
bot = None
bot_lock = threading.Lock()


def start_bot():
    global bot
    with bot_lock:
        bot = subprocess.Popen([prog, "serve", "--listen", "127.0.0.1:%d" % bot_port, "--data", data,
                                "--rate-limit", "0"], env=env, stderr=open(os.path.join(tmp, "serve.log"), "a"))
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", bot_port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)


confirmed = {}   # session -> case id seen by the person
errors = []


resumed = [0]
resume_checked, resume_wrong = [0], []


def pending(r):
    """What reply r asks: (expect, its last paragraph)."""
    return r.get("expect"), r.get("text", "").split("\n\n")[-1].strip()


def next_message(i, r):
    """What a person answers to reply r (None: the flow is over)."""
    t, ex = r.get("text", ""), r.get("expect")
    if ex == "line_status":
        return "Awaiting Provisioning Details"
    if ex in ("yes_no", "confirm"):
        if "Control Hub" in t or "pop-up" in t:
            return "no"
        if "work" in t:
            return "no, it still fails"
        return "yes"
    if ex == "order_ref":
        return "%08d" % (60000000 + i)
    if ex == "email":
        return ("me%d@example.com" % i) if "own" in t else ("person%d@example.org" % i)
    if ex == "text":
        return "Save fails with an error"
    return "I need to change the provisioning contact email"


def conversation(i):
    """A person walking the whole path to a case, reconnecting (same session)
    whenever the bot goes away, and answering whatever the bot asks."""
    sess = "crash%03d" % i
    ws, deadline, msg, n = None, time.time() + 90, "I need to change the provisioning contact email", 0
    last, in_flight, cut = None, False, False  # the last reply; a message unanswered; a cut since
    while time.time() < deadline and n < 80:
        try:
            if ws is None:
                ws = WS("127.0.0.1", bot_port)
                ws.send({"type": "hello", "session": sess, "user": "me%d@example.com" % i})
                if ws.recv().get("type") != "welcome":
                    raise Closed("no welcome")
                if cut and last is not None and not in_flight and last.get("expect") != "text":
                    # the cut came while the person was reading: the bot must
                    # still be asking the same thing (not where any text is
                    # the answer: there "?" would be taken as one)
                    ws.send({"type": "message", "text": "?", "id": "q%d" % n})
                    n += 1
                    q = ws.recv()
                    while q.get("type") != "reply":
                        q = ws.recv()
                    resume_checked[0] += 1
                    if pending(q) != pending(last):
                        resume_wrong.append("%s: before the cut %r, after %r" % (sess, pending(last), pending(q)))
                cut = False
            in_flight = True
            ws.send({"type": "message", "text": msg, "id": "m%d" % n})
            n += 1
            r = ws.recv()
            while r.get("type") != "reply":
                r = ws.recv()
            last, in_flight = r, False
            if r.get("case"):
                confirmed[sess] = r["case"]["id"]
                break
            msg = next_message(i, r)
            # a person reading; a cut now (the socket ends) is a cut between turns
            if select.select([ws.s], [], [], 0.05 + random.random() * 0.15)[0] and not ws.buf:
                ws.recv()  # raises Closed: nothing else is due
        except (Closed, OSError, ValueError):
            if ws:
                ws.close()
                resumed[0] += 1
            ws, cut = None, True
            time.sleep(0.05 + random.random() * 0.1)  # then the same message again
    if ws:
        ws.close()
    if sess not in confirmed:
        # (what it had come to, for the next look: messages sent, time left,
        # the bot's last reply)
        errors.append("%s: no case confirmed (%d messages, %.0f s left, last reply %r)"
                      % (sess, n, deadline - time.time(), (last or {}).get("text", "")[:300]))


try:
    start_bot()
    threads = [threading.Thread(target=conversation, args=(i,)) for i in range(nsess)]
    for t in threads:
        t.start()
        time.sleep(0.01)
    kills = 0
    while any(t.is_alive() for t in threads) and kills < nkills:
        time.sleep(0.1 + random.random() * 0.3)
        bot.send_signal(signal.SIGKILL)
        bot.wait()
        kills += 1
        start_bot()
    for t in threads:
        t.join()
    check("every conversation reached its case across %d kill -9s (%d chats cut off and resumed)"
          % (kills, resumed[0]), len(confirmed) == nsess and not errors and resumed[0] > 0, errors[:5])
    check("after every reconnect between turns, the bot asks what it asked before the cut "
          "(%d resumes checked)" % resume_checked[0], resume_checked[0] > 0 and not resume_wrong,
          resume_wrong[:3])
    # let the outbox finish, then stop gracefully
    end = time.time() + 90
    cases = []
    while time.time() < end:
        out = subprocess.run([prog, "cases", "list", "--json", "--data", data], capture_output=True, text=True)
        cases = json.loads(out.stdout or "[]")
        if cases and all(c["status"] == "filed" for c in cases):
            break
        time.sleep(0.3)
    bot.send_signal(signal.SIGTERM)
    check("serve stops cleanly on SIGTERM", bot.wait(timeout=10) == 0)
    ids = {c["id"] for c in cases}
    check("every confirmed case is in the store, filed",
          set(confirmed.values()) <= ids and all(c["status"] == "filed" for c in cases),
          [c for c in cases if c["status"] != "filed"][:3])
    check("one case per conversation, none twice", len(cases) == nsess and
          len({(c["order_ref"], c["new_email"]) for c in cases}) == nsess, len(cases))
    rows = [json.loads(line) for line in open(caselog)]
    created = [r["key"] for r in rows if r.get("created")]
    rejected = [r for r in rows if str(r.get("step", "")).startswith("reject")]
    check("every POST had the right token and a valid case body (seed %d)" % SEED, not rejected,
          rejected[:2])
    check("each case created exactly once at the case server (idempotency key)",
          sorted(created) == sorted(ids), "created %d for %d cases" % (len(created), len(ids)))
    attempts = sum(1 for r in rows if r.get("method") == "POST")
    check("the flaky server made the outbox retry (%d attempts for %d cases)" % (attempts, len(ids)),
          attempts > len(ids))
    integ = subprocess.run(["sqlite3", os.path.join(data, "provbot.db"), "PRAGMA integrity_check"],
                           capture_output=True, text=True).stdout.strip()
    check("SQLite integrity_check passes", integ == "ok", integ)
finally:
    if bot and bot.poll() is None:
        bot.kill()
    case_srv.kill()
print("1..%d" % len(checks))
sys.exit(0 if all(checks) else 1)
