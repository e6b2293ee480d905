#!/usr/bin/env python3
"""The web chat's limits as a stranger meets them: the Origin allow-list,
the maximum of connections, the idle timeout, and a token file others can
read. Prints TAP. usage: security.py PROVBOT
No assertion rests on a sleep: waits poll for the event up to a deadline
scaled by TEST_SLOWDOWN (default 1)."""
import os, socket, stat, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fakes"))
from wsclient import WS, Closed  # noqa: E402

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
checks = []


def check(name, ok, detail=""):
    checks.append(ok)
    print("%sok %d - %s" % ("" if ok else "not ", len(checks), name))
    if not ok and detail:
        print("#   %s" % str(detail)[:400])


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def serve(*args):
    p = port()
    proc = subprocess.Popen([prog, "serve", "--listen", "127.0.0.1:%d" % p, "--data", os.path.join(tmp, str(p))]
                            + list(args), stderr=open(os.path.join(tmp, "serve.log"), "a"))
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
log = open(os.path.join(tmp, "serve.log")).read()
check("the serve logs hold no message text", "zq8" not in log and "listen" in log, log[-300:])
print("1..%d" % len(checks))
sys.exit(0 if all(checks) else 1)
