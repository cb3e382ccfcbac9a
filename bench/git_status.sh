#!/usr/bin/env bash
# Benchmark (not a test): `GET /api/v1/projects/{id}/git/status` on a workspace of 10,000 files
# with one changed, against `git status` run directly in the same workspace; and the CLI-served
# reads `GET …/git/log?limit=50` and `GET …/git/branches` beside the git commands they run.
# Loopback only.
# Usage: bench/git_status.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-50}"
cargo build --release -q
BIN="$PWD/target/release/aiops"
WORK="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

git init -q --bare -b main "$WORK/origin.git"
git init -q -b main "$WORK/seed"
( cd "$WORK/seed"
  for d in $(seq -w 0 99); do mkdir -p "d$d"; for f in $(seq -w 0 99); do echo "$d$f" > "d$d/f$f.txt"; done; done
  git add -A && git -c user.name=b -c user.email=b@x commit -q -m seed && git push -q "$WORK/origin.git" main )

DATA="$WORK/data"
"$BIN" admin --data-dir "$DATA" create-user bench@example.com --admin --password bench-password >/dev/null
KEY="$("$BIN" admin --data-dir "$DATA" create-key bench@example.com --scopes read,write,admin 2>/dev/null)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT/api/v1"
AIOPS_DATA_DIR="$DATA" AIOPS_BIND="127.0.0.1:$PORT" AIOPS_LOG=warn "$BIN" serve >/dev/null &
PID=$!
until curl -sf "$BASE/health" >/dev/null; do sleep 0.01; done
H=(-H "X-API-Key: $KEY" -H "Content-Type: application/json")
TID=$(curl -sf "${H[@]}" -d '{"name":"bench"}' "$BASE/tenants" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tenant"]["id"])')
PID_=$(curl -sf "${H[@]}" -d "{\"name\":\"big\",\"repo_url\":\"$WORK/origin.git\",\"tenant_id\":$TID}" "$BASE/projects" | python3 -c 'import json,sys; print(json.load(sys.stdin)["project"]["id"])')
WS=$(curl -sf "${H[@]}" -X POST "$BASE/projects/$PID_/workspace/init" | python3 -c 'import json,sys; print(json.load(sys.stdin)["path"])')
echo "changed" >> "$WS/d42/f42.txt"
# Warm both (index refresh, page cache).
git -C "$WS" status >/dev/null; curl -sf "${H[@]}" "$BASE/projects/$PID_/git/status" >/dev/null

t0=$(date +%s%N); for _ in $(seq "$RUNS"); do git -C "$WS" status --porcelain=v2 --branch >/dev/null; done; t1=$(date +%s%N)
for _ in $(seq "$RUNS"); do curl -sf "${H[@]}" "$BASE/projects/$PID_/git/status" >/dev/null; done; t2=$(date +%s%N)
git_ms=$(( (t1 - t0) / RUNS / 1000 )); api_ms=$(( (t2 - t1) / RUNS / 1000 ))
echo "10,000 files, one changed, $RUNS runs each:"
echo "  git status (CLI):             ${git_ms} µs"
echo "  GET /git/status (API, curl):  ${api_ms} µs"
python3 -c "print(f'  ratio: {$api_ms/$git_ms:.2f}x')"

t0=$(date +%s%N); for _ in $(seq "$RUNS"); do git -C "$WS" log --no-mailmap -n 50 --format='%H%x00%an%x00%ae%x00%aI%x00%s' >/dev/null; done; t1=$(date +%s%N)
for _ in $(seq "$RUNS"); do curl -sf "${H[@]}" "$BASE/projects/$PID_/git/log?limit=50" >/dev/null; done; t2=$(date +%s%N)
for _ in $(seq "$RUNS"); do git -C "$WS" for-each-ref --format='%(refname)%00%(symref)' refs/heads refs/remotes >/dev/null; done; t3=$(date +%s%N)
for _ in $(seq "$RUNS"); do curl -sf "${H[@]}" "$BASE/projects/$PID_/git/branches" >/dev/null; done; t4=$(date +%s%N)
echo "  git log -n 50 (CLI):          $(( (t1 - t0) / RUNS / 1000 )) µs"
echo "  GET /git/log?limit=50 (API):  $(( (t2 - t1) / RUNS / 1000 )) µs"
echo "  git for-each-ref (CLI):       $(( (t3 - t2) / RUNS / 1000 )) µs"
echo "  GET /git/branches (API):      $(( (t4 - t3) / RUNS / 1000 )) µs"
