#!/usr/bin/env python3
"""The web chat's limits as a stranger meets them: the Origin allow-list,
the maximum of connections, the idle timeout, a token file others can
read, and identity (PROVBOT_WEB_JWT_SECRET: a forged user is nobody, a
valid HS256 token is that person, an expired or unsigned one is bad_token). Prints TAP. usage: security.py PROVBOT
No assertion rests on a sleep: waits poll for the event up to a deadline
scaled by TEST_SLOWDOWN (default 1)."""
import base64, hashlib, hmac, json, os, socket, stat, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fakes"))
from wsclient import WS, Closed  # noqa: E402
from taplib import check, checks, free_port as port, metrics_text  # noqa: E402

prog = os.path.abspath(sys.argv[1])
SLOW = float(os.environ.get("TEST_SLOWDOWN") or 1) or 1


def wait_for(cond, seconds):
    """Polls cond() until it is true or seconds x TEST_SLOWDOWN have passed."""
    end = time.time() + seconds * SLOW
    while True:
        v = cond()
        if v or time.time() > end:
            return v
        time.sleep(0.05)
tmp = tempfile.mkdtemp()


def serve(*args, env=None):
    p = port()
    proc = subprocess.Popen([prog, "serve", "--listen", "127.0.0.1:%d" % p, "--data", os.path.join(tmp, str(p))]
                            + list(args), stderr=open(os.path.join(tmp, "serve.log"), "a"),
                            env=dict(os.environ, **(env or {})))
    def up():
        try:
            socket.create_connection(("127.0.0.1", p), 0.2).close()
            return True
        except OSError:
            return False
    wait_for(up, 10)
    return proc, p


def refused(p, **kw):
    try:
        WS("127.0.0.1", p, **kw).close()
        return None
    except Closed as e:
        return str(e)


proc, p = serve("--allow-origin", "https://portal.example.com")
try:
    why = refused(p, headers=[("Origin", "https://evil.example")])
    check("a WebSocket from an Origin not allowed is refused", why is not None and "403" in why, why)
    check("the allowed Origin gets the chat", refused(p, headers=[("Origin", "https://portal.example.com")]) is None)
finally:
    proc.terminate()
    proc.wait()

proc, p = serve("--max-conns", "2")
try:
    a, b = WS("127.0.0.1", p), WS("127.0.0.1", p)
    a.send({"type": "message", "text": "my secret words zq8", "id": "1"})
    a.recv(), a.recv()
    why = refused(p)
    check("past --max-conns a connection is refused cleanly (503)", why is not None and "503" in why, why)
    a.close()
    why = wait_for(lambda: refused(p) is None, 10)
    check("... and taken again once one closes", why, "still refused after 10 s x TEST_SLOWDOWN")
    b.close()
finally:
    proc.terminate()
    proc.wait()

IDLE = 2
proc, p = serve("--idle-timeout", str(IDLE))
try:
    w = WS("127.0.0.1", p)
    t0 = time.time()
    try:
        w.recv()
        closed = False
    except (Closed, OSError) as e:
        closed = "close frame" in str(e)
    took = time.time() - t0
    # not before the timeout (a shorter one fails), and not long after it
    check("an idle chat is closed with a close frame after --idle-timeout %d s (took %.1f s)" % (IDLE, took),
          closed and IDLE * 0.75 <= took < IDLE + 5 * SLOW, "closed=%s took=%.2f" % (closed, took))
finally:
    proc.terminate()
    proc.wait()

cfg = os.path.join(tmp, "provbot.conf")
with open(cfg, "w") as f:
    f.write("PROVBOT_CASE_TOKEN=s3cret-value\n")
os.chmod(cfg, 0o644)
r = subprocess.run([prog, "classify", "--config", cfg], input="hi\n", capture_output=True, text=True)
check("a config file holding a token that others can read is refused (exit 2)",
      r.returncode == 2 and "0600" in r.stderr and "s3cret" not in r.stderr, r.stderr)
os.chmod(cfg, stat.S_IRUSR | stat.S_IWUSR)
r = subprocess.run([prog, "classify", "--config", cfg], input="hi\n", capture_output=True, text=True)
check("the same file at 0600 is taken", r.returncode == 0, r.stderr)

SECRET = "portal-shared-secret-0123456789abcdef"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(claims, key=SECRET, alg="HS256"):
    """An HS256 token as a portal signs one (alg "none": unsigned)."""
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
    if alg == "none":
        return head + "."
    return head + "." + b64(hmac.new(key.encode(), head.encode(), hashlib.sha256).digest())


def chat(p, hello):
    """A chat after hello: (the WS, the welcome, the frames before it)."""
    w = WS("127.0.0.1", p)
    w.send(dict(hello, type="hello"))
    before = []
    while True:
        f = w.recv()
        if f.get("type") == "welcome":
            return w, f, before
        before.append(f)


def say(w, text):
    w.send({"type": "message", "text": text, "id": "m"})
    while True:
        f = w.recv()
        if f.get("reply_to") == "m":
            return f


ASK = "open a case for order 77700009, new contact n9@example.org, save fails, org not onboarded"
soon = int(time.time()) + 3600
proc, p = serve(env={"PROVBOT_WEB_JWT_SECRET": SECRET, "PROVBOT_ALLOW_DOMAINS": "partner.example"})
try:
    w, _, pre = chat(p, {"user": "boss@partner.example"})
    r = say(w, ASK)
    check("with the secret set, a user without a token is nobody: the case form asks for the email",
          not pre and r.get("expect") == "email" and "boss@" not in r.get("text", ""), r)
    say(w, "boss@partner.example")
    r = say(w, "yes")
    check("... and a forged user of an allowed domain cannot open a case",
          r.get("case") is None and "only open support cases" in r.get("text", ""), r)
    w.close()

    w, wel, pre = chat(p, {"token": jwt({"email": "anna@partner.example", "name": "Anna", "exp": soon})})
    r = say(w, ASK)
    check("a valid token is that person: the summary has the token's email, not asked for",
          not pre and r.get("expect") == "confirm" and "anna@partner.example" in r.get("text", ""), r)
    r = say(w, "yes")
    case = r.get("case") or {}
    check("... and a verified person of an allowed domain opens the case, as its requester",
          case.get("requester") == "anna@partner.example", r)
    w.close()
    anna = wel.get("session")

    w, wel2, _ = chat(p, {"token": jwt({"email": "Anna@partner.example", "exp": soon})})
    r = say(w, "what is the status of my case?")
    check("the same person from another browser gets the same conversation and sees the case",
          wel2.get("session") == anna and case.get("id", "?") in r.get("text", ""), (wel2, r))
    w.close()

    w, wel3, _ = chat(p, {"session": anna, "user": "anna@partner.example"})
    check("a visitor without the token cannot resume the person's conversation",
          wel3.get("session") != anna, wel3)
    w.close()

    for name, tok in (("an expired token", jwt({"email": "anna@partner.example", "exp": int(time.time()) - 5})),
                      ("a token signed with another key", jwt({"email": "anna@partner.example", "exp": soon}, "guess")),
                      ("an unsigned (alg none) token", jwt({"email": "anna@partner.example", "exp": soon}, alg="none")),
                      ("a token without email", jwt({"exp": soon})),
                      ("a malformed token", "not.a-token")):
        w, wel, pre = chat(p, {"token": tok, "user": "anna@partner.example"})
        r = say(w, ASK)
        check("%s gets bad_token and the chat stays open, anonymous" % name,
              [f.get("code") for f in pre] == ["bad_token"] and wel.get("session") != anna and
              r.get("expect") == "email", (pre, wel, r))
        w.close()

    w, _, _ = chat(p, {"token": jwt({"email": "eve@outsider.example", "exp": soon})})
    say(w, ASK)
    r = say(w, "yes")
    check("a verified person outside PROVBOT_ALLOW_DOMAINS cannot open a case",
          r.get("case") is None and "only open support cases" in r.get("text", ""), r)
    w.close()
finally:
    proc.terminate()
    proc.wait()


def upload_start(p, length, session="s1", body=b""):
    """An upload's headers (and body) sent; the socket, not yet read."""
    c = socket.create_connection(("127.0.0.1", p), 10)
    c.sendall(("POST /upload?session=%s HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
               "Content-Length: %d\r\n\r\n" % (session, length)).encode() + body)
    return c


def status_of(c):
    """The status of the response on c (None: closed without one)."""
    try:
        line = c.recv(4096).split(b"\r\n", 1)[0].decode()
        return int(line.split()[1]) if line.startswith("HTTP/") else None
    except (OSError, IndexError, ValueError):
        return None


def metric(p, name):
    for line in metrics_text(p).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


MiB = 1024 * 1024
proc, p = serve("--max-conns", "8")
try:
    stalled = [upload_start(p, 5 * MiB, body=b"\x89PNG") for _ in range(6)]
    wait_for(lambda: metric(p, 'provbot_bound_use{bound="upload_bytes"}') == 30 * MiB, 5)
    use = metric(p, 'provbot_bound_use{bound="upload_bytes"}')
    lim = metric(p, 'provbot_bound_limit{bound="upload_bytes"}')
    check("6 uploads of 5 MiB in flight reserve 30 MiB of the 32 MiB cap (/metrics)",
          use == 30 * MiB and lim == 32 * MiB, (use, lim))
    held = metric(p, 'provbot_bound_use{bound="upload_buffer"}')
    check("... but hold only what arrived, not 5 MiB each", held is not None and held < MiB, held)
    seventh = upload_start(p, 5 * MiB)
    st = status_of(seventh)
    check("a 7th 5 MiB upload past the memory cap is refused at once with 503", st == 503, st)
    shed = metric(p, 'provbot_bound_shed_total{bound="upload_bytes"}')
    check("... counted as shed by the upload_bytes bound", shed == 1, shed)
    ups = metric(p, 'provbot_bound_use{bound="connections"}')
    check("uploads in flight count toward the connection limit (6 of --max-conns 8)", ups == 6, ups)
    a, b = WS("127.0.0.1", p), WS("127.0.0.1", p)
    why = refused(p)
    check("... so past 6 uploads and 2 chats a chat is refused (503)", why is not None and "503" in why, why)
    a.send({"type": "message", "text": "hi", "id": "1"})
    r = [a.recv(), a.recv()]
    check("... and the chats open are still answered", any(f.get("type") == "reply" for f in r), r)
    for c in stalled + [seventh]:
        c.close()
    a.close()
    b.close()
    back = wait_for(lambda: metric(p, 'provbot_bound_use{bound="upload_bytes"}') == 0 and
                    metric(p, 'provbot_bound_use{bound="upload_buffer"}') == 0, 10)
    check("closed uploads give their reservation back", back, metric(p, 'provbot_bound_use{bound="upload_bytes"}'))
finally:
    proc.terminate()
    proc.wait()

proc, p = serve()
try:
    codes = []
    for _ in range(30):
        c = upload_start(p, 4, body=b"\x89PNG")
        codes.append(status_of(c))
        c.close()
    check("uploads past the per-client rate get 429 (burst 10)", 429 in codes and codes[:10].count(429) == 0, codes)
    c = socket.create_connection(("127.0.0.1", p), 10)
    c.sendall(b"POST /upload?session=s1 HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
              b"X-Forwarded-For: 203.0.113.9\r\nContent-Length: 4\r\n\r\n\x89PNG")
    st = status_of(c)
    c.close()
    check("... another client behind the local reverse proxy (X-Forwarded-For) has its own", st != 429, st)
finally:
    proc.terminate()
    proc.wait()

log = open(os.path.join(tmp, "serve.log")).read()
check("the serve logs hold no message text", "zq8" not in log and "listen" in log, log[-300:])
check("the serve logs hold neither the JWT secret nor a token", SECRET not in log and "eyJ" not in log, log[-300:])
print("1..%d" % len(checks))
sys.exit(0 if all(checks) else 1)
