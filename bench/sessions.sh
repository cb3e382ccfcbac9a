#!/usr/bin/env bash
# Agent session start time with and without the sandbox: the median (and max) of 20
# `POST /api/v1/projects/{id}/ai/sessions` calls, each starting a `sleep` agent in tmux in an
# already cloned workspace. The first start of each run also starts the user's (sandboxed)
# tmux server. Loopback only. Needs curl, git, tmux and bubblewrap.
#   bash bench/sessions.sh [binary]     (default: a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${1:-}" ]; then BIN="$1"; else cargo build --release -q; BIN="$PWD/target/release/aiops"; fi
WORK="$(mktemp -d)"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; for s in "$WORK"/*/tmux/*/tmux.sock; do tmux -S "$s" kill-server 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

git init -q --bare -b main "$WORK/origin.git"
git -C "$WORK" init -q -b main seed
echo "# bench" > "$WORK/seed/README.md"
git -C "$WORK/seed" -c user.name=b -c user.email=b@x add -A
git -C "$WORK/seed" -c user.name=b -c user.email=b@x commit -qm init
git -C "$WORK/seed" push -q "$WORK/origin.git" main

run() { # sandbox on|off -> prints "median max" in ms
  local data="$WORK/$1" port base key tenant project t0 t1
  "$BIN" admin --data-dir "$data" create-user bench@example.com --admin --password bench-password >/dev/null
  key="$("$BIN" admin --data-dir "$data" create-key bench@example.com --scopes read,write,admin 2>/dev/null | grep -o 'aiops_[0-9a-f]*')"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  base="http://127.0.0.1:$port/api/v1"
  AIOPS_DATA_DIR="$data" AIOPS_BIND="127.0.0.1:$port" AIOPS_LOG=warn AIOPS_SANDBOX="$1" "$BIN" serve >/dev/null &
  PID=$!
  until curl -sf "$base/health" >/dev/null; do sleep 0.01; done
  H=(-H "Authorization: Bearer $key" -H "Content-Type: application/json")
  tenant=$(curl -sf "${H[@]}" -d '{"name":"bench"}' "$base/tenants" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tenant"]["id"])')
  project=$(curl -sf "${H[@]}" -d "{\"name\":\"p\",\"repo_url\":\"$WORK/origin.git\",\"tenant_id\":$tenant}" "$base/projects" | python3 -c 'import json,sys; print(json.load(sys.stdin)["project"]["id"])')
  curl -sf "${H[@]}" -X POST "$base/projects/$project/workspace/init" >/dev/null
  local times=()
  for _ in $(seq 20); do
    t0=$(date +%s%N)
    curl -sf "${H[@]}" -d '{"tool":"shell","command":"sleep 600"}' "$base/projects/$project/ai/sessions" >/dev/null
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
  done
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  for s in "$data"/tmux/*/tmux.sock; do tmux -S "$s" kill-server 2>/dev/null || true; done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)], a[NR]}'
}
read -r on_med on_max < <(run on)
read -r off_med off_max < <(run off)
echo "| measure | result |"
echo "|---|---|"
echo "| session start, sandbox on (median of 20) | ${on_med} ms (max ${on_max} ms) |"
echo "| session start, sandbox off (median of 20) | ${off_med} ms (max ${off_max} ms) |"
