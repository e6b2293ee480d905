#!/usr/bin/env python3
"""A local fake of Webex for provbot's tests (standard library only).

One HTTP/1.1 server on one port plays every Webex service the bot talks to,
after the checklist in ../shared/webex-protocol.md section 7:

  GET  /u2c/api/v1/catalog?format=hostmap   serviceLinks.wdm + hostCatalog (cluster
                                            urn:TEAM:eu-central-1_k: REST ids must carry it)
  GET|POST|DELETE /wdm/api/v1/devices[/ID]  list / create / delete devices (PUT refresh: 404
                                            when expired); a device cap answers 403
  GET  /mercury/ID/messages                 the device WebSocket: unknown device -> HTTP 404;
                                            authorization first (bad token: close 4401), then
                                            mercury.buffer_state; ping -> pong; acks recorded;
                                            a second connection replaces the first (close 4000)
  GET  /v1/people/me, /v1/messages/ID (404 for a raw UUID or a wrong cluster, 403 for a
       group message that does not mention the bot; injectable 429/423 + Retry-After),
       POST /v1/messages (7439-byte limit; roomId must be a Hydra ROOM id, 400 for a raw
       UUID; parentId must name a known message that is no reply itself (Hydra or raw
       UUID, as production takes both), 400 otherwise; echoes the bot's own message as an
       activity; injectable 429 + Retry-After), GET /v1/attachment/actions/ID,
       GET /v1/contents/ID (a PNG; the id is Hydra, a raw UUID gets 404)

Variants for what the real cloud does (issue 12): drop(4000, b"rebalancing")
(only "replaced" means stand down); fail_gets with 5xx/404 on message reads;
a catalog key whose entry names another host (ALT_CONV_HOST) and conv_base
= base (a host in no entry: GET /conversation/api/v1/messages/ID gives the
REST id); max_devices + add_device(mtime) for 403 "excessive device
registrations"; edit() (parent.type "edit"); submit_card() (a cardAction and
GET /v1/attachment/actions/ID; POST /v1/messages checks one Adaptive Card
with a text fallback; inputs as given, e.g. {"pb_answer": label} for a
question card's button); get_delay (slow reads, a full queue); Proxy (an
HTTP proxy: CONNECT tunnels and absolute-URI requests, recorded, so a test
can tell it was used or not); say(pad=, frag=) (an envelope over 64 KiB,
in fragments of frag bytes: FIN only on the last, continuation opcodes);
emit_burst() (a backlog of envelopes in one write) and unacked() (what
Mercury would deliver again).

Strict about the client's WebSocket frames: an unmasked frame (RFC 6455 5.1: a
client MUST mask) is a protocol error: recorded in protocol_errors, the
connection closed with 1002. no_pong: app-level pings go unanswered.

Every endpoint wants "Authorization: Bearer <token>" (401 otherwise).
Activities carry raw UUIDs and encrypted-looking text, as the real ones do.

Used in-process by webex_suite.py (class Fake), or standalone:
    webex_fake.py PORT TOKEN      (then drive it from Python)
"""
import base64, hashlib, http.server, json, socket, struct, sys, threading, time, uuid

CLUSTER = "urn:TEAM:eu-central-1_k"
CONV_HOST = "conv-k.wbx2.com"
ALT_CONV_HOST = "prod-k-message.svc.webex.com"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
       b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


def hydra(kind, raw, cluster=CLUSTER):
    if kind in ("PEOPLE", "ORGANIZATION"):
        cluster = "us"
    return base64.b64encode(f"ciscospark://{cluster}/{kind}/{raw}".encode()).decode().rstrip("=")


def unhydra(hid):
    """(cluster, kind, uuid) or None; accepts padded/unpadded, std/url-safe."""
    try:
        s = hid.replace("-", "+").replace("_", "/")
        s = base64.b64decode(s + "=" * (-len(s) % 4), validate=True).decode()
    except Exception:
        return None
    if not s.startswith("ciscospark://"):
        return None
    parts = s[len("ciscospark://"):].rsplit("/", 2)
    return tuple(parts) if len(parts) == 3 else None


class WS:
    """The server side of one WebSocket (RFC 6455, text frames)."""

    def __init__(self, sock, errors=None):
        self.sock, self.lock, self.open = sock, threading.Lock(), True
        self.errors = errors if errors is not None else []

    @staticmethod
    def frames(text, opcode=1, frag=None):
        """The wire bytes of one message; frag: split into frames of at most
        frag bytes (the first with the opcode, then continuations, FIN on the
        last), as servers fragment big messages."""
        data = text.encode() if isinstance(text, str) else text
        parts = [data[i:i + frag] for i in range(0, len(data), frag)] if frag and data else [data]
        out = b""
        for i, part in enumerate(parts):
            n = len(part)
            fin = 0x80 if i == len(parts) - 1 else 0
            out += bytes([fin | (opcode if i == 0 else 0)]) + (
                bytes([n]) if n < 126 else bytes([126]) + struct.pack("!H", n) if n < 65536 else
                bytes([127]) + struct.pack("!Q", n)) + part
        return out

    def send(self, text, opcode=1, frag=None):
        self.send_raw(self.frames(text, opcode, frag))

    def send_raw(self, wire):
        with self.lock:
            try:
                self.sock.sendall(wire)
            except OSError:
                self.open = False

    def close(self, code=None, reason=b""):
        if code is not None:
            self.send(struct.pack("!H", code) + reason, opcode=8)
        self.open = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _exact(self, n):
        b = b""
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b

    def recv(self):
        """One whole message: (opcode, bytes). Answers pings, reassembles."""
        msg, first_op = b"", None
        while True:
            h = self._exact(2)
            fin, op, n = h[0] & 0x80, h[0] & 0x0F, h[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._exact(8))[0]
            if not h[1] & 0x80:  # RFC 6455 5.1: the server MUST close on an unmasked frame
                self.errors.append("unmasked frame (opcode %d)" % op)
                self.close(1002, b"unmasked frame")
                raise EOFError
            mask = self._exact(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self._exact(n)))
            if op == 9:
                self.send(data, opcode=10)
                continue
            if op == 10:
                continue
            if op == 8:
                return 8, data
            if first_op is None:
                first_op = op
            msg += data
            if fin:
                return first_op, msg


class Proxy:
    """A minimal HTTP proxy (CONNECT tunnels and absolute-URI requests),
    recording what went through it in .connects / .requests."""

    def __init__(self, port):
        self.port, self.connects, self.requests = port, [], []
        self.srv = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def one(self, c):
        head = b""
        while b"\r\n\r\n" not in head:
            d = c.recv(1)
            if not d:
                return c.close()
            head += d
        method, target = head.split(b" ", 2)[:2]
        if method == b"CONNECT":
            host, port = target.decode().rsplit(":", 1)
            self.connects.append(target.decode())
            u = socket.create_connection((host, int(port)))
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            rest = target.decode().split("://", 1)[1]
            hostport, path = (rest.split("/", 1) + [""])[:2]
            host, port = (hostport.rsplit(":", 1) + ["80"])[:2]
            self.requests.append(target.decode())
            u = socket.create_connection((host, int(port)))
            u.sendall(head.replace(target, ("/" + path).encode(), 1))
        threading.Thread(target=self.pipe, args=(u, c), daemon=True).start()
        self.pipe(c, u)

    def stop(self):
        self.srv.close()


class Fake:
    def __init__(self, port, token, bot_name="Provbot", max_devices=10):
        self.port, self.token, self.bot_name, self.max_devices = port, token, bot_name, max_devices
        self.base = f"http://127.0.0.1:{port}"
        self.bot_uuid = str(uuid.uuid4())
        self.bot_email = "provbot@webex.bot"
        self.lock = threading.RLock()
        self.devices = {}          # id -> device object
        self.messages = {}         # uuid -> message (REST shape, raw ids inside _raw)
        self.envelopes = []        # (message uuid, envelope json) of human activities sent
        self.posted = []           # bot POSTs that were accepted: (time, body)
        self.post_attempts = []    # every POST /v1/messages: (time, status)
        self.gets = []             # GET /v1/messages ids (raw path part)
        self.requests = []         # (method, path, status)
        self.acks, self.pings, self.auths = [], 0, []
        self.ws, self.connections, self.ready_count = None, 0, 0
        self.device_creates, self.device_deletes = 0, 0
        self.fail_posts = []       # queue of (status, retry_after) for the next POSTs
        self.fail_gets = []        # the same for the next GET /v1/messages/ID; ("hang", s):
                                   # answer only after s seconds
        self.get_attempts = []     # every GET /v1/messages/ID: (time, status)
        self.bad_requests = []     # (what, detail) for every request refused as malformed
        self.protocol_errors = []  # WebSocket protocol errors of the client
        self.replay_on_connect = False
        self.conv_base = f"https://{CONV_HOST}"  # target.url of activities: set to self.base to
                                                # make the host unknown to the catalog
        self.actions = {}          # attachment action uuid -> REST object (card submissions)
        self.get_delay = 0.0       # seconds every GET /v1/messages/ID waits before answering
        self.conv_lookups = []     # GET /conversation/api/v1/messages/ID (webex_bot's id lookup)
        self.no_pong = False
        self.cond = threading.Condition(self.lock)
        fake = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self): fake.handle(self, "GET")
            def do_POST(self): fake.handle(self, "POST")
            def do_PUT(self): fake.handle(self, "PUT")
            def do_DELETE(self): fake.handle(self, "DELETE")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        if self.ws:
            self.ws.close()
        self.httpd.shutdown()

    # ------------------------------------------------------------ HTTP
    def reply(self, h, code, obj=None, raw=None, ctype="application/json", headers=()):
        body = raw if raw is not None else json.dumps(obj if obj is not None else {}).encode()
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("trackingId", "FAKE_" + uuid.uuid4().hex[:8])
        for k, v in headers:
            h.send_header(k, v)
        h.end_headers()
        try:
            h.wfile.write(body)
        except OSError:
            pass
        with self.lock:
            self.requests.append((h.command, h.path, code))

    def handle(self, h, method):
        path = h.path.split("?")[0]
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        if path.startswith("/mercury/") and h.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket(h, path)
        if h.headers.get("Authorization") != "Bearer " + self.token:
            return self.reply(h, 401, {"message": "The request requires a valid access token set in "
                                                  "the Authorization request header."})
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return self.reply(h, 400, {"message": "bad json"})
        if path == "/u2c/api/v1/catalog":
            return self.reply(h, 200, {
                "serviceLinks": {"wdm": self.base + "/wdm/api/v1"},
                "hostCatalog": {CONV_HOST: [{"host": CONV_HOST, "ttl": -1, "priority": 5,
                                             "id": CLUSTER + ":conversation"}],
                                # a key whose entry names another host (js-sdk findClusterId)
                                "conversation-k.wbx2.com": [{"host": ALT_CONV_HOST, "ttl": -1,
                                                             "priority": 5,
                                                             "id": CLUSTER + ":conversation"}],
                                "wdm-k.wbx2.com": [{"host": "wdm-k.wbx2.com", "ttl": -1, "priority": 5,
                                                    "id": CLUSTER + ":wdm"}]},
                "format": "hostmap"})
        if path == "/wdm/api/v1/devices":
            return self.devices_root(h, method, data)
        if path.startswith("/wdm/api/v1/devices/"):
            did = path.rsplit("/", 1)[1]
            with self.lock:
                dev = self.devices.get(did)
                if method == "DELETE" and dev:
                    del self.devices[did]
                    self.device_deletes += 1
            if not dev:
                return self.reply(h, 404, {"message": "device not found"})
            if method == "DELETE":
                return self.reply(h, 204, raw=b"")
            return self.reply(h, 200, dev)
        if path == "/v1/people/me":
            return self.reply(h, 200, {"id": hydra("PEOPLE", self.bot_uuid), "emails": [self.bot_email],
                                       "displayName": self.bot_name, "type": "bot"})
        if path.startswith("/v1/messages/") and method == "GET":
            return self.get_message(h, path.rsplit("/", 1)[1])
        if path == "/v1/messages" and method == "POST":
            return self.post_message(h, data)
        if path.startswith("/v1/contents/"):
            cid = unhydra(path.rsplit("/", 1)[1])
            if not cid or cid[1] != "CONTENT":
                with self.lock:
                    self.bad_requests.append(("GET content id", path))
                return self.reply(h, 404, {"message": "content not found"})
            return self.reply(h, 200, raw=PNG, ctype="image/png")
        if path.startswith("/conversation/api/v1/messages/") and method == "GET":
            raw = path.rsplit("/", 1)[1]
            with self.lock:
                self.conv_lookups.append(raw)
                known = raw in self.messages
            if not known:
                return self.reply(h, 404, {"message": "no such activity"})
            return self.reply(h, 200, {"id": hydra("MESSAGE", raw), "objectType": "activity"})
        if path.startswith("/v1/attachment/actions/") and method == "GET":
            aid = unhydra(path.rsplit("/", 1)[1])
            with self.lock:
                act = self.actions.get(aid[2]) if aid and aid[1] == "ATTACHMENT_ACTION" and \
                    aid[0] == CLUSTER else None
                if not act:
                    self.bad_requests.append(("GET attachment action id", path))
            if not act:
                return self.reply(h, 404, {"message": "no such action"})
            return self.reply(h, 200, act)
        return self.reply(h, 404, {"message": "not found"})

    def devices_root(self, h, method, data):
        with self.lock:
            if method == "GET":
                return self.reply(h, 200, {"devices": list(self.devices.values())})
            if method == "DELETE":
                self.devices.clear()
                return self.reply(h, 204, raw=b"")
            if method != "POST":
                return self.reply(h, 405, {"message": "Request method not supported"})
            if len(self.devices) >= self.max_devices:
                return self.reply(h, 403, {"message": "User has excessive device registrations"})
            did = str(uuid.uuid4())
            dev = self.add_device((data or {}).get("name"), (data or {}).get("deviceType"))
            self.device_creates += 1
            return self.reply(h, 200, dev)

    def add_device(self, name, dtype="DESKTOP", mtime=None):
        """A registered device (modificationTime: now unless given, ISO 8601)."""
        did = str(uuid.uuid4())
        dev = {"url": f"{self.base}/wdm/api/v1/devices/{did}",
               "webSocketUrl": f"ws://127.0.0.1:{self.port}/mercury/{did}/messages",
               "userId": self.bot_uuid, "name": name, "deviceType": dtype, "services": {},
               "modificationTime": mtime or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
        with self.lock:
            self.devices[did] = dev
        return dev

    def get_message(self, h, mid):
        if self.get_delay:
            time.sleep(self.get_delay)
        now = time.monotonic()
        with self.lock:
            self.gets.append(mid)
            fail = self.fail_gets.pop(0) if self.fail_gets else None
            if fail:
                self.get_attempts.append((now, fail[0]))
        if fail and fail[0] == "hang":   # answer only after fail[1] s (a client timeout)
            time.sleep(fail[1])
            fail = None
        if fail:
            hdrs = [("Retry-After", str(fail[1]))] if fail[1] is not None else []
            return self.reply(h, fail[0], {"message": {429: "Too Many Requests", 423: "Locked",
                                                       404: "Unable to get message"}.get(
                                                           fail[0], "Bad Gateway")}, headers=hdrs)
        with self.lock:
            self.get_attempts.append((now, 200))
        parts = unhydra(mid)
        if not parts or parts[1] != "MESSAGE" or parts[0] != CLUSTER:
            with self.lock:
                self.bad_requests.append(("GET message id", mid))
            return self.reply(h, 404, {"message": "Unable to get message"})
        with self.lock:
            m = self.messages.get(parts[2])
        if not m:
            return self.reply(h, 404, {"message": "Unable to get message"})
        me = hydra("PEOPLE", self.bot_uuid)
        if m["roomType"] == "group" and me not in m.get("mentionedPeople", []) and \
                m["personEmail"] != self.bot_email:
            return self.reply(h, 403, {"message": "Failed to get activity"})
        return self.reply(h, 200, {k: v for k, v in m.items() if not k.startswith("_")})

    def post_message(self, h, data):
        now = time.monotonic()
        with self.lock:
            fail = self.fail_posts.pop(0) if self.fail_posts else None
        if fail:
            with self.lock:
                self.post_attempts.append((now, fail[0]))
            hdrs = [("Retry-After", str(fail[1]))] if fail[1] is not None else []
            return self.reply(h, fail[0], {"message": "Too Many Requests"}, headers=hdrs)
        md = (data or {}).get("markdown") or (data or {}).get("text") or ""
        why = self.post_problem(data or {}, md)
        if why:
            with self.lock:
                self.post_attempts.append((now, 400))
                self.bad_requests.append(("POST message", why))
            return self.reply(h, 400, {"message": why})
        room = unhydra(data["roomId"])
        with self.lock:
            self.post_attempts.append((now, 200))
            self.posted.append((now, data))
        raw = str(uuid.uuid4())
        msg = {"id": hydra("MESSAGE", raw), "roomId": data["roomId"], "markdown": md, "text": md,
               "personEmail": self.bot_email, "personId": hydra("PEOPLE", self.bot_uuid),
               "roomType": "direct", "created": "2026-01-01T00:00:00.000Z"}
        if data.get("parentId"):
            msg["parentId"] = data["parentId"]
        if data.get("attachments"):
            msg["attachments"] = data["attachments"]
        with self.lock:
            self.messages[raw] = msg
        self.reply(h, 200, msg)
        # Webex shows the bot its own message on the socket too
        if room:
            self.emit(self.activity(raw, room[2], self.bot_uuid, self.bot_email, True, [], "post",
                                    actor_type="PERSON"), record=False)

    def post_problem(self, data, md):
        """Why POST /v1/messages with data would be refused, or None."""
        if len(md.encode()) > 7439:
            return "message longer than 7439 bytes"
        att = data.get("attachments")
        if att is not None:
            if not isinstance(att, list) or len(att) != 1:
                return "attachments: exactly one card per message"
            a = att[0]
            c = a.get("content") or {}
            if a.get("contentType") != "application/vnd.microsoft.card.adaptive" or \
                    c.get("type") != "AdaptiveCard" or not c.get("version") or not md:
                return "attachments: not an Adaptive Card with a text fallback: %r" % a
        room = unhydra(data.get("roomId") or "")
        if not room or room[1] != "ROOM":
            return "roomId is not a Hydra room id: %r" % data.get("roomId")
        pid = data.get("parentId")
        if pid is None:
            return None
        p = unhydra(pid)
        raw = p[2] if p and p[1] == "MESSAGE" else pid
        with self.lock:
            parent = self.messages.get(raw)
        if not parent:
            return "parentId names no message: %r" % pid
        if parent.get("parentId"):
            return "parentId is itself a reply (a reply cannot be a parent): %r" % pid
        if parent["roomId"] != data["roomId"]:
            return "parentId is in another room"
        return None

    # ------------------------------------------------------------ WebSocket
    def websocket(self, h, path):
        did = path.split("/")[2]
        with self.lock:
            known = did in self.devices
        if not known:
            return self.reply(h, 404, {"message": "registration not found"})
        key = h.headers.get("Sec-WebSocket-Key", "")
        acc = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
                               .digest()).decode()
        h.send_response(101)
        h.send_header("Upgrade", "websocket")
        h.send_header("Connection", "Upgrade")
        h.send_header("Sec-WebSocket-Accept", acc)
        h.end_headers()
        h.wfile.flush()
        ws = WS(h.connection, self.protocol_errors)
        with self.lock:
            old, self.ws = self.ws, ws
            self.connections += 1
        if old and old.open:
            old.close(4000, b"replaced")
        h.connection.settimeout(10)
        try:
            op, m = ws.recv()
            a = json.loads(m)
            ok = a.get("type") == "authorization" and a.get("data", {}).get("token") == "Bearer " + self.token
            with self.lock:
                self.auths.append(ok)
            if not ok:
                ws.close(4401, b"authentication failed")
                return
            ws.send(json.dumps({"id": str(uuid.uuid4()), "data": {"eventType": "mercury.buffer_state"},
                                "timestamp": int(time.time() * 1000), "sequenceNumber": 1}))
            with self.lock:
                self.ready_count += 1
                replay = list(self.envelopes) if self.replay_on_connect else []
                self.cond.notify_all()
            for _, env in replay:
                ws.send(env)
            h.connection.settimeout(None)
            while ws.open:
                op, m = ws.recv()
                if op == 8:
                    ws.close()
                    break
                f = json.loads(m)
                with self.lock:
                    if f.get("type") == "ack":
                        self.acks.append(f.get("messageId"))
                    elif f.get("type") == "ping":
                        self.pings += 1
                if f.get("type") == "ping" and not self.no_pong:
                    ws.send(json.dumps({"id": f.get("id"), "type": "pong"}))
        except (EOFError, OSError, ValueError):
            pass
        finally:
            ws.open = False
            h.close_connection = True

    # ------------------------------------------------------------ driving
    def activity(self, raw, room_uuid, actor_uuid, email, direct, mentions, verb, parent=None,
                 actor_type="PERSON", parent_type="reply"):
        act = {"id": raw, "objectType": "activity", "verb": verb,
               "url": f"{self.conv_base}/conversation/api/v1/activities/{raw}",
               "actor": {"id": actor_uuid, "entryUUID": actor_uuid, "objectType": "person",
                         "emailAddress": email, "type": actor_type},
               "object": {"objectType": "comment",
                          "displayName": "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..enc." + uuid.uuid4().hex,
                          "mentions": {"items": [{"id": u, "objectType": "person"} for u in mentions]}},
               "target": {"id": room_uuid, "objectType": "conversation",
                          "url": f"{self.conv_base}/conversation/api/v1/conversations/{room_uuid}",
                          "tags": ["ONE_ON_ONE"] if direct else []},
               "encryptionKeyUrl": "kms://fake/keys/1"}
        if parent:
            act["parent"] = {"id": parent, "type": parent_type}
        return json.dumps({"id": str(uuid.uuid4()), "data": {"eventType": "conversation.activity",
                                                             "activity": act},
                           "timestamp": int(time.time() * 1000), "trackingId": "ROUTER_FAKE",
                           "alertType": "full", "headers": {}, "sequenceNumber": 2})

    def emit(self, env, record=True, raw=None, frag=None):
        with self.lock:
            if record:
                self.envelopes.append((raw, env))
            ws = self.ws
        if ws and ws.open:
            ws.send(env, frag=frag)

    def emit_burst(self, envs):
        """Several envelopes in one write (one TCP segment on loopback), as
        Mercury flushes a backlog."""
        with self.lock:
            ws = self.ws
        if ws and ws.open:
            ws.send_raw(b"".join(WS.frames(e) for e in envs))

    def unacked(self):
        """The recorded envelopes (raw, env) never acked."""
        with self.lock:
            return [(r, e) for r, e in self.envelopes if json.loads(e)["id"] not in self.acks]

    def say(self, room, email, text, direct=True, mention=False, files=0, parent=None,
            person=None, actor_type="PERSON", verb=None, pad=0, frag=None, send=True):
        """A person writes; returns the message's raw UUID. pad: bytes of
        encrypted-looking object.content added to the envelope (a big one);
        frag: its frame size; send False: recorded, not sent (emit_burst)."""
        raw = str(uuid.uuid4())
        person = person or str(uuid.uuid5(uuid.NAMESPACE_DNS, email))
        msg = {"id": hydra("MESSAGE", raw), "roomId": hydra("ROOM", room), "roomType": "direct" if direct else "group",
               "text": (self.bot_name + " " + text) if mention else text, "personEmail": email,
               "personId": hydra("PEOPLE", person), "created": "2026-01-01T00:00:00.000Z"}
        if mention:
            msg["mentionedPeople"] = [hydra("PEOPLE", self.bot_uuid)]
        if files:
            msg["files"] = [f"{self.base}/v1/contents/{hydra('CONTENT', uuid.uuid4())}" for _ in range(files)]
        if parent:
            msg["parentId"] = hydra("MESSAGE", parent)
        with self.lock:
            self.messages[raw] = msg
        env = self.activity(raw, room, person, email, direct, [self.bot_uuid] if mention else [],
                            verb or ("share" if files else "post"), parent, actor_type)
        if pad:
            e = json.loads(env)
            e["data"]["activity"]["object"]["content"] = "eyJhbGciOiJkaXIifQ..enc." + "Q" * pad
            env = json.dumps(e)
        if send:
            self.emit(env, raw=raw, frag=frag)
        else:
            with self.lock:
                self.envelopes.append((raw, env))
        return raw

    def edit(self, raw, text):
        """The person edits message raw: Webex sends a new post activity whose
        parent is {"id": raw, "type": "edit"}; the REST read of the new id
        gives the edited message (with "updated"). Returns the new UUID."""
        with self.lock:
            m = dict(self.messages[raw])
        new = str(uuid.uuid4())
        m.update(id=hydra("MESSAGE", new), text=text, updated="2026-01-01T00:01:00.000Z")
        with self.lock:
            self.messages[new] = m
        person = unhydra(m["personId"])[2]
        room = unhydra(m["roomId"])[2]
        direct = m["roomType"] == "direct"
        mentions = [self.bot_uuid] if m.get("mentionedPeople") else []
        self.emit(self.activity(new, room, person, m["personEmail"], direct, mentions, "post",
                                raw, parent_type="edit"), raw=new)
        return new

    def submit_card(self, card_msg_id, inputs, email, direct=True):
        """A person submits the card of message card_msg_id (Hydra id) with
        inputs: an attachment action (REST) and a cardAction activity whose
        parent is the card's message. Returns the action's UUID."""
        with self.lock:
            card = self.messages[unhydra(card_msg_id)[2]]
        raw = str(uuid.uuid4())
        person = str(uuid.uuid5(uuid.NAMESPACE_DNS, email))
        room = unhydra(card["roomId"])[2]
        with self.lock:
            self.actions[raw] = {"id": hydra("ATTACHMENT_ACTION", raw), "type": "submit",
                                 "messageId": card_msg_id, "inputs": inputs,
                                 "personId": hydra("PEOPLE", person), "roomId": card["roomId"],
                                 "created": "2026-01-01T00:02:00.000Z"}
        env = json.loads(self.activity(raw, room, person, email, direct, [], "cardAction",
                                       unhydra(card_msg_id)[2], parent_type="cardAction"))
        env["data"]["activity"]["object"] = {"objectType": "submit", "inputs": inputs}
        self.emit(json.dumps(env), raw=raw)
        return raw

    def redeliver(self, raw):
        with self.lock:
            envs = [e for r, e in self.envelopes if r == raw]
        for e in envs:
            self.emit(e, record=False)

    def raw_frame(self, text):
        self.emit(text, record=False)

    def drop(self, code=None, reason=None):
        with self.lock:
            ws = self.ws
        if ws:
            ws.close(code, reason if reason is not None else (b"going away" if code else b""))

    def wait_ready(self, count, timeout=10):
        end = time.monotonic() + timeout
        with self.lock:
            while self.ready_count < count:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True


if __name__ == "__main__":
    f = Fake(int(sys.argv[1]), sys.argv[2]).start()
    print(f"fake Webex on {f.base}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        f.stop()
