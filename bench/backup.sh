#!/usr/bin/env bash
# Benchmark (not a test): backup and restore of a store with 100,000 tracker issues (plus
# tenants and projects), through the API of a running server. Prints the times, the archive
# size and the store size. Loopback only.
# Usage: bench/backup.sh [issues]
set -euo pipefail
cd "$(dirname "$0")/.."
ISSUES="${1:-100000}"
cargo build --release -q
BIN="$PWD/target/release/aiops"
WORK="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
DATA="$WORK/data"
"$BIN" admin --data-dir "$DATA" create-user bench@example.com --admin --password bench-password >/dev/null
KEY="$("$BIN" admin --data-dir "$DATA" create-key bench@example.com --scopes read,write,admin 2>/dev/null)"
t0=$(date +%s%N)
"$BIN" admin --data-dir "$DATA" seed-demo bench@example.com --tenants 20 --projects-per-tenant 5 --issues "$ISSUES" >/dev/null
t1=$(date +%s%N)
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT/api/v1"
AIOPS_DATA_DIR="$DATA" AIOPS_BIND="127.0.0.1:$PORT" AIOPS_LOG=warn "$BIN" serve >/dev/null &
PID=$!
until curl -sf "$BASE/health" >/dev/null; do sleep 0.01; done
H=(-H "X-API-Key: $KEY" -H "Content-Type: application/json")
STORE=$(stat -c %s "$DATA/aiops.redb")
t2=$(date +%s%N)
B=$(curl -sf "${H[@]}" -d '{"description":"bench"}' "$BASE/system/backups")
t3=$(date +%s%N)
ID=$(echo "$B" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backup"]["id"])')
SIZE=$(echo "$B" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backup"]["size_bytes"])')
R=$(curl -sf "${H[@]}" -X POST "$BASE/system/backups/$ID/restore")
t4=$(date +%s%N)
COUNT=$(curl -sf "${H[@]}" "$BASE/issues?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
RSS=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
echo "store with $ISSUES issues (seeded in $(( (t1 - t0) / 1000000 )) ms): $(( STORE / 1048576 )) MiB redb file"
echo "  backup  (POST /system/backups):          $(( (t3 - t2) / 1000000 )) ms, archive $(( SIZE / 1024 )) KiB"
echo "  restore (verify + safety backup + swap): $(( (t4 - t3) / 1000000 )) ms"
echo "  issues after restore: $COUNT; server peak RSS: $(( RSS / 1024 )) MiB"
