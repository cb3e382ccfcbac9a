#!/usr/bin/env bash
# API benchmark: seeds 10,000 issues' worth of data, then reports req/s and p99 for
# GET /api/v1/tenants, /api/v1/projects and /api/v1/issues?status=open&limit=50 over the 10,000
# seeded issues (key auth), idle RSS, and start-to-first-answer. The tracker sync benchmark is
# `cargo bench --bench tracker_sync` (10,000 issues, 100 pages from the fake GitHub).
# Needs wrk (apt-get install wrk). Runs on loopback only. Usage: bench/api.sh [duration-seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
command -v wrk >/dev/null || { echo "wrk is required: apt-get install wrk" >&2; exit 1; }

cargo build --release -q
BIN="$PWD/target/release/aiops"
DATA="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT

"$BIN" admin --data-dir "$DATA" create-user bench@example.com --admin --password bench-password >/dev/null
KEY="$("$BIN" admin --data-dir "$DATA" create-key bench@example.com --scopes read 2>/dev/null)"
"$BIN" admin --data-dir "$DATA" seed-demo bench@example.com --tenants 20 --projects-per-tenant 5 --issues 10000
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

start_ns=$(date +%s%N)
AIOPS_DATA_DIR="$DATA" AIOPS_BIND="127.0.0.1:$PORT" AIOPS_LOG=warn "$BIN" serve >/dev/null &
PID=$!
until curl -sf "$BASE/api/v1/health" >/dev/null; do sleep 0.002; done
first_ns=$(date +%s%N)
echo "start to first answer: $(( (first_ns - start_ns) / 1000000 )) ms"
sleep 1
echo "idle RSS: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$PID/status)"
echo "binary size: $(du -h "$BIN" | cut -f1)"

for path in /api/v1/tenants /api/v1/projects "/api/v1/issues?status=open&limit=50"; do
  curl -sf -H "X-API-Key: $KEY" "$BASE$path" >/dev/null || { echo "GET $path failed" >&2; exit 1; }
  echo "== GET $path (wrk -t2 -c32 -d${DURATION}s)"
  wrk -t2 -c32 -d"${DURATION}s" --latency -H "X-API-Key: $KEY" "$BASE$path" \
    | awk '/Requests\/sec/ {print "  req/s: " $2} /^ +99%/ {print "  p99:   " $2} /Non-2xx/ {print "  " $0}'
done
echo "RSS after load: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$PID/status)"
