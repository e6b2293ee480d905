#!/bin/sh
# outbox.sh PROVBOT -- cases delivered to a strict, flaky local case server
# (tests/fakes/case_server.py: every request logged, body and bearer token
# checked) exactly once: refused connection, 500, a lost answer (timeout), 429
# Retry-After, then accepted; a kill -9 with cases queued loses none; a 4xx
# fails the case and the person is told at the next turn; a wrong token is
# refused; a seeded random plan. Request counts are asserted exactly, with the
# server's de-duplication off wherever no answer is lost. Prints TAP.
P=$(realpath "$1")
T=$(mktemp -d)
SRV=""
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
n=0
check() { n=$((n+1)); if [ "$2" = 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; [ -n "$3" ] && printf "%s\n" "$3" | sed "s/^/#   /"; fi; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PROVBOT_CASE_BACKEND=http PROVBOT_CASE_URL="http://127.0.0.1:$port/cases"
export PROVBOT_CASE_TOKEN=sekret-token-0123 PROVBOT_OUTBOX_BACKOFF_MS=100 PROVBOT_CASE_TIMEOUT_MS=700
export PROVBOT_OUTBOX_MAX_SECONDS=30
start_server() { # PLAN [OPTIONS...]: the token is always required
    : > "$T/server.log"
    plan=$1; shift
    python3 tests/fakes/case_server.py "$port" "$T/server.log" "$plan" --token sekret-token-0123 "$@" \
        2>> "$T/server.err" & SRV=$!
    for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && return; sleep 0.1; done
}
stop_server() { kill "$SRV"; wait "$SRV" 2>/dev/null; SRV=""; }
# reqs LOG PYTHON: runs the assertions PYTHON with posts (the POSTs logged, in
# order), created (the tickets made), rejects and steps; exit 1 and the
# failed assertion on stdout as a TAP comment.
reqs() {
    python3 - "$1" "$2" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
posts = [r for r in rows if r.get("method") == "POST"]
gets = [r for r in rows if r.get("method") == "GET"]
rejects = [r for r in posts if r["step"].startswith("reject")]
steps = [r["step"] for r in posts]
created = [r for r in rows if r.get("created")]
try:
    exec(sys.argv[2])
except AssertionError as e:
    print("#   " + str(e)[:600])
    sys.exit(1)
PY
}
field() { "$P" cases show "$1" --json --data "$2" | python3 -c "import json,sys; print(json.load(sys.stdin)['$3'])"; }

# 1. The server is down: the case is committed as queued, the person gets the reference.
printf 'open a case for order 55512345, new contact it-admin@example.org, save fails, org not onboarded\nyes\n' |
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
reqs "$T/server.log" '
assert steps == ["500", "timeout:2", "429:1", "201"], ("exactly four POSTs", steps)
assert not gets, gets
assert all(r["key"] == "PB-000001" and r["body"]["id"] == "PB-000001" for r in posts), "the idempotency key"
assert all(r["auth"] == "Bearer sekret-token-0123" for r in posts)
assert all(r["headers"].get("content-type") == "application/json" for r in posts)
assert all(r["body"]["order_ref"] == "55512345" and r["body"]["new_email"] == "it-admin@example.org"
           and r["body"]["requester"] == "partner@example.com" for r in posts), posts[0]["body"]
assert [c["ticket"] for c in created] == ["T-1"], ("one ticket, made by the lost answer", created)
'
check "exactly four valid POSTs (500, lost, 429, 201), key, token and body right; one ticket" $?
[ "$(grep -c 'event=case_retry case=PB-000001' "$T/e2")" = 3 ] && ! grep -q sekret "$T/e1" "$T/e2"
check "exactly three retries logged, the token never is" $? "$(grep -c event=case_retry "$T/e2")"
stop_server

# 3. kill -9 with cases queued: none is lost, each delivered once.
mkfifo "$T/fifo"
"$P" chat --jsonl --data "$T/k" --user p@example.com < "$T/fifo" > "$T/rk" 2>/dev/null & BOT=$!
exec 3> "$T/fifo"
for i in 1 2 3; do
    printf 'open a case for order 7770000%s, new contact n%s@example.org, save fails, org not onboarded\nyes\n' "$i" "$i" >&3
done
for _ in $(seq 50); do [ "$(grep -c '"case":{' "$T/rk")" -ge 3 ] && break; sleep 0.1; done
kill -9 $BOT; wait $BOT 2>/dev/null; exec 3>&-
[ "$(grep -c '"case":{' "$T/rk")" = 3 ]
check "three cases confirmed before the kill -9" $? "$(cat "$T/rk" | tail -2)"
start_server "503,201" --no-dedup
"$P" outbox --data "$T/k" 2>/dev/null
"$P" cases list --json --data "$T/k" > "$T/list"
python3 - "$T/list" "$T/server.log" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1]))
assert len(cases) == 3 and all(c["status"] == "filed" for c in cases), cases
PY
ok=$?
[ $ok = 0 ] && reqs "$T/server.log" '
keys = sorted(r["key"] for r in posts)
assert len(posts) == 4 and steps.count("503") == 1, ("exactly one 503 and three 201s", steps)
assert sorted(set(keys)) == ["PB-000001", "PB-000002", "PB-000003"], keys
assert sorted(c["key"] for c in created) == ["PB-000001", "PB-000002", "PB-000003"], created
'
ok=$?
check "after kill -9 and a restart every case is POSTed once more than its 503s (4 POSTs, 3 tickets, no dedup)" $ok
stop_server

# 4. A 4xx fails the case; the person is told at the next turn, with the reference.
start_server "400" --no-dedup
printf 'open a case for order 12121212, new contact z@example.org, save fails, org not onboarded\nyes\n' |
    "$P" chat --jsonl --data "$T/f" --session s4 --user p@example.com > /dev/null 2>&1
"$P" outbox --data "$T/f" 2> "$T/e4"
[ "$(field PB-000001 "$T/f" status)" = failed ]
check "a 400 marks the case failed" $? "$(cat "$T/e4")"
reqs "$T/server.log" 'assert steps == ["400"], ("a 4xx is not retried", steps)'
check "... after exactly one POST" $?
echo "hello again" | "$P" chat --jsonl --data "$T/f" --session s4 > "$T/r4" 2>/dev/null
grep -q 'could not accept your case \*\*PB-000001' "$T/r4" && grep -q 'Mention PB-000001\.' "$T/r4"
check "the person learns of the failure at the next turn" $? "$(cat "$T/r4")"
echo "and again" | "$P" chat --jsonl --data "$T/f" --session s4 > "$T/r5" 2>/dev/null
! grep -q 'PB-000001' "$T/r5"
check "... and only once" $?
stop_server

# 6. A wrong or missing token: 401, the case fails after one POST each.
for tok in wrong-token ""; do
    start_server "201" --no-dedup
    d="$T/t${tok:-none}"
    printf 'open a case for order 34343434, new contact w@example.org, save fails, org not onboarded\nyes\n' |
        PROVBOT_CASE_TOKEN=$tok "$P" chat --jsonl --data "$d" --user p@example.com > /dev/null 2>&1
    PROVBOT_CASE_TOKEN=$tok "$P" outbox --data "$d" 2> "$T/e6"
    [ "$(field PB-000001 "$d" status)" = failed ] && reqs "$T/server.log" '
assert steps == ["reject:401"], steps
assert not created, created'
    check "token '${tok:-none}': refused with 401 after one POST, the case failed" $? "$(tail -2 "$T/e6")"
    stop_server
done

# 7. Five cases, no dedup, every POST accepted: exactly five POSTs, five tickets.
for i in 1 2 3 4 5; do
    printf 'open a case for order 4545454%s, new contact f%s@example.org, save fails, org not onboarded\nyes\n' "$i" "$i"
done | "$P" chat --jsonl --data "$T/five" --user p@example.com > /dev/null 2>&1
start_server "201" --no-dedup
"$P" outbox --data "$T/five" 2> "$T/e7"
reqs "$T/server.log" '
assert len(posts) == 5 and not rejects, ("exactly five valid POSTs", steps, rejects[:1])
assert sorted(r["key"] for r in posts) == ["PB-00000%d" % i for i in range(1, 6)], [r["key"] for r in posts]
assert len(created) == 5
assert sorted(r["body"]["order_ref"] for r in posts) == ["4545454%d" % i for i in range(1, 6)]
'
check "five cases: exactly five POSTs, one per case, five tickets" $? "$(tail -2 "$T/e7")"
stop_server

# 8. A seeded random plan (503s and lost answers): per case, one retry per
# failed step, and nothing after its success.
SEED=${OUTBOX_SEED:-1616}
for i in 1 2 3 4 5 6; do
    printf 'open a case for order 5656565%s, new contact r%s@example.org, save fails, org not onboarded\nyes\n' "$i" "$i"
done | "$P" chat --jsonl --data "$T/rnd" --user p@example.com > /dev/null 2>&1
start_server "random" --seed "$SEED"
"$P" outbox --data "$T/rnd" 2> "$T/e8"
reqs "$T/server.log" '
import re
retries = {}
for k in re.findall(r"event=case_retry case=(PB-\d+)", open("'"$T/e8"'").read()):
    retries[k] = retries.get(k, 0) + 1
by = {}
for r in posts:
    by.setdefault(r["key"], []).append(r["step"])
assert sorted(by) == ["PB-00000%d" % i for i in range(1, 7)], sorted(by)
assert not rejects, rejects[:1]
fails = sum(s != "201" for s in steps)
assert fails > 0, ("the seed made no failure: choose another", steps)
for k, ss in by.items():
    assert ss[-1] == "201" and "201" not in ss[:-1], (k, "posted after its success", ss)
    assert retries.get(k, 0) == len(ss) - 1, (k, "retries logged", retries.get(k, 0), "plan", ss)
assert len({c["key"] for c in created}) == 6
'
check "seeded random plan (seed $SEED): each case POSTed until its first 201, never after; retries exactly the failed steps" $? "$(grep seed "$T/server.err" | tail -1)"
stop_server

# 5. A misconfigured backend is refused at start.
PROVBOT_CASE_BACKEND=carrier-pigeon "$P" chat --jsonl --data "$T/x" < /dev/null 2> "$T/e5"; rc=$?
[ $rc = 2 ] && grep -q 'PROVBOT_CASE_BACKEND' "$T/e5"
check "an unknown backend: exit 2, naming the variable" $? "rc=$rc"
echo "1..$n"
