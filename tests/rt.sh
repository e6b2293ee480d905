#!/bin/sh
# rt.sh PROVBOT -- cases filed in a real Request Tracker 5 over REST2.
#
# Installs Debian's request-tracker5 with rt5-db-sqlite and rt5-standalone
# when missing (as root; otherwise says `not ok`), keeps an RT database with
# the queue, the four ticket custom fields and an auth token in build/rt/
# (made once with rt-setup-database and RT's Perl API, reused by warm runs),
# starts rt-server on a free loopback port, and checks over REST2 that:
# a conversation with a screenshot files one ticket with queue, subject,
# requestor, every custom field and the attachment; case_status shows the
# ticket's status; a create whose answer is lost is adopted by the search, not
# filed twice; a case filed while RT is down stays queued and is filed once
# when RT is back; a wrong token, an unknown queue and a missing custom field
# fail the case (the person is told); the token is never logged. Prints TAP.
P=$(realpath "$1")
cd "$(dirname "$0")/.." || exit 1
RTDIR=$(pwd)/build/rt
RTLIB=/usr/share/request-tracker5/lib
RTSERVER=/usr/share/request-tracker5/libexec/rt-server
QUEUE=Provisioning
T=$(mktemp -d)
SRV=""
PROXY=""
cleanup() {
    [ -n "$SRV" ] && kill "$SRV" 2>/dev/null
    [ -n "$PROXY" ] && kill "$PROXY" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
n=0
check() { n=$((n+1)); if [ "$2" = 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; [ -n "$3" ] && echo "#   $3" | head -c 2000 && echo; fi; }
bail() { echo "1..$n"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 1. The packages.
pkgs="request-tracker5 rt5-db-sqlite rt5-standalone"
missing() { for p in $pkgs; do dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || echo "$p"; done; }
if [ -n "$(missing)" ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends $pkgs > "$T/apt.log" 2>&1 ||
            { apt-get update > /dev/null 2>&1 && apt-get install -y --no-install-recommends $pkgs > "$T/apt.log" 2>&1; }
    else
        echo "# not root: run apt-get install $pkgs"
    fi
fi
[ -z "$(missing)" ] && [ -x "$RTSERVER" ]
check "request-tracker5, rt5-db-sqlite and rt5-standalone are installed" $? "$(tail -3 "$T/apt.log" 2>/dev/null)"
[ -z "$(missing)" ] || bail

# 2. RT's site config (ours, not /etc's), its SQLite database and the setup,
# made once and kept in build/rt/.
PORT=$(free_port)
mkdir -p "$RTDIR/etc" "$RTDIR/mason"
write_config() { # PORT
    cat > "$RTDIR/etc/RT_SiteConfig.pm" <<EOF
Set(\$rtname, 'provbot-test');
Set(\$Organization, 'provbot.test');
Set(\$Timezone, 'UTC');
Set(\$DatabaseType, 'SQLite');
Set(\$DatabaseName, '$RTDIR/rt.db');
Set(\$WebPath, '');
Set(\$WebDomain, '127.0.0.1');
Set(\$WebPort, $1);
Set(\$WebBaseURL, 'http://127.0.0.1:$1');
Set(\$MasonDataDir, '$RTDIR/mason');
Set(\$LogToSTDERR, 'error');
Set(\$LogToSyslog, undef);
Set(\$LogToFile, undef);
1;
EOF
}
write_config "$PORT"
export RT_SITE_CONFIG="$RTDIR/etc/RT_SiteConfig.pm" RT_SITE_CONFIG_DIR="$RTDIR/etc/site.d"
mkdir -p "$RT_SITE_CONFIG_DIR"
cat > "$RTDIR/setup.pl" <<'EOF'
# setup.pl QUEUE BARE_QUEUE TOKEN_FILE: the queue with the four ticket custom
# fields applied, a queue without them, and an auth token for root.
use strict;
use warnings;
use RT -init;
my ($queue_name, $bare_name, $token_file) = @ARGV;
my $su = RT->SystemUser;
my %q;
for my $name ($queue_name, $bare_name) {
    my $q = RT::Queue->new($su);
    $q->Load($name);
    unless ($q->Id) {
        my ($ok, $msg) = $q->Create(Name => $name);
        die "queue $name: $msg\n" unless $ok;
    }
    $q{$name} = $q;
}
for my $name ('Case Type', 'Order Reference', 'New Provisioning Email', 'Provbot Case') {
    my $cf = RT::CustomField->new($su);
    $cf->LoadByCols(Name => $name, LookupType => RT::Ticket->CustomFieldLookupType, Disabled => 0);
    unless ($cf->Id) {
        my ($ok, $msg) = $cf->Create(Name => $name, Type => 'FreeformSingle',
                                     LookupType => RT::Ticket->CustomFieldLookupType);
        die "custom field $name: $msg\n" unless $ok;
    }
    unless ($cf->IsAdded($q{$queue_name}->Id)) {
        my ($ok, $msg) = $cf->AddToObject($q{$queue_name});
        die "apply $name: $msg\n" unless $ok;
    }
}
my $root = RT::User->new($su);
$root->Load('root');
my $token = RT::AuthToken->new($su);
my ($ok, $msg, $string) = $token->Create(Owner => $root->Id, Description => 'provbot tests');
die "token: $msg\n" unless $ok && $string;
open my $fh, '>', $token_file or die "$token_file: $!\n";
print $fh $string;
close $fh;
EOF
# The prepared database is kept as pristine.db; every run starts from a copy,
# so that no ticket of an earlier run carries this run's case ids.
if [ -f "$RTDIR/ready" ] && [ -s "$RTDIR/token" ] && [ -s "$RTDIR/pristine.db" ]; then
    # not a check: the REST2 checks below show the reused database works
    echo "# RT database, queue, custom fields and token reused from build/rt"
else
    rm -f "$RTDIR/rt.db" "$RTDIR/pristine.db" "$RTDIR/token" "$RTDIR/ready"
    timeout 120 rt-setup-database-5 --action init --skip-create > "$T/setup.log" 2>&1 &&
        timeout 60 perl -I"$RTLIB" "$RTDIR/setup.pl" "$QUEUE" "Provbot Bare" "$RTDIR/token" >> "$T/setup.log" 2>&1 &&
        cp "$RTDIR/rt.db" "$RTDIR/pristine.db" && touch "$RTDIR/ready"
    check "RT database made with rt-setup-database; queue, custom fields, token with RT's API" $? "$(tail -5 "$T/setup.log")"
fi
[ -f "$RTDIR/ready" ] || bail
cp "$RTDIR/pristine.db" "$RTDIR/rt.db" || bail
TOKEN=$(cat "$RTDIR/token")

# 3. RT on loopback.
start_rt() {
    "$RTSERVER" --server Standalone --host 127.0.0.1 --port "$PORT" >> "$T/rt.log" 2>&1 & SRV=$!
    for _ in $(seq 120); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: token $TOKEN" \
            "http://127.0.0.1:$PORT/REST/2.0/queue/$QUEUE")" = 200 ] && return 0
        kill -0 "$SRV" 2>/dev/null || return 1
        sleep 0.25
    done
    return 1
}
stop_rt() { kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null; SRV=""; }
t0=$(date +%s)
start_rt
check "rt-server answers REST2 on 127.0.0.1:$PORT ($(( $(date +%s) - t0 ))s)" $? "$(tail -5 "$T/rt.log")"
[ -n "$SRV" ] || bail

export PROVBOT_CASE_BACKEND=rt PROVBOT_RT_URL="http://127.0.0.1:$PORT" PROVBOT_RT_TOKEN="$TOKEN"
export PROVBOT_RT_QUEUE="$QUEUE" PROVBOT_OUTBOX_BACKOFF_MS=100 PROVBOT_CASE_TIMEOUT_MS=10000
export PROVBOT_OUTBOX_MAX_SECONDS=40
D="$T/d"
rest() { # PATH: GET over REST2 with the token (python, for the checks)
    python3 - "$PROVBOT_RT_URL" "$TOKEN" "$1" <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/REST/2.0/" + sys.argv[3],
                             headers={"Authorization": "token " + sys.argv[2]})
print(urllib.request.urlopen(req, timeout=20).read().decode())
PY
}
field() { "$P" cases show "$1" --json --data "$D" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2'))"; }
tickets_of() { # CASE_ID: how many RT tickets carry it
    python3 - "$PROVBOT_RT_URL" "$TOKEN" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
q = urllib.parse.quote("'CF.{Provbot Case}' = '%s'" % sys.argv[3])
req = urllib.request.Request(sys.argv[1] + "/REST/2.0/tickets?query=" + q,
                             headers={"Authorization": "token " + sys.argv[2]})
print(json.load(urllib.request.urlopen(req, timeout=20))["total"])
PY
}

# 4. A conversation with a screenshot files a case; the outbox files the ticket.
python3 - "$T/shot.png" <<'PY'
import struct, sys, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
raw = b"".join(b"\0" + b"\x20\x80\xe0" * 8 for _ in range(8))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
printf '%s\n' 'open a case for order 55512345, new contact it-admin@example.org, saving fails even in incognito, org not onboarded' \
    "{\"attach\": \"$T/shot.png\"}" 'yes' |
    "$P" chat --jsonl --data "$D" --session s1 --user partner@example.com > "$T/r1" 2> "$T/e1"
sed -n 2p "$T/r1" | grep -q '"type":"attached"' && tail -1 "$T/r1" | grep -q '"id":"PB-000001","type":"Change provisioning contact email","status":"queued"'
check "the case is queued at once, with the screenshot attached in --jsonl" $? "$(cat "$T/r1")"
"$P" outbox --data "$D" 2> "$T/e2"
check "provbot outbox exits 0" $? "$(tail -3 "$T/e2")"
TID=$(field PB-000001 remote_id)
[ "$(field PB-000001 status)" = filed ] && [ -n "$TID" ] && [ "$TID" != None ]
check "the case is filed with the RT ticket id as remote_id ($TID)" $? "$(cat "$T/e1" "$T/e2")"
[ "$(tickets_of PB-000001)" = 1 ] && ! grep -q 'found by the case id' "$T/e1" "$T/e2"
check "created once (no ticket carried the case id before)" $? "$(cat "$T/e1" "$T/e2")"
rest "ticket/$TID" > "$T/ticket.json" 2> "$T/rest.err"
rest "queue/$QUEUE" > "$T/queue.json" 2>> "$T/rest.err"
python3 - "$T/ticket.json" "$T/queue.json" <<'PY' > "$T/why" 2>&1
import json, sys
t = json.load(open(sys.argv[1])); q = json.load(open(sys.argv[2]))
assert str(t["Queue"]["id"]) == str(q["id"]), ("queue", t["Queue"], q["id"])
assert "55512345" in t["Subject"] and "PB-000001" in t["Subject"] and \
    t["Subject"].startswith("Change provisioning contact email"), t["Subject"]
assert [r["id"] for r in t["Requestor"]] == ["partner@example.com"], t["Requestor"]
cf = {c["name"]: c["values"] for c in t["CustomFields"]}
want = {"Case Type": ["Change provisioning contact email"], "Order Reference": ["55512345"],
        "New Provisioning Email": ["it-admin@example.org"], "Provbot Case": ["PB-000001"]}
for k, v in want.items():
    assert cf.get(k) == v, (k, cf.get(k))
assert t["Status"] == "new", t["Status"]
PY
check "the ticket over REST2: queue, subject, requestor, every custom field" $? "$(cat "$T/why" "$T/rest.err")"
rest "ticket/$TID/attachments" > "$T/atts.json" 2> "$T/rest.err"
python3 - "$T/atts.json" "$T/shot.png" "$PROVBOT_RT_URL" "$TOKEN" <<'PY' > "$T/why" 2>&1
import base64, json, sys, urllib.request
items = json.load(open(sys.argv[1]))["items"]
shot = open(sys.argv[2], "rb").read()
found, text = False, ""
for it in items:
    req = urllib.request.Request(it["_url"], headers={"Authorization": "token " + sys.argv[4]})
    a = json.load(urllib.request.urlopen(req, timeout=20))
    body = base64.b64decode(a.get("Content") or "")
    if a.get("Filename") == "shot.png":
        assert a["ContentType"] == "image/png", a["ContentType"]
        assert body == shot, "attachment bytes differ"
        found = True
    elif a.get("ContentType") == "text/plain":
        text += body.decode("utf-8", "replace")
assert found, "no shot.png among %d attachments" % len(items)
assert "cannot be changed in CCW" in text and "user: open a case for order 55512345" in text, text[:400]
PY
check "the ticket carries the screenshot (same bytes) and the summary with the transcript" $? "$(cat "$T/why" "$T/rest.err")"
echo "what is the status of my case" |
    "$P" chat --jsonl --data "$D" --session s1 > "$T/r3" 2>/dev/null
grep -q "PB-000001.*#$TID: new" "$T/r3"
check "case_status shows the RT ticket's status (read back, cached in the store)" $? "$(cat "$T/r3")"

# 5. The create's answer is lost (a proxy passes the POST to RT, then hangs
# up): the retry's search finds the ticket and adopts it; one ticket only.
PPORT=$(free_port)
python3 - "$PPORT" "$PORT" "$T/proxy.log" <<'PY' & PROXY=$!
import http.client, http.server, sys, time
port, rt, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dropped = []
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def relay(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        c = http.client.HTTPConnection("127.0.0.1", rt, timeout=30)
        c.request(self.command, self.path, body, {k: v for k, v in self.headers.items() if k.lower() != "host"})
        r = c.getresponse(); data = r.read()
        with open(log, "a") as f:
            f.write("%s %s %d\n" % (self.command, self.path.split("?")[0], r.status))
        if self.command == "POST" and not dropped:
            dropped.append(1)
            # the answer is lost: hold it until the client gives up and
            # hangs up (its own timeout decides, not a sleep here)
            self.connection.settimeout(300)
            try:
                while self.connection.recv(1024):
                    pass
            except OSError:
                pass
            self.close_connection = True
            return
        self.send_response(r.status)
        self.send_header("Content-Type", r.getheader("Content-Type") or "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers(); self.wfile.write(data)
    do_GET = do_POST = relay
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$PPORT),0.2)" 2>/dev/null && break; sleep 0.1; done
printf '%s\n' 'open a case for order 66612345, new contact lost@example.org, save fails, org not onboarded' 'yes' |
    PROVBOT_RT_URL="http://127.0.0.1:$PPORT" "$P" chat --jsonl --data "$D" --session s2 --user p2@example.com > /dev/null 2>&1
# the client's timeout ends the held POST; scaled so that the retry's search
# of a loaded RT is not cut short too
LOST_MS=$(awk -v s="${TEST_SLOWDOWN:-1}" 'BEGIN { printf "%d", 5000 * (s > 1 ? s : 1) }')
PROVBOT_RT_URL="http://127.0.0.1:$PPORT" PROVBOT_CASE_TIMEOUT_MS=$LOST_MS "$P" outbox --data "$D" 2> "$T/e5"
[ "$(field PB-000002 status)" = filed ] && [ "$(tickets_of PB-000002)" = 1 ] &&
    grep -q 'case=PB-000002.*found by the case id' "$T/e5" && [ "$(grep -c '^POST' "$T/proxy.log")" = 1 ]
check "a create whose answer is lost is found by the case id and adopted: one ticket" $? \
    "$(cat "$T/e5" "$T/proxy.log"; tickets_of PB-000002)"
kill "$PROXY"; wait "$PROXY" 2>/dev/null; PROXY=""

# 6. RT is down while a case is filed: queued; RT back: filed exactly once.
stop_rt
printf '%s\n' 'open a case for order 77712345, new contact down@example.org, save fails, org not onboarded' 'yes' |
    "$P" chat --jsonl --data "$D" --session s3 --user p3@example.com > "$T/r6" 2> "$T/e6"
tail -1 "$T/r6" | grep -q '"id":"PB-000003","type":"Change provisioning contact email","status":"queued"'
check "with RT stopped the case is queued and the person gets the reference" $? "$(tail -1 "$T/r6")"
PROVBOT_OUTBOX_MAX_SECONDS=2 "$P" outbox --data "$D" 2>> "$T/e6"
[ "$(field PB-000003 status)" = queued ] && grep -q 'case_retry case=PB-000003' "$T/e6"
check "... and stays queued while RT does not answer (retried with backoff)" $? "$(cat "$T/e6")"
t0=$(date +%s)
start_rt
check "rt-server started again ($(( $(date +%s) - t0 ))s)" $? "$(tail -5 "$T/rt.log")"
"$P" outbox --data "$D" 2> "$T/e7"
[ "$(field PB-000003 status)" = filed ] && [ "$(tickets_of PB-000003)" = 1 ]
check "RT back: provbot outbox files it, exactly one ticket carries the case id" $? "$(cat "$T/e7")"

# 7. Errors named plainly: the case fails, the person is told once.
fail_case() { # SESSION ORDER: files a case in a new conversation, delivers it
    printf 'open a case for order %s, new contact f@example.org, save fails, org not onboarded\nyes\n' "$2" |
        "$P" chat --jsonl --data "$D" --session "$1" --user p@example.com > /dev/null 2>&1
    "$P" outbox --data "$D" 2>> "$T/e8"
}
PROVBOT_RT_TOKEN=1-99-0123456789abcdef0123456789abcdef fail_case s4 88812345
[ "$(field PB-000004 status)" = failed ] && grep -q 'case_rejected case=PB-000004.*token (HTTP 401)' "$T/e8"
check "a wrong token: the case fails, the log says the token was refused" $? "$(cat "$T/e8")"
echo "hello again" | "$P" chat --jsonl --data "$D" --session s4 > "$T/r8" 2>/dev/null
grep -q 'PB-000004' "$T/r8"
check "... and the person is told at the next turn, with the reference" $? "$(cat "$T/r8")"
PROVBOT_RT_QUEUE="No Such Queue" fail_case s5 99912345
[ "$(field PB-000005 status)" = failed ] && grep -q "case_rejected case=PB-000005.*unknown queue 'No Such Queue'" "$T/e8"
check "an unknown queue: the case fails, the log names the queue" $? "$(tail -3 "$T/e8")"
PROVBOT_RT_QUEUE="Provbot Bare" fail_case s6 11112345
[ "$(field PB-000006 status)" = failed ] && grep -q "case_rejected case=PB-000006.*custom fields 'Case Type'.*'Provbot Case' missing" "$T/e8" &&
    [ "$(tickets_of PB-000006)" = 0 ]
check "a queue without the custom fields: the case fails before any ticket, naming them" $? "$(tail -3 "$T/e8")"
! grep -q "$TOKEN" "$T"/e* && ! grep -q 0123456789abcdef "$T"/e*
check "the token is never logged" $?
echo "1..$n"
