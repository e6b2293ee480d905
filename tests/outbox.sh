#!/bin/sh
# outbox.sh PROVBOT -- cases delivered to a flaky local case server exactly
# once: refused connection, 500, a lost answer (timeout), 429 Retry-After,
# then accepted; a kill -9 with cases queued loses none; a 4xx fails the case
# and the person is told at the next turn. Prints TAP.
P=$(realpath "$1")
T=$(mktemp -d)
SRV=""
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
n=0
check() { n=$((n+1)); if [ "$2" = 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; [ -n "$3" ] && echo "#   $3"; fi; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PROVBOT_CASE_BACKEND=http PROVBOT_CASE_URL="http://127.0.0.1:$port/cases"
export PROVBOT_CASE_TOKEN=sekret-token-0123 PROVBOT_OUTBOX_BACKOFF_MS=100 PROVBOT_CASE_TIMEOUT_MS=700
export PROVBOT_OUTBOX_MAX_SECONDS=30
start_server() { # PLAN
    : > "$T/server.log"
    python3 tests/fakes/case_server.py "$port" "$T/server.log" "$1" & SRV=$!
    for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && return; sleep 0.1; done
}
stop_server() { kill "$SRV"; wait "$SRV" 2>/dev/null; SRV=""; }
field() { "$P" cases show "$1" --json --data "$2" | python3 -c "import json,sys; print(json.load(sys.stdin)['$3'])"; }

# 1. The server is down: the case is committed as queued, the person gets the reference.
printf 'open a case for order 55512345, new contact it-admin@example.org, save fails\nyes\n' |
    "$P" chat --jsonl --data "$T/d" --user partner@example.com > "$T/r1" 2> "$T/e1"
tail -1 "$T/r1" | grep -q '"status":"queued"' && tail -1 "$T/r1" | grep -q 'PB-000001'
check "case queued at once while the server is down (reference given)" $? "$(tail -1 "$T/r1")"
[ "$(field PB-000001 "$T/d" status)" = queued ]
check "the case stays queued after a refused connection" $?

# 2. 500, a lost answer, 429 with Retry-After, then accepted: filed exactly once.
start_server "500,timeout:2,429:1,201"
"$P" outbox --data "$T/d" 2> "$T/e2"
check "outbox drain exits 0" $? "$(tail -3 "$T/e2")"
[ "$(field PB-000001 "$T/d" status)" = filed ] && [ "$(field PB-000001 "$T/d" remote_id)" = T-1 ]
check "filed with the server's ticket id as remote_id" $? "$(cat "$T/e2")"
python3 - "$T/server.log" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
reqs = [r for r in rows if "step" in r]
created = [r for r in rows if r.get("created")]
assert [r["step"] for r in reqs][:4] == ["500", "timeout:2", "429:1", "201"], [r["step"] for r in reqs]
assert all(r["key"] == "PB-000001" for r in reqs), "every attempt carries the idempotency key"
assert all(r["auth"] == "Bearer sekret-token-0123" for r in reqs)
assert all(r["type"] == "Change provisioning contact email" for r in reqs)
assert len(created) == 1, "exactly one ticket for the case"
PY
check "each attempt has Idempotency-Key and the bearer token; one ticket only" $?
grep -q 'retry' "$T/e2" && ! grep -q sekret "$T/e1" "$T/e2"
check "retries are logged, the token never is" $?
stop_server

# 3. kill -9 with cases queued: none is lost, each delivered once.
mkfifo "$T/fifo"
"$P" chat --jsonl --data "$T/k" --user p@example.com < "$T/fifo" > "$T/rk" 2>/dev/null & BOT=$!
exec 3> "$T/fifo"
for i in 1 2 3; do
    printf 'open a case for order 7770000%s, new contact n%s@example.org, save fails\nyes\n' "$i" "$i" >&3
done
for _ in $(seq 50); do [ "$(grep -c '"case":{' "$T/rk")" -ge 3 ] && break; sleep 0.1; done
kill -9 $BOT; wait $BOT 2>/dev/null; exec 3>&-
[ "$(grep -c '"case":{' "$T/rk")" = 3 ]
check "three cases confirmed before the kill -9" $? "$(cat "$T/rk" | tail -2)"
start_server "503,201"
"$P" outbox --data "$T/k" 2>/dev/null
"$P" cases list --json --data "$T/k" > "$T/list"
python3 - "$T/list" "$T/server.log" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1]))
assert len(cases) == 3 and all(c["status"] == "filed" for c in cases), cases
rows = [json.loads(l) for l in open(sys.argv[2])]
created = [r["key"] for r in rows if r.get("created")]
assert sorted(created) == sorted(c["id"] for c in cases), created
PY
check "after kill -9 and a restart every case is filed exactly once" $?
stop_server

# 4. A 4xx fails the case; the person is told at the next turn, with the reference.
start_server "400"
printf 'open a case for order 12121212, new contact z@example.org, save fails\nyes\n' |
    "$P" chat --jsonl --data "$T/f" --session s4 --user p@example.com > /dev/null 2>&1
"$P" outbox --data "$T/f" 2> "$T/e4"
[ "$(field PB-000001 "$T/f" status)" = failed ]
check "a 400 marks the case failed" $? "$(cat "$T/e4")"
echo "hello again" | "$P" chat --jsonl --data "$T/f" --session s4 > "$T/r4" 2>/dev/null
grep -q 'could not accept your case \*\*PB-000001' "$T/r4"
check "the person learns of the failure at the next turn" $? "$(cat "$T/r4")"
echo "and again" | "$P" chat --jsonl --data "$T/f" --session s4 > "$T/r5" 2>/dev/null
! grep -q 'PB-000001' "$T/r5"
check "... and only once" $?
stop_server

# 5. A misconfigured backend is refused at start.
PROVBOT_CASE_BACKEND=carrier-pigeon "$P" chat --jsonl --data "$T/x" < /dev/null 2> "$T/e5"; rc=$?
[ $rc = 2 ] && grep -q 'PROVBOT_CASE_BACKEND' "$T/e5"
check "an unknown backend: exit 2, naming the variable" $? "rc=$rc"
echo "1..$n"
