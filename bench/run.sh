#!/usr/bin/env bash
# All benchmarks in one command, printing one table (Markdown). Loopback only.
#   bash bench/run.sh [wrk-seconds]
# Needs wrk and curl (apt-get install wrk curl). Builds the release binary (and uses the static
# musl one if packaging/build-static.sh has built it, for the size line).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
command -v wrk >/dev/null || { echo "wrk is required: apt-get install wrk" >&2; exit 1; }
cargo build --release -q
cargo build --release -q --example bare_poem
BIN="$PWD/target/release/aiops"
STATIC="$PWD/target/x86_64-unknown-linux-musl/release/aiops"
WORK="$(mktemp -d)"
BARE_PID=
trap 'kill "$PID" $BARE_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
ROWS=()
row() { ROWS+=("| $1 | $2 |"); }

DATA="$WORK/data"
"$BIN" admin --data-dir "$DATA" create-user bench@example.com --admin --password bench-password >/dev/null
KEY="$("$BIN" admin --data-dir "$DATA" create-key bench@example.com --scopes read 2>/dev/null)"
"$BIN" admin --data-dir "$DATA" seed-demo bench@example.com --tenants 20 --projects-per-tenant 5 --issues 10000 >/dev/null
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
start_ns=$(date +%s%N)
AIOPS_DATA_DIR="$DATA" AIOPS_BIND="127.0.0.1:$PORT" AIOPS_LOG=warn "$BIN" serve >/dev/null &
PID=$!
until curl -sf "$BASE/api/v1/health" >/dev/null; do sleep 0.002; done
first_ns=$(date +%s%N)
row "start to first answer" "$(( (first_ns - start_ns) / 1000000 )) ms"
# Idle RSS is read 1 s after the last request (fresh: after start; after load: after the wrk
# runs), beside the bare poem server's (examples/bare_poem.rs, same allocator) read
# the same way, as a ratio.
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
sleep 1
AIOPS_FRESH=$(rss_mib "$PID")
row "idle RSS, fresh: anonymous / file-backed" "$(awk '/^Anonymous:/ {a=$2} /^Rss:/ {r=$2} END {printf "%.1f / %.1f MiB", a/1024, (r-a)/1024}' /proc/$PID/smaps_rollup)"
row "binary size (release, glibc)" "$(du -h "$BIN" | cut -f1)"
# Without the one-time SQLite import (a separate target dir, so the release build stays warm):
# slow, so only with BENCH_SIZES=1.
if [ "${BENCH_SIZES:-}" = 1 ]; then
  cargo build --release -q --no-default-features --target-dir target/bench-no-sqlite
  row "binary size (release, glibc, without import-sqlite)" "$(du -h target/bench-no-sqlite/release/aiops | cut -f1)"
else
  row "binary size (release, glibc, without import-sqlite)" "not measured (BENCH_SIZES=1 builds it)"
fi
[ -x "$STATIC" ] && row "binary size (static musl)" "$(du -h "$STATIC" | cut -f1)"

# A web session for the page renders.
JAR="$WORK/jar"
CSRF=$(curl -s -c "$JAR" "$BASE/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
curl -s -b "$JAR" -c "$JAR" -o /dev/null -d "email=bench%40example.com&password=bench-password&csrf_token=$CSRF" "$BASE/login"
SESSION=$(awk '$6 == "aiops_session" {print $7}' "$JAR")
ISSUE=$(curl -sf -H "X-API-Key: $KEY" "$BASE/api/v1/issues?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["issues"][0]["id"])')

RPS=0
measure() { # label, header, path [base]
  local base="${4:-$BASE}"
  curl -sf -H "$2" "$base$3" >/dev/null || { echo "GET $3 failed" >&2; exit 1; }
  local out; out=$(wrk -t2 -c32 -d"${DURATION}s" --latency -H "$2" "$base$3")
  local p99
  RPS=$(echo "$out" | awk '/Requests\/sec/ {printf "%d", $2}')
  p99=$(echo "$out" | awk '/^ +99%/ {print $2}')
  row "$1" "$RPS req/s, p99 $p99${5:-}"
}
ratio() { python3 -c "print(f'{$1/max($2,1):.2f}')"; }
measure "GET /api/v1/tenants" "X-API-Key: $KEY" /api/v1/tenants
TENANTS_RPS=$RPS
measure "GET /api/v1/projects" "X-API-Key: $KEY" /api/v1/projects
PROJECTS_RPS=$RPS
measure "GET /api/v1/issues?status=open&limit=50" "X-API-Key: $KEY" "/api/v1/issues?status=open&limit=50"
ISSUES_RPS=$RPS
row "issue list vs tenants / projects (throughput ratio; the target is <= 2x)" "$(ratio "$TENANTS_RPS" "$ISSUES_RPS")x / $(ratio "$PROJECTS_RPS" "$ISSUES_RPS")x slower"
# The same page with a filter the status index does not serve (checked on each summary row),
# and newest first.
TENANT=$(curl -sf -H "X-API-Key: $KEY" "$BASE/api/v1/tenants" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tenants"][0]["id"])')
measure "GET /api/v1/issues?status=open&tenant_id=$TENANT&limit=50" "X-API-Key: $KEY" "/api/v1/issues?status=open&tenant_id=$TENANT&limit=50"
measure "GET /api/v1/issues?sort=-id&limit=50" "X-API-Key: $KEY" "/api/v1/issues?sort=-id&limit=50"
# The same bytes from a bare poem server (examples/bare_poem.rs: no store, no auth, no middleware).
curl -sf -H "X-API-Key: $KEY" "$BASE/api/v1/issues?status=open&limit=50" > "$WORK/issues.json"
BARE_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$PWD/target/release/examples/bare_poem" "$WORK/issues.json" "127.0.0.1:$BARE_PORT" >/dev/null 2>&1 &
BARE_PID=$!
until curl -sf "http://127.0.0.1:$BARE_PORT/" >/dev/null; do sleep 0.002; done
sleep 1
BARE_FRESH=$(rss_mib "$BARE_PID")
measure "bare poem, the same $(du -b "$WORK/issues.json" | cut -f1) bytes" "X-Bench: 1" / "http://127.0.0.1:$BARE_PORT"
# (after the run: an argument of `measure` would be expanded before it, with the last RPS)
row "bare poem vs the issue list (throughput ratio)" "$(ratio "$RPS" "$ISSUES_RPS")x"
sleep 1
BARE_AFTER=$(rss_mib "$BARE_PID")
kill "$BARE_PID"; wait "$BARE_PID" 2>/dev/null || true; BARE_PID=
measure "GET /api/v1/issues/{id}" "X-API-Key: $KEY" "/api/v1/issues/$ISSUE"
measure "page: dashboard /" "Cookie: aiops_session=$SESSION" /
measure "page: /issues" "Cookie: aiops_session=$SESSION" /issues
sleep 1
AIOPS_AFTER=$(rss_mib "$PID")
row "idle RSS, fresh (10,000 issues in the store): aiops / bare poem" "$AIOPS_FRESH / $BARE_FRESH MiB, $(ratio "$AIOPS_FRESH" "$BARE_FRESH")x"
row "idle RSS, after the load above: aiops / bare poem" "$AIOPS_AFTER / $BARE_AFTER MiB, $(ratio "$AIOPS_AFTER" "$BARE_AFTER")x (target <= 30 MiB)"
# Where it goes: anonymous memory (heap, stacks, redb cache) against file pages (the mapped
# binary, embedded assets included).
row "idle RSS after load: anonymous / file-backed" "$(awk '/^Anonymous:/ {a=$2} /^Rss:/ {r=$2} END {printf "%.1f / %.1f MiB", a/1024, (r-a)/1024}' /proc/$PID/smaps_rollup)"
row "peak RSS, 300 concurrent failing logins" "$(python3 bench/hostile.py logins "$BASE" "$PID" 300) MiB"
read -r SLOW_RSS SLOW_OK < <(python3 bench/hostile.py slow "$BASE" "$PID" 1000)
row "peak RSS, 1,000 idle slow-header connections (12 s)" "$SLOW_RSS MiB, $SLOW_OK of 5 normal requests served meanwhile"
kill "$PID"; wait "$PID" 2>/dev/null || true

SYNC=$(cargo bench -q --bench tracker_sync 2>/dev/null | awk -F'[(),]' '/^full sync/ {print $0}' | sed -n 's/.*pages, \([0-9.]* s\).*/\1/p')
row "tracker sync, 10,000 issues (100 pages, fake GitHub)" "${SYNC:-n/a}"
BK=$(bash bench/backup.sh 100000 2>/dev/null)
row "backup, 100,000 issues" "$(echo "$BK" | sed -n 's/.*backup  (POST \/system\/backups): *\(.*\)/\1/p')"
row "restore, 100,000 issues" "$(echo "$BK" | sed -n 's/.*restore (verify + safety backup + swap): *\(.*\)/\1/p')"
while IFS= read -r line; do ROWS+=("$line"); done < <(bash bench/sessions.sh "$BIN" | sed -n '/^| session start/p')
while IFS= read -r line; do ROWS+=("$line"); done < <(bash bench/web_lcp.sh "$BIN" | grep '^| LCP')

echo "| measure | result |"
echo "|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "wrk -t2 -c32 -d${DURATION}s on loopback; $(nproc) cores; $(date -u +%Y-%m-%d)."
