#!/usr/bin/env python3
"""webex_suite.py PROVBOT -- provbot serve in Webex, against the local fake
(webex_fake.py, in this process). Prints TAP. Loopback only, bounded waits.
"""
import json, os, shutil, signal, socket, sqlite3, subprocess, sys, tempfile, time, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webex_fake import Fake, hydra, unhydra, CLUSTER  # noqa: E402

PROVBOT = sys.argv[1]
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKEN = "fake-bot-token-" + uuid.uuid4().hex
T = tempfile.mkdtemp(prefix="webex.")
n = 0
failed = 0


def check(name, ok, detail=""):
    global n, failed
    n += 1
    print(f"{'ok' if ok else 'not ok'} {n} - {name}", flush=True)
    if not ok:
        failed += 1
        for line in str(detail).splitlines()[-12:]:
            print("#   " + line, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait(pred, timeout=8.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


fake = Fake(free_port(), TOKEN).start()
log_path = os.path.join(T, "bot.log")
bot = None


def start_bot(extra=(), allow=None):
    global bot
    env = dict(os.environ, WEBEX_TOKEN=TOKEN, WEBEX_API_URL=fake.base + "/v1",
               WEBEX_U2C_URL=fake.base + "/u2c/api/v1", WEBEX_BACKOFF_MS="150",
               WEBEX_PING_MS="500", PROVBOT_LOG="debug", PROVBOT_CASE_BACKEND="local")
    env.pop("PROVBOT_ALLOW_DOMAINS", None)
    if allow:
        env["PROVBOT_ALLOW_DOMAINS"] = allow
    bot = subprocess.Popen([PROVBOT, "serve", "--listen", f"127.0.0.1:{free_port()}", "--data",
                            os.path.join(T, "d"), "--intents", os.path.join(ROOT, "intents"), *extra],
                           env=env, stdout=subprocess.DEVNULL, stderr=open(log_path, "a"))


def stop_bot():
    global bot
    if bot and bot.poll() is None:
        bot.send_signal(signal.SIGTERM)
        try:
            bot.wait(10)
        except subprocess.TimeoutExpired:
            bot.kill()
            bot.wait()
    rc = bot.returncode if bot else None
    bot = None
    return rc


def log():
    with open(log_path, errors="replace") as f:
        return f.read()


def posts():
    with fake.lock:
        return [d for _, d in fake.posted]


def replies_to(room):
    rid = hydra("ROOM", room)
    return [d for d in posts() if d.get("roomId") == rid]


def say_and_wait(room, email, text, **kw):
    before = len(replies_to(room))
    fake.say(room, email, text, **kw)
    ok = wait(lambda: len(replies_to(room)) > before)
    r = replies_to(room)
    return (r[-1] if ok else None), len(r) - before


try:
    # 1. boot: identity, U2C, a new device, the socket authorized and ready
    start_bot()
    ready = fake.wait_ready(1)
    check("joins: people/me, U2C, a device created, authorization with Bearer, ready",
          ready and fake.device_creates == 1 and fake.auths == [True] and
          any(p == "/v1/people/me" for _, p, _ in fake.requests) and
          any(p.startswith("/u2c/api/v1/catalog?format=hostmap") for _, p, _ in fake.requests),
          log())
    check("pings are sent and the server's envelopes acked",
          wait(lambda: fake.pings >= 1 and len(fake.acks) >= 1, 5), f"pings={fake.pings} acks={fake.acks}")

    # 2. a whole 1:1 conversation ending in a filed case, with a shared screenshot
    dm, alice = str(uuid.uuid4()), "alice@partner.example"
    r, k = say_and_wait(dm, alice, "hello")
    check("1:1: a greeting is answered once, in the same space, with markdown",
          r is not None and k == 1 and r["roomId"] == hydra("ROOM", dm) and r.get("markdown"),
          json.dumps(r) + "\n" + log())
    gets = list(fake.gets)
    check("the message is fetched by its Hydra id with the catalog's cluster, never by raw UUID",
          gets and all(unhydra(g) and unhydra(g)[0] == CLUSTER for g in gets), gets)
    r, _ = say_and_wait(dm, alice, "open a case for order 55512345, new contact it-admin@example.org, "
                                   "the save fails")
    check("the case form asks to confirm", r is not None and "55512345" in r.get("markdown", ""),
          json.dumps(r))
    r, _ = say_and_wait(dm, alice, "", files=1)
    check("a shared screenshot is fetched and attached to the open form",
          r is not None and "📎" in r.get("markdown", "") and "webex_attach" in log(), json.dumps(r))
    r, _ = say_and_wait(dm, alice, "yes")
    md = (r or {}).get("markdown", "")
    check("confirming files the case (reference in the reply)", "PB-000001" in md, md)
    out = subprocess.run([PROVBOT, "cases", "show", "PB-000001", "--json", "--data", os.path.join(T, "d")],
                         capture_output=True, text=True)
    case = json.loads(out.stdout) if out.returncode == 0 else {}
    db = sqlite3.connect(os.path.join(T, "d", "provbot.db"))
    natt = db.execute("SELECT count(*) FROM attachments WHERE case_id='PB-000001'").fetchone()[0]
    db.close()
    check("the case's requester is the person's Webex email, with the screenshot attached",
          case.get("requester") == alice and case.get("status") == "filed" and natt == 1,
          f"{out.stdout} attachments={natt}")

    # 3. the bot's own messages (echoed on the socket) are ignored
    own_gets = [g for g in fake.gets if unhydra(g) and unhydra(g)[2] in
                [unhydra(p["id"])[2] for p in [fake.messages[m] for m in list(fake.messages)]
                 if p["personEmail"] == fake.bot_email]]
    check("its own messages are ignored on the socket (no fetch, no reply)",
          not own_gets and "why=own_activity" in log() and len(replies_to(dm)) == 4,
          f"own_gets={own_gets} replies={len(replies_to(dm))}")

    # 4. a group space: without the mention nothing, with the mention an answer
    grp, bob = str(uuid.uuid4()), "bob@partner.example"
    n_gets = len(fake.gets)
    fake.say(grp, bob, "what does PONR mean?", direct=False)
    time.sleep(1.0)
    check("group space without a mention: no fetch, no answer",
          not replies_to(grp) and len(fake.gets) == n_gets, f"{replies_to(grp)}")
    root = str(uuid.uuid4())
    r, k = say_and_wait(grp, bob, "what does PONR mean?", direct=False, mention=True, parent=root)
    md = (r or {}).get("markdown", "")
    check("group space with the mention: answered once, in the thread, about PONR",
          r is not None and k == 1 and r.get("parentId") == hydra("MESSAGE", root) and
          ("Point of No Return" in md or "PONR" in md), json.dumps(r))
    r, k = say_and_wait(grp, "carol@partner.example", "hello", direct=False, mention=True)
    db = sqlite3.connect(os.path.join(T, "d", "provbot.db"))
    sess = dict(db.execute("SELECT user, session FROM conversations").fetchall())
    db.close()
    check("sessions: a 1:1 space is one conversation, in a group each person has their own",
          r is not None and k == 1 and len({sess.get(alice), sess.get(bob), sess.get("carol@partner.example")}) == 3
          and all(str(v).startswith("wx-") for v in sess.values()), json.dumps(sess))
    b = len(posts())
    fake.say(str(uuid.uuid4()), "other@bots.example", "hello", actor_type="BOT")
    time.sleep(0.8)
    check("another bot is never answered", len(posts()) == b)

    # 5. 429 on POST messages: waits Retry-After, delivers once
    with fake.lock:
        fake.fail_posts = [(429, 1)]
    t0 = time.monotonic()
    before = len(replies_to(dm))
    fake.say(dm, alice, "thanks")
    ok = wait(lambda: len(replies_to(dm)) > before, 8)
    with fake.lock:
        att = [(t, s) for t, s in fake.post_attempts if t >= t0]
    gap = att[1][0] - att[0][0] if len(att) >= 2 else 0
    time.sleep(0.5)
    check("429 on POST /messages: waits Retry-After (1 s), then delivers exactly once",
          ok and [s for _, s in att][:2] == [429, 200] and gap >= 0.95 and
          len(replies_to(dm)) == before + 1, f"attempts={att} gap={gap:.2f}")

    # 5b. a reply that fails to send (503) is retried, not dropped
    with fake.lock:
        fake.fail_posts = [(503, None)]
    t0 = time.monotonic()
    before = len(replies_to(dm))
    fake.say(dm, alice, "hello again")
    ok = wait(lambda: len(replies_to(dm)) > before, 8)
    with fake.lock:
        att = [s for t, s in fake.post_attempts if t >= t0]
    check("a reply that fails with 503 is retried and delivered once", ok and att == [503, 200], att)

    # 6. malformed envelopes are ignored with a log line, the bot keeps answering
    fake.raw_frame("{not json")
    fake.raw_frame(json.dumps({"id": str(uuid.uuid4()), "data": {"eventType": "conversation.activity",
                                                                 "activity": {"verb": "post"}}}))
    fake.raw_frame(json.dumps([1, 2, 3]))
    r, k = say_and_wait(dm, alice, "when is the provisioning email sent?")
    check("malformed envelopes are ignored with a log line; the next message is answered",
          log().count("event=webex_bad_envelope") >= 3 and r is not None and k == 1, log()[-600:])

    # 7. the socket dropped mid-conversation: reconnect; redelivered events are not answered twice
    d2, dave = str(uuid.uuid4()), "dave@partner.example"
    r, _ = say_and_wait(d2, dave, "open a case for order 77700001, new contact n1@example.org, save fails")
    asked = r is not None
    total = len(posts())
    conns = fake.connections
    with fake.lock:
        fake.replay_on_connect = True
    fake.drop(1011)
    reconnected = fake.wait_ready(fake.ready_count + 1, 10)
    time.sleep(1.0)
    check("socket dropped (1011): reconnects with backoff",
          asked and reconnected and fake.connections > conns and "event=webex_reconnect" in log(), log()[-800:])
    check("every activity redelivered after the reconnect is answered zero more times",
          len(posts()) == total and "event=webex_duplicate" in log(), f"{len(posts())} vs {total}")
    with fake.lock:
        fake.replay_on_connect = False
    r, _ = say_and_wait(d2, dave, "yes")
    check("the conversation resumes where it was: confirming files the case",
          r is not None and "PB-000002" in r.get("markdown", ""), json.dumps(r))

    # 8. a stale device: 404 on the handshake -> a new device
    creates = fake.device_creates
    with fake.lock:
        fake.devices.clear()
    fake.drop(1011)
    ok = fake.wait_ready(fake.ready_count + 1, 10)
    check("stale device (HTTP 404 on the handshake): registers a new device and reconnects",
          ok and fake.device_creates == creates + 1 and "event=webex_stale_device" in log(), log()[-800:])
    r, k = say_and_wait(dm, alice, "hello")
    check("answers again on the new device", r is not None and k == 1)

    # 9. a restart: the device is reused; events replayed from before are not answered again
    rc = stop_bot()
    check("a clean stop on SIGTERM (exit 0)", rc == 0, log()[-400:])
    total, creates = len(posts()), fake.device_creates
    with fake.lock:
        fake.replay_on_connect = True
    start_bot(["--webex-unregister"], allow="example.com")
    ok = fake.wait_ready(fake.ready_count + 1, 10)
    time.sleep(1.2)
    check("after a restart: the registered device is reused, nothing is answered twice",
          ok and fake.device_creates == creates and len(posts()) == total, f"{len(posts())} vs {total}")
    with fake.lock:
        fake.replay_on_connect = False

    # 10. PROVBOT_ALLOW_DOMAINS: others get answers, but no case
    e2 = str(uuid.uuid4())
    say_and_wait(e2, "erin@outsider.example", "open a case for order 77700009, new contact n9@example.org, "
                                              "save fails")
    r, _ = say_and_wait(e2, "erin@outsider.example", "yes")
    md = (r or {}).get("markdown", "")
    check("PROVBOT_ALLOW_DOMAINS: a person from another domain is answered but gets no case",
          r is not None and "PB-" not in md and "only open support cases" in md, md)

    # 11. --webex-unregister deletes the device on a clean shutdown
    deletes = fake.device_deletes
    rc = stop_bot()
    check("--webex-unregister: DELETE of the device on a clean shutdown",
          rc == 0 and fake.device_deletes == deletes + 1 and not fake.devices, log()[-400:])

    # 12. close code 4401: stop with a clear log, no reconnect
    start_bot()
    ok = fake.wait_ready(fake.ready_count + 1, 10)
    conns = fake.connections
    fake.drop(4401)
    time.sleep(1.5)
    check("close 4401: stops the Webex channel with a clear log, no reconnect",
          ok and fake.connections == conns and "event=webex_unauthorized" in log() and bot.poll() is None,
          log()[-600:])
    stop_bot()
    check("the token is never logged", TOKEN not in log() and "fake-bot-token" not in log())
except Exception as e:  # a crash in the driver is a failure, not a silent pass
    import traceback
    check("the suite ran to the end", False, traceback.format_exc() + "\n" + (log()[-1500:] if
                                                                              os.path.exists(log_path) else ""))
finally:
    if bot:
        bot.kill()
        bot.wait()
    fake.stop()
    shutil.rmtree(T, ignore_errors=True)
print(f"1..{n}")
sys.exit(1 if failed else 0)
