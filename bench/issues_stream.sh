#!/usr/bin/env bash
# Benchmark (not a test): the server's memory while a client downloads the unlimited issue list
# (GET /api/v1/issues without limit, streamed from one read transaction), for a small and a
# large store. For each size it seeds a fresh store and starts the server, then prints:
#   - the idle RSS and the store file's size;
#   - the peak RSS of a first streamed download (cold: it also fills redb's page cache, which is
#     bounded at store::CACHE_BYTES = 128 MiB, so this grows with the store up to that bound);
#   - the peak RSS of a second streamed download (warm), with the body size and time: the
#     stream's own cost, which should not grow with the number of issues;
#   - for comparison, the peak of the same list asked for as one page (`limit=N`), which is built
#     in memory before it is sent.
# Peaks are sampled every 20 ms from /proc/<pid>/status. Loopback only.
# Usage: bench/issues_stream.sh [small-issues] [large-issues]   (default 10000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL="${1:-10000}"
LARGE="${2:-100000}"
cargo build --release -q
BIN="$PWD/target/release/aiops"
WORK="$(mktemp -d)"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# download.py BASE KEY PID PATH: streams the body to nowhere while sampling the server's RSS;
# prints "peak_mib bytes seconds issues".
cat >"$WORK/download.py" <<'PY'
import json, sys, threading, time, urllib.request
base, key, pid, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def rss():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
peak, stop = rss(), threading.Event()
def sample():
    global peak
    while not stop.is_set():
        peak = max(peak, rss())
        time.sleep(0.02)
t = threading.Thread(target=sample); t.start()
start, size, head, tail = time.time(), 0, b"", b""
req = urllib.request.Request(base + path, headers={"X-API-Key": key})
with urllib.request.urlopen(req, timeout=600) as r:
    while True:
        chunk = r.read(65536)
        if not chunk:
            break
        size += len(chunk)
        if len(head) < 4096:
            head += chunk[:4096]
        tail = (tail + chunk)[-4096:]
took = time.time() - start
stop.set(); t.join()
# `count` comes last in a streamed body and first in a page (keys in order).
text = tail.decode(errors="replace")
if '"count":' not in text:
    text = head.decode(errors="replace")
marker = text.rsplit('"count":', 1)
issues = marker[1].split(",", 1)[0].rstrip("}") if len(marker) == 2 else "?"
print(f"{peak:.1f} {size} {took:.2f} {issues}")
PY

run() { # issues
  local n="$1" data="$WORK/data-$1"
  "$BIN" admin --data-dir "$data" create-user bench@example.com --admin --password bench-password >/dev/null
  local key
  key="$("$BIN" admin --data-dir "$data" create-key bench@example.com --scopes read 2>/dev/null)"
  "$BIN" admin --data-dir "$data" seed-demo bench@example.com --tenants 20 --projects-per-tenant 5 --issues "$n" >/dev/null
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  local base="http://127.0.0.1:$port"
  AIOPS_DATA_DIR="$data" AIOPS_BIND="127.0.0.1:$port" AIOPS_LOG=warn "$BIN" serve >/dev/null &
  PID=$!
  until curl -sf "$base/api/v1/health" >/dev/null; do sleep 0.01; done
  sleep 1
  local idle store
  idle="$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$PID/status")"
  store="$(( $(stat -c %s "$data/aiops.redb") / 1048576 ))"
  read -r c_peak _ c_secs _ < <(python3 "$WORK/download.py" "$base" "$key" "$PID" /api/v1/issues)
  local warm
  warm="$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$PID/status")"
  read -r s_peak s_bytes s_secs s_count < <(python3 "$WORK/download.py" "$base" "$key" "$PID" /api/v1/issues)
  read -r p_peak _ p_secs p_count < <(python3 "$WORK/download.py" "$base" "$key" "$PID" "/api/v1/issues?limit=$n")
  printf '| %s | %s MiB | %s MiB | %s MiB (%s s) | %s MiB | %s MiB (+%s) | %s MiB, %s s | %s MiB | %s / %s |\n' \
    "$n" "$store" "$idle" "$c_peak" "$c_secs" "$warm" "$s_peak" \
    "$(python3 -c "print(round($s_peak - $warm, 1))")" "$(( s_bytes / 1048576 ))" "$s_secs" \
    "$p_peak" "$s_count" "$p_count"
  kill "$PID"; wait "$PID" 2>/dev/null || true
  PID=""
}

echo "| issues | store | idle RSS | peak, 1st stream (cold) | RSS after | peak, 2nd stream (warm) | body, time | peak, one page (limit=N) | listed (stream / page) |"
echo "|---|---|---|---|---|---|---|---|---|"
run "$SMALL"
run "$LARGE"
echo
echo "release build, loopback; $(nproc) cores; $(date -u +%Y-%m-%d)."
