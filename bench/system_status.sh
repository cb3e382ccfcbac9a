#!/usr/bin/env bash
# Benchmark (not a test): how fast `system status` answers from its cache (the slow checks run
# in the background), against the same call forcing the checks (`?refresh=1`), for the API and
# the /admin/system page. Loopback only; curl's time_total, median and p95 of RUNS calls.
# Usage: bench/system_status.sh [runs]   (AIOPS_BENCH_BIN=path uses that binary instead of a
# fresh release build)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-50}"
if [ -n "${AIOPS_BENCH_BIN:-}" ]; then BIN="$AIOPS_BENCH_BIN"; else cargo build --release -q; BIN="$PWD/target/release/aiops"; fi
WORK="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

DATA="$WORK/data"
"$BIN" admin --data-dir "$DATA" create-user bench@example.com --admin --password bench-password >/dev/null
KEY="$("$BIN" admin --data-dir "$DATA" create-key bench@example.com --scopes read,write,admin 2>/dev/null)"
"$BIN" admin --data-dir "$DATA" seed-demo bench@example.com --tenants 20 --projects-per-tenant 5 --issues 10000 >/dev/null
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
AIOPS_DATA_DIR="$DATA" AIOPS_BIND="127.0.0.1:$PORT" AIOPS_LOG=warn "$BIN" serve >/dev/null &
PID=$!
until curl -sf "$BASE/api/v1/health" >/dev/null; do sleep 0.01; done
JAR="$WORK/jar"
CSRF=$(curl -s -c "$JAR" "$BASE/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
curl -s -b "$JAR" -c "$JAR" -o /dev/null -d "email=bench%40example.com&password=bench-password&csrf_token=$CSRF" "$BASE/login"
SESSION=$(awk '$6 == "aiops_session" {print $7}' "$JAR")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: aiops_session=$SESSION" "$BASE/admin/system")
[ "$code" = 200 ] || { echo "the web login failed: /admin/system answered $code" >&2; exit 1; }
# The first check at start has run once the status answers.
curl -sf -H "X-API-Key: $KEY" "$BASE/api/v1/system/status" >/dev/null

times() { # header, path -> "median ms, p95 ms"
  for _ in $(seq "$RUNS"); do
    curl -sf -o /dev/null -w '%{time_total}\n' -H "$1" "$BASE$2"
  done | python3 -c '
import sys
t = sorted(float(l) * 1000 for l in sys.stdin)
print(f"median {t[len(t)//2]:.1f} ms, p95 {t[int(len(t)*0.95)-1]:.1f} ms")'
}
echo "| measure | result |"
echo "|---|---|"
echo "| GET /api/v1/system/status (cached checks, $RUNS calls) | $(times "X-API-Key: $KEY" /api/v1/system/status) |"
echo "| GET /api/v1/system/status?refresh=1 (checks run now) | $(times "X-API-Key: $KEY" '/api/v1/system/status?refresh=1') |"
echo "| page: /admin/system (cached checks) | $(times "Cookie: aiops_session=$SESSION" /admin/system) |"
