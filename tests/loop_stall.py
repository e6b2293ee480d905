#!/usr/bin/env python3
"""Nothing blocks the event loop: under web chat load, with the outbox
thread's retention purge deleting a large backlog, its checkpoints forced
every CHECKPOINT_MS and a screenshot of a MiB being attached, no reply
comes later than MAX_MS (x TEST_SLOWDOWN) after its message, as the bot's own
reply-latency histogram (/metrics) measures it; from the client's side, whose
own scheduling adds noise on a busy machine, no reply comes later than four
times that.

The store is seeded with SEED_TURNS turn rows and SEED_CONVS conversations
that the retention policy (the test hooks PROVBOT_TEST_RETENTION_MS and
PROVBOT_TEST_PURGE_EVERY_MS) finds due only once the load runs, so one
purge meets the whole backlog while SESSIONS chats talk. The chats are the
C load generator's open loop (tests/bench/ws_load paced: one thread, RATE
messages/s in all, each reply's latency from message written to reply
read), so a pause of the test's own Python threads is no stall of the bot;
the TAP diagnostics give max and p99. Run it on the plain build only (not
TSan or valgrind, whose slowdown is no loop stall).

usage: loop_stall.py PROVBOT WS_LOAD"""
import os, signal, socket, sqlite3, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fakes"))
from taplib import check, checks, free_port, metrics_text, start_serve  # noqa: E402
from wsclient import WS, Closed  # noqa: E402

prog, ws_load = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SLOW = float(os.environ.get("TEST_SLOWDOWN", "1"))
MAX_MS = 50 * SLOW
SESSIONS = 30
RATE = 1500                     # messages/s offered in all (about what 30 chats typing fast send)
MAX_LOAD_S = 40                 # the load's longest run (it is stopped once the purge is done)
SEED_TURNS = 300000
SEED_CONVS = 30000
DUE_AFTER_MS = 4000 * SLOW      # seeded rows become due this long after seeding
RETENTION_MS = 60000         # the chats of the test stay
UPLOAD_BYTES = 1 << 20         # a typical screenshot; 5 MiB holds the write lock longer: SECURITY.md
tmp = tempfile.mkdtemp()
data = os.path.join(tmp, "data")
log = os.path.join(tmp, "serve.log")


def seed():
    """The schema (any command that opens the store), then the backlog."""
    subprocess.run([prog, "cases", "list", "--data", data], check=True, stdout=subprocess.DEVNULL)
    db = sqlite3.connect(os.path.join(data, "provbot.db"))
    at = int(time.time() * 1000) + int(DUE_AFTER_MS) - RETENTION_MS
    db.executemany("INSERT INTO turns(prev, at, text) VALUES(NULL, ?, ?)",
                   ((at, "user: seed %d\nbot: an old answer of some length\n" % i)
                    for i in range(SEED_TURNS)))
    db.executemany("INSERT INTO conversations(session, channel, user, lang, state, created_at,"
                   " updated_at) VALUES(?, 'web', NULL, 'en', '{}', ?, ?)",
                   (("seed%06d" % i, at, at) for i in range(SEED_CONVS)))
    db.commit()
    db.close()


def start_bot(port):
    return start_serve(prog, port, data, log, {
        "PROVBOT_LOG": "info", "PROVBOT_TEST_RETENTION_MS": str(RETENTION_MS),
        "PROVBOT_TEST_PURGE_EVERY_MS": "200", "PROVBOT_TEST_CHECKPOINT_EVERY_MS": "50"}, SLOW)


def purged_rows():
    """The largest purge the bot logged ("purged ... detail=N_rows_...")."""
    best = 0
    with open(log, errors="replace") as f:
        for line in f:
            if "event=purged" in line and "detail=" in line:
                best = max(best, int(line.split("detail=")[1].split("_")[0]))
    return best


def upload(port, session, body):
    """POST /upload; the status and the seconds it took."""
    t0 = time.monotonic()
    c = socket.create_connection(("127.0.0.1", port), 30)
    c.sendall(("POST /upload?session=%s HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
               "Content-Length: %d\r\n\r\n" % (session, len(body))).encode() + body)
    head = c.recv(4096).decode(errors="replace")
    c.close()
    try:
        return int(head.split()[1]), time.monotonic() - t0
    except (IndexError, ValueError):
        return None, time.monotonic() - t0


def server_late(port):
    """(replies the bot itself measured over 50 ms from message to reply, over
    250 ms, all replies) from its /metrics histogram; Nones when unreadable."""
    text = metrics_text(port)
    try:
        le = [int(text.split('provbot_reply_latency_seconds_bucket{le="%s"} ' % b)[1].split()[0])
              for b in ("0.05", "0.25")]
        n = int(text.split("provbot_reply_latency_seconds_count ")[1].split()[0])
        return n - le[0], n - le[1], n
    except (OSError, IndexError, ValueError):
        return None, None, None


def latency(out):
    """ws_load paced's figures: {"samples": N, "max": ms, ...}, or {}."""
    for line in out.splitlines():
        w = line.split()
        if w and w[0] == "latency":
            return {w[i]: float(w[i + 1]) for i in range(1, len(w) - 1, 2)}
    return {}


seed()
port = free_port()
bot = start_bot(port)
check("provbot serve starts on a store with a backlog to purge", bot is not None)
if bot is None:
    sys.exit(1)
try:
    # one chat in the case form, to attach a screenshot to
    form = WS("127.0.0.1", port)
    form.send({"type": "hello", "session": "formchat"})
    form.recv()
    for text in ("I want to open a support case", "I don't know"):
        form.send({"type": "message", "text": text})
        r = form.recv()
    check("a chat is in the case form (it asks for the order)", r.get("expect") == "order_ref", r)
    load = subprocess.Popen([ws_load, "paced", str(port), str(SESSIONS), str(RATE),
                             str(MAX_LOAD_S * SLOW)], stdout=subprocess.PIPE, text=True)
    t_load = time.monotonic()
    # the load runs until the backlog is purged and a screenshot attached, and two more seconds
    deadline = t_load + MAX_LOAD_S * SLOW - 5
    while time.monotonic() < deadline and purged_rows() < SEED_TURNS:
        time.sleep(0.1)
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(UPLOAD_BYTES - 8)
    status, up_s = upload(port, "formchat", png)
    time.sleep(2)
    load.send_signal(signal.SIGUSR1)
    out, _ = load.communicate(timeout=30 * SLOW)
    form.close()
    n = purged_rows()
    check("the purge deleted the backlog while the chats talked (%d rows)" % n,
          n >= SEED_TURNS + SEED_CONVS, n)
    check("a %d MiB screenshot was attached under the load (%.0f ms)" % (UPLOAD_BYTES >> 20, up_s * 1000),
          status == 200, status)
    f = latency(out)
    worst, p99 = f.get("max", 0), f.get("p99", 0)
    print("# %d replies in %.1f s from %d chats: max %.1f ms, p99 %.1f ms, p50 %.1f ms"
          " (the client's own lag p99 %.1f ms)" % (f.get("samples", 0), time.monotonic() - t_load,
                                                  SESSIONS, worst, p99, f.get("p50", 0),
                                                  f.get("lag99", 0)))
    check("every message got its reply", load.returncode == 0 and f.get("samples", 0) > SESSIONS * 10,
          out.strip())
    late, very_late, total = server_late(port)
    # a stall of the loop behind the purge or a checkpoint delays every chat at once (at
    # RATE messages/s, 0.3 s of it is 450 replies); the scheduler of a busy 2-core machine
    # alone delays a few: up to 0.2 % over MAX_MS, none over 250 ms
    check("no reply later than %.0f ms under purge, checkpoints and an upload, as the bot measures"
          " message to reply (%s of %s over, %s over 250 ms)" % (MAX_MS, late, total, very_late),
          late is not None and total > SESSIONS * 10 and late <= total * 0.002 and very_late == 0,
          out.strip())
    # from outside, the client's own scheduling on a busy machine adds its noise: a bound
    # with room for it, which the stalls before the purge was chunked (342 ms) break
    check("from the client, no reply later than %.0f ms (max %.1f ms, p99 %.1f ms)"
          % (4 * MAX_MS, worst, p99), f.get("samples", 0) > 0 and worst <= 4 * MAX_MS, out.strip())
finally:
    bot.terminate()
    bot.wait()
print("1..%d" % len(checks))
sys.exit(0 if all(checks) else 1)
