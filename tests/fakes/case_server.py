#!/usr/bin/env python3
"""A strict local case server for tests: takes POSTed cases, checks them, and
fails on purpose first, following a plan.

usage: case_server.py PORT LOGFILE PLAN [--seed N] [--token T] [--no-dedup]
                      [--schema case|none]
PLAN is a comma list of what to do for successive valid POSTs, the last one
repeating: 500, 503, 400, 401, 429:SECONDS (Retry-After), timeout:SECONDS (the
answer comes too late, after the case was stored: a lost answer), 201 (create),
random (drawn from a random.Random(seed): a fifth each 503 and a lost answer
after 1 s, else create). The seed (--seed, default: drawn) is printed on
stderr, so a failing run can be replayed.

Strictness, before the plan is consulted (such a request uses no plan step):
- --token T: an Authorization header other than "Bearer T" gets 401;
- --schema case (default): the body must be the case object of the contract
  (all fields, the right types and formats, status "queued") and the
  Idempotency-Key header must equal its id, else 400.
Idempotency: a key seen before gets 200 with the same ticket id (never a
second ticket); --no-dedup turns that off, so a bot that POSTs a case twice
makes two tickets and is caught.

LOGFILE gets one JSON line per request, written before it is answered:
{"n", "method", "path", "headers" (lower-case names), "body" (parsed, or the
raw text), "key", "auth", "step" (the plan step, or "reject:401"/"reject:400"),
"why" (for a rejection)}; and one {"key", "created", "ticket"} line for each
POST that reached the store (created false: a duplicate the dedup answered).
"""
import argparse, http.server, json, random, re, sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("logfile")
ap.add_argument("plan")
ap.add_argument("--seed", type=int, default=None)
ap.add_argument("--token", default=None)
ap.add_argument("--no-dedup", action="store_true")
ap.add_argument("--schema", choices=["case", "none"], default="case")
args = ap.parse_args()
seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
print("case_server: seed %d (replay with --seed %d)" % (seed, seed), file=sys.stderr, flush=True)
rng = random.Random(seed)
plan = args.plan.split(",")
lock = threading.Lock()
state = {"n": 0, "req": 0, "tickets": {}, "made": 0}

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
CASE_FIELDS = {
    "id": lambda v: isinstance(v, str) and re.fullmatch(r"PB-\d{6}", v),
    "type": lambda v: v == "Change provisioning contact email",
    "status": lambda v: v == "queued",
    "order_ref": lambda v: isinstance(v, str) and re.fullmatch(r"\d{6,12}", v),
    "new_email": lambda v: isinstance(v, str) and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v),
    "requester": lambda v: v is None or (isinstance(v, str) and "@" in v),
    "lang": lambda v: v in ("en", "sv"),
    "summary": lambda v: isinstance(v, str) and len(v.strip()) > 0,
    "created_at": lambda v: isinstance(v, str) and RFC3339.match(v),
    "remote_id": lambda v: v is None,
}


def body_problem(body, key):
    """Why body is not a case the contract allows, or None."""
    if not isinstance(body, dict):
        return "body is not a JSON object"
    for name, ok in CASE_FIELDS.items():
        if name not in body:
            return "missing field %s" % name
        if not ok(body[name]):
            return "bad %s: %r" % (name, body[name])
    extra = set(body) - set(CASE_FIELDS) - {"attachments", "remote_status"}
    if extra:
        return "unknown fields %s" % sorted(extra)
    if "attachments" in body and not isinstance(body["attachments"], list):
        return "attachments is not a list"
    if key != body["id"]:
        return "Idempotency-Key %r is not the case id %r" % (key, body["id"])
    return None


def log(entry):
    with open(args.logfile, "a") as f:
        f.write(json.dumps(entry) + "\n")


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

    def entry(self, raw):
        with lock:
            state["req"] += 1
            n = state["req"]
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        return {"n": n, "method": self.command, "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
                "key": self.headers.get("Idempotency-Key"), "auth": self.headers.get("Authorization")}

    def do_GET(self):
        e = self.entry(b"")
        e["step"] = "get"
        log(e)
        with lock:
            self.reply(200, {"tickets": state["tickets"]})

    def reject(self, e, code, why):
        e["step"], e["why"] = "reject:%d" % code, why
        log(e)
        self.reply(code, {"error": why})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        e = self.entry(raw)
        key = e["key"]
        if args.token is not None and e["auth"] != "Bearer " + args.token:
            return self.reject(e, 401, "missing or wrong bearer token")
        if args.schema == "case":
            why = body_problem(e["body"], key)
            if why:
                return self.reject(e, 400, why)
        with lock:
            step = plan[min(state["n"], len(plan) - 1)]
            state["n"] += 1
            if step == "random":
                step = rng.choice(["503", "timeout:1", "201", "201", "201"])
        e["step"] = step
        body = e["body"] if isinstance(e["body"], dict) else {}
        e.update({"type": body.get("type"), "order_ref": body.get("order_ref"),
                  "attachments": len(body.get("attachments", []))})
        log(e)

        def create():
            with lock:
                new = args.no_dedup or key not in state["tickets"]
                if new:
                    state["made"] += 1
                    state["tickets"][key] = "T-%d" % state["made"]
                tid = state["tickets"][key]
            log({"key": key, "created": new, "ticket": tid})
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
srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), H)
srv.serve_forever()
