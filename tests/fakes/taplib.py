"""taplib.py -- what the Python suites share: TAP check lines, a free
loopback port, starting `provbot serve` and reading its /metrics. `checks`
holds every result, in order, for the plan line."""
import os
import socket
import subprocess
import sys
import time

checks = []


def check(name, ok, detail=""):
    """One TAP line; the detail (cut to 600 characters) when it failed."""
    checks.append(ok)
    print("%sok %d - %s" % ("" if ok else "not ", len(checks), name))
    if not ok and detail:
        print("#   " + str(detail)[:600])
    sys.stdout.flush()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_serve(prog, port, data, log, env=None, slow=1.0):
    """`prog serve` on 127.0.0.1:port with its store in data, the rate limit
    off, stderr appended to log; the process once the port accepts, or None
    (killed) when it did not within 15 s x slow."""
    bot = subprocess.Popen([prog, "serve", "--listen", "127.0.0.1:%d" % port, "--data", data,
                            "--rate-limit", "0"], env=dict(os.environ, **(env or {})),
                           stderr=open(log, "a"))
    deadline = time.time() + 15 * slow
    while time.time() < deadline and bot.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return bot
        except OSError:
            time.sleep(0.02)
    bot.kill()
    bot.wait()
    return None


def metrics_text(port):
    """The body of GET /metrics, or "" when it cannot be read."""
    try:
        c = socket.create_connection(("127.0.0.1", port), 10)
        c.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        c.close()
        return data.decode(errors="replace")
    except OSError:
        return ""
