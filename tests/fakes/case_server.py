#!/usr/bin/env python3
"""A local case server for tests: accepts POSTed cases, keyed by their
Idempotency-Key, and fails on purpose first.

usage: case_server.py PORT LOGFILE PLAN
PLAN is a comma list of what to do for successive POSTs, the last one
repeating: 500, 503, 400, 401, 429:SECONDS (Retry-After), timeout:SECONDS (the
answer comes too late, after the case was stored: a lost answer), 201 (create),
random (a fifth each 503 and a lost answer after 1 s, else create).
A key seen before gets 200 with the same id: never a second ticket.
LOGFILE gets one JSON line per request: key, auth, outcome, body fields.
"""
import http.server, json, random, sys, threading, time

port, logfile, plan = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
lock = threading.Lock()
state = {"n": 0, "tickets": {}}


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, obj=None, headers=()):
        body = json.dumps(obj or {}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except BrokenPipeError:
            pass

    def do_GET(self):
        with lock:
            self.reply(200, {"tickets": state["tickets"]})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        key = self.headers.get("Idempotency-Key")
        with lock:
            step = plan[min(state["n"], len(plan) - 1)]
            state["n"] += 1
            if step == "random":
                step = random.choice(["503", "timeout:1", "201", "201", "201"])
        entry = {"key": key, "auth": self.headers.get("Authorization"), "step": step,
                 "type": body.get("type"), "order_ref": body.get("order_ref"),
                 "attachments": len(body.get("attachments", []))}
        with open(logfile, "a") as f:
            f.write(json.dumps(entry) + "\n")

        def create():
            with lock:
                new = key not in state["tickets"]
                if new:
                    state["tickets"][key] = "T-%d" % (len(state["tickets"]) + 1)
                tid = state["tickets"][key]
            with open(logfile, "a") as f:
                f.write(json.dumps({"key": key, "created": new, "ticket": tid}) + "\n")
            return new, tid

        if step.startswith("timeout"):
            create()  # stored, but the answer is lost
            time.sleep(float(step.split(":")[1]))
            return self.reply(504)
        if step.startswith("429"):
            return self.reply(429, {"error": "slow down"}, [("Retry-After", step.split(":")[1])])
        if step in ("500", "503", "400", "401"):
            return self.reply(int(step), {"error": "planned failure"})
        new, tid = create()
        self.reply(201 if new else 200, {"id": tid})


http.server.ThreadingHTTPServer.daemon_threads = True
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
srv.serve_forever()
