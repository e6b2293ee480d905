#!/bin/sh
# run.sh -- the browser test: starts `provbot serve` on a free loopback port
# with a fresh store, waits for /healthz, drives the chat page in Debian's
# chromium (chat.test.mjs, TAP on stdout) and stops the server.
#   PROVBOT_BIN  the program (default build/provbot, relative to the repo root)
#   CHROMIUM     the browser (default /usr/bin/chromium)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
bin=${PROVBOT_BIN:-build/provbot}

if [ ! -x "$bin" ]; then
    echo "browser: $bin not found: build it first (make)" >&2
    exit 2
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi

port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
data=$(mktemp -d)
log="$data/serve.log"
"$bin" serve --listen "127.0.0.1:$port" --data "$data" >"$log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# /healthz within 10 s
if ! node -e '
const url = process.argv[1], end = Date.now() + 10000;
(async function poll() {
  try { const r = await fetch(url); if (r.status === 200) process.exit(0); } catch (e) { /* not up yet */ }
  if (Date.now() > end) process.exit(1);
  setTimeout(poll, 100);
})();' "http://127.0.0.1:$port/healthz"; then
    echo "browser: provbot serve did not answer /healthz within 10 s; its log:" >&2
    tail -n 30 "$log" >&2
    exit 1
fi

rc=0
node "$here/chat.test.mjs" "http://127.0.0.1:$port" || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "# provbot serve's log (last 30 lines):"
    tail -n 30 "$log" | sed 's/^/#   /'
fi
exit "$rc"
