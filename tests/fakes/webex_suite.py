#!/usr/bin/env python3
"""webex_suite.py PROVBOT -- provbot serve in Webex, against the local fake
(webex_fake.py, in this process). Prints TAP. Loopback only. The checks wait
for events (a reply, a log line, an ack); where a deadline is unavoidable it
is scaled by TEST_SLOWDOWN, and "nothing happened" is only asserted after a
positive control: an event that comes later than the one that must not come.
"""
import base64, json, os, shutil, signal, socket, sqlite3, struct, subprocess, sys, tempfile, time
import re as _re, urllib.request, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webex_fake import Fake, Proxy, hydra, unhydra, CLUSTER, ALT_CONV_HOST  # noqa: E402
from taplib import free_port  # noqa: E402

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


SLOW = float(os.environ.get("TEST_SLOWDOWN", "1") or 1)


def wait(pred, timeout=8.0):
    end = time.monotonic() + timeout * SLOW
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


fake = Fake(free_port(), TOKEN).start()
log_path = os.path.join(T, "bot.log")
bot = None


listen_port = None


def start_bot(extra=(), allow=None, env_extra=None):
    global bot, listen_port
    listen_port = free_port()
    env = dict(os.environ, WEBEX_TOKEN=TOKEN, WEBEX_API_URL=fake.base + "/v1",
               WEBEX_U2C_URL=fake.base + "/u2c/api/v1", WEBEX_BACKOFF_MS="150",
               WEBEX_PING_MS="500", PROVBOT_LOG="debug", PROVBOT_CASE_BACKEND="local")
    env.pop("PROVBOT_ALLOW_DOMAINS", None)
    for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        env.pop(k, None)
    if allow:
        env["PROVBOT_ALLOW_DOMAINS"] = allow
    env.update(env_extra or {})
    bot = subprocess.Popen([PROVBOT, "serve", "--listen", f"127.0.0.1:{listen_port}", "--data",
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


def log_count(s):
    return log().count(s)


def say_and_wait(room, email, text, **kw):
    before = len(replies_to(room))
    fake.say(room, email, text, **kw)
    ok = wait(lambda: len(replies_to(room)) > before)
    r = replies_to(room)
    return (r[-1] if ok else None), len(r) - before


def raw_ws_auth(f, masked):
    """Connects to f's Mercury socket as a minimal client and sends the
    authorization frame, masked or not. Returns the first frame's (opcode, payload)."""
    req = urllib.request.Request(f.base + "/wdm/api/v1/devices", data=b"{}", method="POST",
                                 headers={"Authorization": "Bearer " + TOKEN})
    did = json.load(urllib.request.urlopen(req, timeout=5))["url"].rsplit("/", 1)[1]
    c = socket.create_connection(("127.0.0.1", f.port), 5)
    c.sendall((f"GET /mercury/{did}/messages HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += c.recv(1)
    data = json.dumps({"id": "1", "type": "authorization",
                       "data": {"token": "Bearer " + TOKEN}}).encode()
    mask = os.urandom(4) if masked else b""
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(data)) if masked else data
    c.sendall(bytes([0x81, (0x80 if masked else 0) | 126]) + struct.pack("!H", len(data)) + mask + body)
    h = c.recv(2)
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", c.recv(2))[0]
    payload = b""
    while len(payload) < n:
        payload += c.recv(n - len(payload))
    c.close()
    return h[0] & 0x0F, payload


try:
    # 0. the fake itself is strict: an unmasked client frame is closed with
    # 1002, a masked one gets the ready signal (the positive control)
    f0 = Fake(free_port(), TOKEN).start()
    try:
        op_u, p_u = raw_ws_auth(f0, masked=False)
        op_m, p_m = raw_ws_auth(f0, masked=True)
    finally:
        f0.stop()
    check("the fake closes an unmasked client frame with 1002, answers a masked one",
          op_u == 8 and p_u[:2] == struct.pack("!H", 1002) and f0.protocol_errors and
          op_m == 1 and b"mercury.buffer_state" in p_m, (op_u, p_u, op_m, p_m, f0.protocol_errors))

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
                                   "the save fails, org not onboarded")
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
    n_gets, ignored = len(fake.gets), log_count("why=not_mentioned")
    root = fake.say(grp, bob, "what does PONR mean?", direct=False)
    seen = wait(lambda: log_count("why=not_mentioned") > ignored)
    check("group space without a mention: seen and ignored (log), no fetch, no answer",
          seen and not replies_to(grp) and len(fake.gets) == n_gets, f"{replies_to(grp)}")
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
    b, ignored = len(posts()), log_count("why=bot_actor")
    fake.say(str(uuid.uuid4()), "other@bots.example", "hello", actor_type="BOT")
    seen = wait(lambda: log_count("why=bot_actor") > ignored)
    r, k = say_and_wait(grp, bob, "thanks", direct=False, mention=True, parent=root)
    check("another bot is never answered (seen, ignored; the next person's message is)",
          seen and r is not None and k == 1 and len(posts()) == b + 1, f"{len(posts())} vs {b}")
    # a reply in a thread: the bot answers in the thread, to its root, never to the reply
    reply = fake.say(grp, bob, "and what is a sub reference?", direct=False, parent=root)
    r, k = say_and_wait(grp, bob, "what is a sub reference?", direct=False, mention=True, parent=root)
    check("a mention inside a thread is answered in the thread's root, not to a reply",
          r is not None and k == 1 and r.get("parentId") in (hydra("MESSAGE", root), root) and
          r.get("parentId") not in (hydra("MESSAGE", reply), reply), json.dumps(r))

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
    check("429 on POST /messages: waits Retry-After (1 s), then delivers",
          ok and [s for _, s in att][:2] == [429, 200] and gap >= 0.95, f"attempts={att} gap={gap:.2f}")
    before_429 = before

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
    check("... and the 429'd reply was delivered exactly once (counted after the next reply)",
          len(replies_to(dm)) == before_429 + 2, len(replies_to(dm)) - before_429)

    # 5c. 423 (Locked) and 429 on GET /messages/ID: waits each Retry-After, never gives up
    for plan in ([(423, 1)], [(429, 1), (423, 1), (429, 1)]):
        with fake.lock:
            fake.fail_gets = list(plan)
        t0 = time.monotonic()
        before = len(replies_to(dm))
        fake.say(dm, alice, "what does PONR mean?")
        ok = wait(lambda: len(replies_to(dm)) > before, 8 + 2 * len(plan))
        with fake.lock:
            att = [(t, st) for t, st in fake.get_attempts if t >= t0]
        gaps = [b[0] - a[0] for a, b in zip(att, att[1:])]
        md = (replies_to(dm)[-1] if ok else {}).get("markdown", "")
        check("GET /messages answered %s (Retry-After 1 s): waits each, then answers once"
              % "+".join(str(st) for st, _ in plan),
              ok and [st for _, st in att] == [st for st, _ in plan] + [200] and
              all(g >= 0.95 for g in gaps) and "Point of No Return" in md and
              log_count("event=webex_rate_limited op=message status=423") >= 1,
              f"attempts={[st for _, st in att]} gaps={gaps} {md[:80]}")

    # 5d. no pong: the server stops answering pings; the bot must notice and reconnect
    conns, rc0 = fake.connections, fake.ready_count
    with fake.lock:
        fake.no_pong = True
    ok = fake.wait_ready(rc0 + 1, 10 * SLOW)
    with fake.lock:
        fake.no_pong = False
    check("no pong: the bot closes the silent socket and reconnects",
          ok and fake.connections > conns and "event=webex_timeout what=pong" in log(), log()[-600:])
    r, k = say_and_wait(dm, alice, "hello")
    check("... and answers on the new connection", r is not None and k == 1)

    # 5e. close 4000 with a reason other than "replaced" (Mercury rebalancing,
    # webex-js-sdk PR #5106) is a transient close: reconnect, keep answering
    conns, rc0 = fake.connections, fake.ready_count
    fake.drop(4000, b"rebalancing")
    ok = fake.wait_ready(rc0 + 1, 10 * SLOW)
    r, k = say_and_wait(dm, alice, "hello")
    check("close 4000 \"rebalancing\": reconnects (only reason \"replaced\" stops) and answers",
          ok and fake.connections > conns and r is not None and k == 1 and
          "event=webex_replaced" not in log(), log()[-600:])

    # 5f. an edit (a post whose parent.type is "edit") is not a new message:
    # never answered; the next real message is (the positive control)
    before = len(replies_to(dm))
    orig = fake.say(dm, alice, "what does PONR mean?")
    wait(lambda: len(replies_to(dm)) > before)
    edits = log_count("why=edit")
    fake.edit(orig, "what does PONR mean exactly?")
    seen = wait(lambda: log_count("why=edit") > edits)
    r, k = say_and_wait(dm, alice, "thanks")
    check("an edit (parent.type edit) is not answered as a new message; the next message is",
          seen and r is not None and k == 1 and len(replies_to(dm)) == before + 2,
          f"replies {len(replies_to(dm))} vs {before}+2")

    # 5g. cluster lookup: a conversation host found as an entry's host under
    # another catalog key (js-sdk findClusterId) gives that entry's cluster
    n_bad = len(fake.bad_requests)
    with fake.lock:
        fake.conv_base = "https://" + ALT_CONV_HOST
    r, k = say_and_wait(dm, alice, "hello")
    with fake.lock:
        fake.conv_base = "https://conv-k.wbx2.com"
    check("a conversation host listed as an entry's host (not a key) of the catalog: the "
          "message is read with that entry's cluster",
          r is not None and k == 1 and len(fake.bad_requests) == n_bad,
          f"{fake.bad_requests[n_bad:]}\n{log()[-600:]}")
    # ... a host in no entry: the guess "us" 404s; the bot logs it and asks the
    # conversation service (target.url, conversations/ -> messages/) for the id
    n_bad, n_look = len(fake.bad_requests), len(fake.conv_lookups)
    with fake.lock:
        fake.conv_base = fake.base
    r, k = say_and_wait(dm, alice, "hello")
    with fake.lock:
        fake.conv_base = "https://conv-k.wbx2.com"
        wrong = fake.bad_requests[n_bad:]
        del fake.bad_requests[n_bad:]          # the one wrong-cluster read is expected here
    check("a host unknown to the catalog: logged, the 404 falls back to the conversation "
          "service's id, answered once",
          r is not None and k == 1 and len(fake.conv_lookups) == n_look + 1 and len(wrong) == 1 and
          "event=webex_cluster_unknown" in log() and "event=webex_cluster_fallback" in log(),
          f"wrong={wrong} lookups={fake.conv_lookups[n_look:]}\n{log()[-600:]}")

    # 5h. a failed message read (502, then 404) is retried with backoff, not
    # dropped; the message is answered exactly once
    with fake.lock:
        fake.fail_gets = [(502, None), (404, None)]
    t0 = time.monotonic()
    before = len(replies_to(dm))
    fake.say(dm, alice, "what does PONR mean?")
    ok = wait(lambda: len(replies_to(dm)) > before, 10)
    with fake.lock:
        att = [st for t, st in fake.get_attempts if t >= t0]
    r, k = say_and_wait(dm, alice, "thanks")
    check("GET /messages 502 then 404: retried with backoff, answered exactly once",
          ok and att == [502, 404, 200] and r is not None and k == 1 and
          len(replies_to(dm)) == before + 2 and log_count("event=webex_message_retry") >= 2,
          f"attempts={att} replies={len(replies_to(dm)) - before}\n{log()[-600:]}")
    db = sqlite3.connect(os.path.join(T, "d", "provbot.db"))
    chans = dict(db.execute("SELECT session, channel FROM conversations").fetchall())
    db.close()
    check("Webex conversations are stored with channel \"webex\"",
          chans and all(c == "webex" for c in chans.values()), chans)

    # 5i. the case form as an Adaptive Card: the confirmation carries a card
    # (schema 1.3, markdown fallback) prefilled with what is known; a
    # submission with an invalid email gets the reason; a valid one files
    # the case through the same path (the dialog's confirmation)
    d5, hal = str(uuid.uuid4()), "hal@partner.example"
    r, _ = say_and_wait(d5, hal, "open a case for order 55599911, new contact it-ops@example.org, "
                                  "the save fails, org not onboarded")
    att = (r or {}).get("attachments") or [{}]
    card = att[0].get("content") or {}
    vals = {i.get("id"): i.get("value") for i in card.get("body", []) if i.get("type") == "Input.Text"}
    check("the case confirmation carries an Adaptive Card 1.3 prefilled with the order and email, "
          "markdown as the fallback",
          r is not None and card.get("version") == "1.3" and vals.get("order_ref") == "55599911" and
          vals.get("new_email") == "it-ops@example.org" and vals.get("description") and
          "55599911" in r.get("markdown", ""), json.dumps(r)[:600])
    card_id = None
    with fake.lock:
        for m in fake.messages.values():
            if m.get("attachments") and m["roomId"] == hydra("ROOM", d5):
                card_id = m["id"]
    before = len(replies_to(d5))
    bad = dict(vals, new_email="it-ops@example", pb_action="confirm")
    fake.submit_card(card_id, bad, hal)
    ok = wait(lambda: len(replies_to(d5)) > before)
    md = (replies_to(d5)[-1] if ok else {}).get("markdown", "")
    check("a card submission with an invalid email: the reason in the space, no case",
          ok and "not valid" in md and "PB-" not in md, md)
    before = len(replies_to(d5))
    fake.submit_card(card_id, dict(vals, pb_action="confirm"), hal)
    ok = wait(lambda: len(replies_to(d5)) > before)
    md = (replies_to(d5)[-1] if ok else {}).get("markdown", "")
    ref = (_re.findall(r"PB-\d{6}", md) or [""])[0]
    out = subprocess.run([PROVBOT, "cases", "show", ref or "none", "--json", "--data", os.path.join(T, "d")],
                         capture_output=True, text=True)
    case = json.loads(out.stdout) if out.returncode == 0 and ref else {}
    check("a valid card submission files the case (read by GET /attachment/actions), requester "
          "the submitter", ok and ref and case.get("order_ref") == "55599911" and
          case.get("new_email") == "it-ops@example.org" and case.get("requester") == hal, md + out.stdout)

    # 5j. a yes/no question with quick replies goes as an Adaptive Card: one
    # Action.Submit per button; a press is the label as if typed (compared
    # with the same conversation typed in another space); a second press of
    # the same card is no second answer
    d6, d7, ivy = str(uuid.uuid4()), str(uuid.uuid4()), "ivy@partner.example"
    r, _ = say_and_wait(d6, ivy, "open a support case")
    r7, _ = say_and_wait(d7, ivy, "open a support case")
    md = (r or {}).get("markdown", "")
    labels = _re.findall(r"\*\*(.+?)\*\*", md.rsplit("\n", 1)[-1])
    att = (r or {}).get("attachments") or [{}]
    card = att[0].get("content") or {}
    acts = card.get("actions") or []
    check("a yes/no question with buttons carries an Adaptive Card 1.3: one Action.Submit per "
          "button (title and data the label), the text in the card, markdown the fallback",
          r is not None and len(labels) >= 2 and card.get("version") == "1.3" and
          att[0].get("contentType") == "application/vnd.microsoft.card.adaptive" and
          [a.get("type") for a in acts] == ["Action.Submit"] * len(labels) and
          [a.get("title") for a in acts] == labels and
          [(a.get("data") or {}).get("pb_answer") for a in acts] == labels and
          any(b.get("type") == "TextBlock" and b.get("text") and b["text"] in md
              for b in card.get("body", [])), json.dumps(r)[:800])

    def card_of(room):
        with fake.lock:
            ms = [m for m in fake.messages.values() if m.get("attachments") and
                  m["roomId"] == hydra("ROOM", room)]
        return ms[-1]["id"] if ms else None

    no = labels[1] if len(labels) > 1 else "No"
    before, c6 = len(replies_to(d6)), card_of(d6)
    if c6:                                             # no card: the checks below fail
        fake.submit_card(c6, {"pb_answer": no}, ivy)
    ok = wait(lambda: len(replies_to(d6)) > before)
    md6 = (replies_to(d6)[-1] if ok else {}).get("markdown", "")
    r7, _ = say_and_wait(d7, ivy, no)
    check("pressing a button answers the question exactly as typing its label does",
          ok and md6 and md6 == (r7 or {}).get("markdown") and "order" in md6.lower(),
          f"pressed: {md6[:200]}\ntyped: {(r7 or {}).get('markdown', '')[:200]}")
    repeats = log_count("event=webex_card_repeat")
    before = len(replies_to(d6))
    if c6:
        fake.submit_card(c6, {"pb_answer": no}, ivy)      # the same card again
    seen = wait(lambda: log_count("event=webex_card_repeat") > repeats)
    order_msg = fake.say(d6, ivy, "order 55512345")
    ok = wait(lambda: len(replies_to(d6)) > before)
    md = (replies_to(d6)[-1] if ok else {}).get("markdown", "")
    check("a second press of the same card gives no second answer (the next message is answered)",
          seen and ok and len(replies_to(d6)) == before + 1 and "email" in md.lower(), md)

    # 5k. an edit while a case-form question is pending is a correction;
    # its redelivery is not answered again
    before = len(replies_to(d6))
    edit_id = fake.edit(order_msg, "order 55512399")
    ok = wait(lambda: len(replies_to(d6)) > before)
    md = (replies_to(d6)[-1] if ok else {}).get("markdown", "")
    st = sqlite3.connect(os.path.join(T, "d", "provbot.db")).execute(
        "SELECT state FROM conversations WHERE user=?", (ivy,)).fetchall()
    check("an edit while the case form asks (the new email): taken as a correction, answered once",
          ok and "55512399" in md and "event=webex_edit_correction" in log() and
          any("55512399" in (x[0] or "") for x in st), md + "\n" + log()[-400:])
    dups = log_count("event=webex_duplicate")
    fake.redeliver(edit_id)
    seen = wait(lambda: log_count("event=webex_duplicate") > dups)
    r, k = say_and_wait(d6, ivy, "new contact it-ivy@example.org")
    check("... the edit redelivered is not answered twice (the next message is)",
          seen and r is not None and k == 1 and len(replies_to(d6)) == before + 2,
          f"replies {len(replies_to(d6)) - before}")

    # 5l. frames over 64 KiB: a 100 KiB envelope in 16 KiB fragments and an
    # 80 KiB one in a single frame (64-bit length) are reassembled and
    # answered; one over the bot's 256 KiB cap is logged and dropped, the bot
    # stays up and answers the next message
    for pad, frag in ((100 * 1024, 16 * 1024), (80 * 1024, None)):
        before = len(replies_to(dm))
        fake.say(dm, alice, "what does PONR mean?", pad=pad, frag=frag)
        ok = wait(lambda: len(replies_to(dm)) > before)
        md = (replies_to(dm)[-1] if ok else {}).get("markdown", "")
        check("an envelope of %d KiB %s is reassembled and answered" %
              (pad // 1024, "in %d KiB fragments" % (frag // 1024) if frag else "in one frame"),
              ok and "Point of No Return" in md and len(replies_to(dm)) == before + 1, log()[-400:])
    too = log_count("why=too_large")
    raw = fake.say(dm, alice, "hello", pad=300 * 1024, send=False)
    with fake.lock:
        big = [e for r_, e in fake.envelopes if r_ == raw][0]
        fake.envelopes = [(r_, e) for r_, e in fake.envelopes if r_ != raw]  # never redelivered
    before = len(replies_to(dm))
    fake.emit(big, record=False, frag=32 * 1024)
    seen = wait(lambda: log_count("why=too_large") > too)
    r, k = say_and_wait(dm, alice, "thanks")
    check("an envelope over the 256 KiB cap: logged and dropped, the bot stays up and answers "
          "the next message", seen and r is not None and k == 1 and bot.poll() is None and
          len(replies_to(dm)) == before + 1, log()[-400:])

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
    r, _ = say_and_wait(d2, dave, "open a case for order 77700001, new contact n1@example.org, save fails, org not onboarded")
    asked = r is not None
    total, conns, n_gets = len(posts()), fake.connections, len(fake.gets)
    with fake.lock:
        fake.replay_on_connect = True
        replayed = [json.loads(e)["id"] for _, e in fake.envelopes]
    t_drop = time.monotonic()
    fake.drop(1011)
    reconnected = fake.wait_ready(fake.ready_count + 1, 10 * SLOW)
    reconnect_s = time.monotonic() - t_drop
    with fake.lock:
        fake.replay_on_connect = False
    check("socket dropped (1011): reconnects with backoff",
          asked and reconnected and fake.connections > conns and "event=webex_reconnect" in log(), log()[-800:])
    # every replayed envelope acked (seen), then a new message answered (the positive
    # control): only then "nothing more" is meaningful
    acked = wait(lambda: all(fake.acks.count(i) >= 2 for i in replayed))
    r, _ = say_and_wait(d2, dave, "yes")
    check("every activity redelivered after the reconnect is acked and answered zero more times",
          acked and r is not None and len(posts()) == total + 1 and len(fake.gets) == n_gets + 1 and
          "event=webex_duplicate" in log(), f"acked={acked} posts {len(posts())} vs {total}+1")
    check("the conversation resumes where it was: confirming files the case",
          r is not None and "Your case reference is **PB-" in r.get("markdown", "") and "dave@partner.example" in r.get("markdown", ""), json.dumps(r))

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

    # 8b. "User has excessive device registrations" (403 on POST devices): the
    # token's devices are listed, the oldest third by modificationTime
    # deleted, the device registered again
    with fake.lock:
        fake.devices.clear()
    others = [fake.add_device("other-%d" % i, mtime="2026-0%d-01T00:00:00.000Z" % (i + 1))
              for i in range(9)]
    with fake.lock:
        fake.max_devices, creates = 9, fake.device_creates
    oldest = {d["url"] for d in others[:3]}
    fake.drop(1011)
    ok = fake.wait_ready(fake.ready_count + 1, 10 * SLOW)
    with fake.lock:
        left = {d["url"] for d in fake.devices.values()}
        fake.max_devices = 10
    check("403 excessive device registrations: the oldest third (3 of 9) deleted, registered again",
          ok and fake.device_creates == creates + 1 and not (oldest & left) and
          all(d["url"] in left for d in others[3:]) and log_count("event=webex_device_pruned") == 3,
          f"ok={ok} creates={fake.device_creates - creates} left={len(left)}\n{log()[-800:]}")
    r, k = say_and_wait(dm, alice, "hello")
    check("... and answers on the new device", r is not None and k == 1)

    # 9. a restart: the device is reused; events replayed from before are not answered again
    rc = stop_bot()
    check("a clean stop on SIGTERM (exit 0)", rc == 0, log()[-400:])
    total, creates, n_gets = len(posts()), fake.device_creates, len(fake.gets)
    with fake.lock:
        fake.replay_on_connect = True
        replayed = [json.loads(e)["id"] for _, e in fake.envelopes]
        acks0 = {i: fake.acks.count(i) for i in replayed}
    start_bot(["--webex-unregister"], allow="example.com")
    ok = fake.wait_ready(fake.ready_count + 1, 10 * SLOW)
    with fake.lock:
        fake.replay_on_connect = False
    acked = wait(lambda: all(fake.acks.count(i) > acks0[i] for i in replayed))
    r, k = say_and_wait(dm, alice, "hello")
    check("after a restart: the device is reused, the replay acked, nothing answered twice "
          "(a new message is: the control)",
          ok and acked and fake.device_creates == creates and r is not None and k == 1 and
          len(posts()) == total + 1 and len(fake.gets) == n_gets + 1,
          f"acked={acked} posts {len(posts())} vs {total}+1, gets {len(fake.gets)} vs {n_gets}+1")

    # 10. PROVBOT_ALLOW_DOMAINS: others get answers, but no case
    e2 = str(uuid.uuid4())
    say_and_wait(e2, "erin@outsider.example", "open a case for order 77700009, new contact n9@example.org, "
                                              "save fails, org not onboarded")
    r, _ = say_and_wait(e2, "erin@outsider.example", "yes")
    md = (r or {}).get("markdown", "")
    check("PROVBOT_ALLOW_DOMAINS: a person from another domain is answered but gets no case",
          r is not None and "PB-" not in md and "only open support cases" in md, md)

    # 11. --webex-unregister deletes the device on a clean shutdown
    deletes = fake.device_deletes
    rc = stop_bot()
    check("--webex-unregister: DELETE of the device on a clean shutdown",
          rc == 0 and fake.device_deletes == deletes + 1 and
          not [d for d in fake.devices.values() if d.get("name") == "provbot"], log()[-400:])

    # 11b. a restart resumes what was pending: a message whose read kept
    # failing (502) when the bot stopped, and a reply still failing (503)
    d3, fay = str(uuid.uuid4()), "fay@partner.example"
    start_bot()
    ok = fake.wait_ready(fake.ready_count + 1, 10)

    def stop_while_failing(fails, attempts, status, kind):
        """Stops the bot while `fails` (fake.fail_gets or fail_posts) keep a
        PONR question failing with status, restarts it: (ok, detail) of
        "answered exactly once, resumed as kind"."""
        with fake.lock:
            fails[:] = [(status, None)] * 50
            n0 = len(attempts)
        fake.say(d3, fay, "what does PONR mean?")
        failing = wait(lambda: len(attempts) >= n0 + 2)
        stop_bot()
        with fake.lock:
            fails[:] = []
        before, rc0 = len(replies_to(d3)), fake.ready_count
        start_bot()
        resumed = wait(lambda: len(replies_to(d3)) > before, 10)
        fake.wait_ready(rc0 + 1, 10)
        r, k = say_and_wait(d3, fay, "thanks")
        md = (replies_to(d3)[before] if resumed else {}).get("markdown", "")
        return (failing and resumed and "Point of No Return" in md and r is not None and k == 1 and
                len(replies_to(d3)) == before + 2 and "kind=" + kind in log(),
                f"failing={failing} resumed={resumed} replies={len(replies_to(d3)) - before}\n"
                f"{log()[-600:]}")

    good, detail = stop_while_failing(fake.fail_gets, fake.get_attempts, 502, "activity")
    check("restart: a message whose read was failing is resumed from the store, answered once",
          ok and good, detail)
    good, detail = stop_while_failing(fake.fail_posts, fake.post_attempts, 503, "reply")
    check("restart: a committed reply still failing (503) is kept in the store and sent once",
          good, detail)
    stop_bot()

    # 11b'. a message read that times out is retried, answered once
    start_bot(env_extra={"WEBEX_TIMEOUT_MS": "500"})
    ok = fake.wait_ready(fake.ready_count + 1, 10)
    with fake.lock:
        fake.fail_gets = [("hang", 2)]
    before = len(replies_to(d3))
    fake.say(d3, fay, "what does PONR mean?")
    got = wait(lambda: len(replies_to(d3)) > before, 10)
    r, k = say_and_wait(d3, fay, "thanks")
    check("a message read that times out is retried with backoff and answered once",
          ok and got and r is not None and k == 1 and len(replies_to(d3)) == before + 2 and
          "event=webex_message_retry" in log() and "status=0" in log(),
          f"replies={len(replies_to(d3)) - before}\n{log()[-600:]}")
    stop_bot()

    # 11c. the REST queue is bounded: past WEBEX_QUEUE_MAX new activities are
    # shed (log line + metric), not marked handled
    start_bot(env_extra={"WEBEX_QUEUE_MAX": "1"})
    ok = fake.wait_ready(fake.ready_count + 1, 10)
    with fake.lock:
        fake.get_delay = 1.0
    shed0 = log_count("event=webex_queue_shed")
    for i in range(3):
        fake.say(str(uuid.uuid4()), "gil@partner.example", "hello")
    shed = wait(lambda: log_count("event=webex_queue_shed") >= shed0 + 2)
    with fake.lock:
        fake.get_delay = 0.0
    try:
        mtxt = urllib.request.urlopen(f"http://127.0.0.1:{listen_port}/metrics", timeout=5).read().decode()
    except OSError as e:
        mtxt = str(e)
    check("a full REST queue sheds new activities with a log line and a metric",
          ok and shed and "provbot_webex_shed_total 2" in mtxt, mtxt[-300:] + log()[-300:])
    stop_bot()

    # 11d. behind a proxy: HTTPS_PROXY carries the WebSocket (CONNECT to the
    # Mercury host), as it carries libcurl's https calls; the bot answers
    proxy = Proxy(free_port())
    try:
        start_bot(env_extra={"HTTPS_PROXY": f"http://user:secret@127.0.0.1:{proxy.port}",
                             "NO_PROXY": "example.org,.wbx2.com"})    # names other hosts
        ok = fake.wait_ready(fake.ready_count + 1, 10)
        r, k = say_and_wait(dm, alice, "hello")
        check("HTTPS_PROXY: the WebSocket goes through the proxy (CONNECT), answers; "
              "the proxy's credentials are never logged",
              ok and f"127.0.0.1:{fake.port}" in proxy.connects and r is not None and k == 1 and
              "secret" not in log(), f"connects={proxy.connects}\n{log()[-400:]}")
        stop_bot()
    finally:
        proxy.stop()

    # 11e. NO_PROXY naming the Mercury host (as written, or "*"): the socket
    # goes direct, as libcurl does for REST; the proxy sees nothing
    for no_proxy in ("localhost, 127.0.0.1", "*"):
        proxy = Proxy(free_port())
        try:
            start_bot(env_extra={"HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}", "no_proxy": no_proxy})
            ok = fake.wait_ready(fake.ready_count + 1, 10)
            r, k = say_and_wait(dm, alice, "hello")
            check("no_proxy=%r: the WebSocket goes direct (the proxy unused), answers" % no_proxy,
                  ok and not proxy.connects and not proxy.requests and r is not None and k == 1 and
                  "via=direct why=no_proxy" in log(), f"connects={proxy.connects}\n{log()[-400:]}")
            stop_bot()
        finally:
            proxy.stop()

    # 11f. an ack that cannot be queued (WEBEX_OUTQ_MAX=1, a backlog of
    # activities in one write) is logged and counted, and its activity is
    # not acted on: Mercury delivers it again, and then it is answered,
    # exactly once
    start_bot(env_extra={"WEBEX_OUTQ_MAX": "1"})
    ok = fake.wait_ready(fake.ready_count + 1, 10)
    rooms = [str(uuid.uuid4()) for _ in range(4)]
    raws = [fake.say(rm, "jo@partner.example", "hello", send=False) for rm in rooms]
    with fake.lock:
        burst = [e for r_, e in fake.envelopes if r_ in raws]
    deferred0 = log_count("event=webex_activity_deferred")
    fake.emit_burst(burst)
    deferred = wait(lambda: log_count("event=webex_activity_deferred") > deferred0)
    some = wait(lambda: any(replies_to(rm) for rm in rooms))
    redelivered = 0
    for r_, e in fake.unacked():
        if r_ in raws:
            fake.emit(e, record=False)
            redelivered += 1
            wait(lambda: json.loads(e)["id"] in fake.acks)
    answered = wait(lambda: all(replies_to(rm) for rm in rooms))
    r, k = say_and_wait(rooms[0], "jo@partner.example", "thanks")
    try:
        mtxt = urllib.request.urlopen(f"http://127.0.0.1:{listen_port}/metrics", timeout=5).read().decode()
    except OSError as e:
        mtxt = str(e)
    dropped = _re.search(r"^provbot_webex_frames_dropped_total (\d+)", mtxt, _re.M)
    check("an ack that cannot be queued: logged and counted, its activity not acted on; "
          "redelivered, it is answered exactly once",
          ok and deferred and some and redelivered >= 1 and answered and r is not None and k == 1 and
          [len(replies_to(rm)) for rm in rooms] == [2, 1, 1, 1] and dropped and
          int(dropped.group(1)) >= 1 and "event=webex_frame_dropped what=ack why=queue_full" in log(),
          f"deferred={deferred} redelivered={redelivered} replies={[len(replies_to(rm)) for rm in rooms]}"
          f"\n{mtxt[-300:]}\n{log()[-600:]}")
    stop_bot()

    # 12. close code 4401: stop with a clear log, no reconnect
    start_bot()
    ok = fake.wait_ready(fake.ready_count + 1, 10)
    conns = fake.connections
    fake.drop(4401)
    dead = wait(lambda: "event=webex_unauthorized" in log())
    # the control: after 1011 the bot was back in reconnect_s; give it three times that
    waited = not wait(lambda: fake.connections > conns, max(3 * reconnect_s, 1.0))
    check("close 4401: stops the Webex channel with a clear log, no reconnect within 3x the "
          "measured reconnect time (%.2f s)" % reconnect_s,
          ok and dead and waited and fake.connections == conns and bot.poll() is None, log()[-600:])
    stop_bot()
    check("the token is never logged", TOKEN not in log() and "fake-bot-token" not in log())
    check("the bot never sent an unmasked frame, a raw UUID as a REST id, or a reply to a reply",
          not fake.protocol_errors and not fake.bad_requests, (fake.protocol_errors, fake.bad_requests))
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
