#!/usr/bin/env bash
# Largest Contentful Paint and bytes transferred for the dashboard, the issue list (10,000
# issues in the store) and an agent's terminal page, cold (empty HTTP cache, no service
# worker) and warm, in headless Chromium at 390 and 1366 px. Loopback, so the numbers are the
# server's render time plus the browser's own work (no network latency). Prints Markdown rows.
# Needs chromium, chromium-driver, curl, git, tmux, python3.
#   bash bench/web_lcp.sh [binary]     (default: a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${1:-}" ]; then BIN="$1"; else cargo build --release -q; BIN="$PWD/target/release/aiops"; fi
WORK="$(mktemp -d)"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; for s in "$WORK"/data/tmux/*/tmux.sock; do tmux -S "$s" kill-server 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

DATA="$WORK/data"
"$BIN" admin --data-dir "$DATA" create-user bench@example.com --admin --password bench-password >/dev/null
KEY="$("$BIN" admin --data-dir "$DATA" create-key bench@example.com --scopes read,write,admin 2>/dev/null | grep -o 'aiops_[0-9a-f]*')"
"$BIN" admin --data-dir "$DATA" seed-demo bench@example.com --tenants 20 --projects-per-tenant 5 --issues 10000 >/dev/null
git init -q --bare -b main "$WORK/origin.git"
git -C "$WORK" init -q -b main seed
echo "# bench" > "$WORK/seed/README.md"
git -C "$WORK/seed" -c user.name=b -c user.email=b@x add -A
git -C "$WORK/seed" -c user.name=b -c user.email=b@x commit -qm init
git -C "$WORK/seed" push -q "$WORK/origin.git" main

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
AIOPS_DATA_DIR="$DATA" AIOPS_BIND="127.0.0.1:$PORT" AIOPS_LOG=warn "$BIN" serve >/dev/null &
PID=$!
until curl -sf "$BASE/api/v1/health" >/dev/null; do sleep 0.01; done
H=(-H "Authorization: Bearer $KEY" -H "Content-Type: application/json")
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
TENANT=$(curl -sf "${H[@]}" "$BASE/api/v1/tenants" | json '["tenants"][0]["id"]')
PROJECT=$(curl -sf "${H[@]}" -d "{\"name\":\"lcp\",\"repo_url\":\"$WORK/origin.git\",\"tenant_id\":$TENANT}" "$BASE/api/v1/projects" | json '["project"]["id"]')
SESSION=$(curl -sf "${H[@]}" -d '{"tool":"shell","command":"sleep 600"}' "$BASE/api/v1/projects/$PROJECT/ai/sessions" | json '["id"]')

for width in 390 1366; do
  python3 bench/web_lcp.py "$BASE" bench@example.com bench-password "$width" / /issues "/sessions/$SESSION/terminal"
done
