#!/usr/bin/env python3
"""WAL under sustained load: `provbot serve` (rate limit off) answers a closed
loop of 100 web chats (build/bench/ws_load sustain) without pause; the size
of provbot.db-wal is sampled all along and must stay under WAL_BOUND. When
the load has produced KILL_AT replies the bot is killed (SIGKILL) under full
load; then every chat must find in the store at least as many turns as it
got replies (a reply leaves only after its turn is committed), the store
passes integrity_check, and the bot starts again on it. Bounded: at most
MAX_REPLIES replies and SECONDS (x TEST_SLOWDOWN) of load. Prints TAP.

usage: wal_load.py PROVBOT WS_LOAD [KILL_AT]"""
import os, signal, socket, sqlite3, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fakes"))
from taplib import check, checks, free_port, start_serve  # noqa: E402

prog, ws_load = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
KILL_AT = int(sys.argv[3]) if len(sys.argv) > 3 else 60000
MAX_REPLIES = KILL_AT * 2
SLOW = float(os.environ.get("TEST_SLOWDOWN", "1"))
SECONDS = 90 * SLOW
SESSIONS = 100
WAL_BOUND = 64 << 20
tmp = tempfile.mkdtemp()
data = os.path.join(tmp, "data")
wal = os.path.join(data, "provbot.db-wal")


def start_bot(port):
    return start_serve(prog, port, data, os.path.join(tmp, "serve.log"), {"PROVBOT_LOG": "warn"}, SLOW)


peak = [0]
sampling = threading.Event()


def sample():
    while not sampling.is_set():
        try:
            peak[0] = max(peak[0], os.stat(wal).st_size)
        except OSError:
            pass
        time.sleep(0.005)


port = free_port()
bot = start_bot(port)
check("provbot serve starts", bot is not None)
if bot is None:
    sys.exit(1)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
load = subprocess.Popen([ws_load, "sustain", str(port), str(SESSIONS), str(SECONDS), str(MAX_REPLIES)],
                        stdout=subprocess.PIPE, text=True)
killed_at = None
counts = {}
total = 0
t0 = time.time()
for line in load.stdout:
    w = line.split()
    if w[0] == "progress" and killed_at is None and int(w[1]) >= KILL_AT:
        killed_at = int(w[1])
        bot.send_signal(signal.SIGKILL)   # under full load: a group commit is likely in flight
    elif w[0] == "session" and w[1] != "-":
        counts[w[1]] = int(w[2])
    elif w[0] == "total":
        total = int(w[1])
load.wait()
bot.wait()
sampling.set()
sampler.join()
secs = time.time() - t0
print("# %d replies in %.1f s (%.0f/s); WAL peak %.1f MiB" % (total, secs, total / secs, peak[0] / 1048576))
check("the load reached %d replies before the kill" % KILL_AT, killed_at is not None,
      "only %d replies in %.0f s" % (total, secs))
check("the WAL stayed under %d MiB (peak %.1f MiB)" % (WAL_BOUND >> 20, peak[0] / 1048576),
      0 < peak[0] <= WAL_BOUND)
check("every chat learnt its session", len(counts) == SESSIONS, "%d of %d" % (len(counts), SESSIONS))

db = sqlite3.connect(os.path.join(data, "provbot.db"))
lost = []
for sess, n in counts.items():
    got = db.execute(
        "WITH RECURSIVE chain(id, prev) AS (SELECT t.id, t.prev FROM turns t JOIN conversations c"
        " ON t.id = c.last_turn WHERE c.session = ? UNION ALL SELECT t.id, t.prev FROM turns t"
        " JOIN chain ON t.id = chain.prev) SELECT count(*) FROM chain", (sess,)).fetchone()[0]
    if got < n:
        lost.append("%s: %d replies, %d turns stored" % (sess[:8], n, got))
check("after kill -9 every replied turn is in the store (%d chats, %d replies)" % (len(counts), total),
      not lost and total > 0, "; ".join(lost[:5]))
check("integrity_check passes", db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
db.close()
port = free_port()
bot = start_bot(port)
check("provbot serve starts again on the store", bot is not None)
if bot:
    bot.terminate()
    bot.wait()
subprocess.call(["rm", "-rf", tmp])
print("1..%d" % len(checks))
sys.exit(0 if all(checks) else 1)
