"""taplib.py -- what the Python suites share: TAP check lines and a free
loopback port. `checks` holds every result, in order, for the plan line."""
import socket
import sys

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
