#!/usr/bin/env bash
# Fuzz the live API with schemathesis, driven by the server's own OpenAPI document.
#   bash .ci/schemathesis/run.sh [max-examples per operation, default 5]
# Builds target/debug/aiops, starts a throwaway server on a free loopback port with its own data
# dir and an admin key, and fails on any 5xx or any answer that does not match the document
# (configuration and the few excluded operations: schemathesis.toml next to this script).
# Needs python3 with the venv module; schemathesis (pinned in requirements.txt) is installed into
# target/schemathesis-venv on first use. Loopback only, apart from pip.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=.ci/schemathesis
MAX_EXAMPLES="${1:-${SCHEMATHESIS_MAX_EXAMPLES:-5}}"
VENV="${SCHEMATHESIS_VENV:-$PWD/target/schemathesis-venv}"

if [ ! -x "$VENV/bin/schemathesis" ] || ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.txt"; then
  echo "== installing schemathesis into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/requirements.txt"
fi
"$VENV/bin/schemathesis" --version

# AIOPS_BIN: a binary already built (.ci/run passes the one `cargo test` built, which differs
# from a plain `cargo build` only by dev-dependency features, so nothing is built twice).
if [ -n "${AIOPS_BIN:-}" ]; then
  BIN="$AIOPS_BIN"
else
  cargo build -q --bin aiops
  BIN="$PWD/target/debug/aiops"
fi
WORK="$(mktemp -d)"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

DATA="$WORK/data"
EMAIL=fuzz-admin@example.com
"$BIN" admin --data-dir "$DATA" create-user "$EMAIL" --admin --name Fuzz --password fuzz-password-1 >/dev/null
KEY="$("$BIN" admin --data-dir "$DATA" create-key "$EMAIL" --scopes read,write,admin --name schemathesis)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
# A high login/auth-failure limit: the fuzzer sends many deliberately wrong keys.
AIOPS_DATA_DIR="$DATA" AIOPS_BIND="127.0.0.1:$PORT" AIOPS_LOG=warn \
  AIOPS_LOGIN_ATTEMPTS_PER_MINUTE=100000 \
  AIOPS_WORKSPACE_ROOT="$WORK/workspaces" AIOPS_REPO_STORAGE_PATH="$WORK/repos" \
  "$BIN" serve >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 300); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('$BASE/api/v1/health', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "aiops serve exited:" >&2; cat "$WORK/server.log" >&2; exit 1
  fi
  sleep 0.1
done

# Something for path parameters to find: a tenant with a project.
api() { # method path json
  python3 - "$BASE/api/v1$2" "$1" "$3" "$KEY" <<'PY'
import json, sys, urllib.request
url, method, body, key = sys.argv[1:5]
req = urllib.request.Request(url, data=body.encode() if body else None, method=method,
    headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
print(urllib.request.urlopen(req, timeout=10).read().decode())
PY
}
api POST /tenants '{"name": "Fuzz tenant"}' >/dev/null
api POST /projects '{"name": "fuzz", "repo_url": "https://example.invalid/o/r.git", "tenant_id": 1}' >/dev/null

# The key's own id: hooks.py keeps the fuzzer from revoking or re-scoping it.
AIOPS_FUZZ_KEY_ID="$(api GET /auth/me '' | python3 -c 'import json,sys; print(json.load(sys.stdin)["user"]["api_key_id"])')"
export AIOPS_FUZZ_KEY_ID

set +e
"$VENV/bin/schemathesis" --config-file "$HERE/schemathesis.toml" run "$BASE/api/v1/openapi.json" \
  --header "Authorization: Bearer $KEY" \
  --max-examples "$MAX_EXAMPLES" \
  --report junit --report-dir "$PWD/target/schemathesis-report"
RC=$?
set -e
if ! kill -0 "$PID" 2>/dev/null; then
  echo "aiops serve died during the run:" >&2; tail -50 "$WORK/server.log" >&2; exit 1
fi
if ! api GET /auth/me '' >/dev/null 2>&1; then
  echo "the run's admin key stopped working during the run, so later operations were not really tested" >&2
  exit 1
fi
if grep -q "panicked" "$WORK/server.log"; then
  echo "the server panicked during the run:" >&2; grep -B2 -A10 "panicked" "$WORK/server.log" >&2; exit 1
fi
if [ "$RC" -ne 0 ]; then
  echo "schemathesis found problems (exit $RC); server log tail:" >&2
  tail -30 "$WORK/server.log" >&2
fi
exit "$RC"
