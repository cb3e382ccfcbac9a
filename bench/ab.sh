#!/usr/bin/env bash
# A/B: two aiops binaries on copies of one seeded store, alternating wrk runs (throughput
# regressions: "no API figure may drop more than 5%").
#   OLD=path/to/old/aiops NEW=target/release/aiops bash bench/ab.sh
# OLD seeds the store (so an older schema is migrated by NEW on open).
set -euo pipefail
OLD="${OLD:?set OLD to the older aiops binary}"
NEW="${NEW:-target/release/aiops}"
W=$(mktemp -d)
"$OLD" admin --data-dir "$W/a" create-user bench@example.com --admin --password bench-password >/dev/null
KEY="$("$OLD" admin --data-dir "$W/a" create-key bench@example.com --scopes read 2>/dev/null)"
"$OLD" admin --data-dir "$W/a" seed-demo bench@example.com --tenants 20 --projects-per-tenant 5 --issues 10000 >/dev/null
cp -a "$W/a" "$W/b"
AIOPS_DATA_DIR="$W/a" AIOPS_BIND=127.0.0.1:18001 AIOPS_LOG=warn "$OLD" serve >/dev/null 2>&1 & P1=$!
AIOPS_DATA_DIR="$W/b" AIOPS_BIND=127.0.0.1:18002 AIOPS_LOG=warn "$NEW" serve >/dev/null 2>&1 & P2=$!
trap 'kill $P1 $P2; rm -rf $W' EXIT
until curl -sf http://127.0.0.1:18001/api/v1/health >/dev/null && curl -sf http://127.0.0.1:18002/api/v1/health >/dev/null; do sleep 0.05; done

for p in 18001 18002; do
  J=$W/j$p
  CSRF=$(curl -s -c "$J" "http://127.0.0.1:$p/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
  curl -s -b "$J" -c "$J" -o /dev/null -d "email=bench%40example.com&password=bench-password&csrf_token=$CSRF" "http://127.0.0.1:$p/login"
done
S1=$(awk '$6 == "aiops_session" {print $7}' $W/j18001); S2=$(awk '$6 == "aiops_session" {print $7}' $W/j18002)
PATHS="${PATHS:-/api/v1/tenants /api/v1/projects /api/v1/issues?status=open&limit=50 /}"
for path in $PATHS; do
  for round in $(seq 1 "${ROUNDS:-2}"); do
    # alternate which binary runs first, so warm-up and ordering do not favour one side
    if [ $((round % 2)) = 1 ]; then order="18001 18002"; else order="18002 18001"; fi
    for p in $order; do
      if [ "$path" = / ]; then H="Cookie: aiops_session=$([ $p = 18001 ] && echo $S1 || echo $S2)"; else H="X-API-Key: $KEY"; fi
      r=$(wrk -t2 -c32 -d4s -H "$H" "http://127.0.0.1:$p$path" | awk '/Requests\/sec/ {printf "%d", $2}')
      echo "$path $([ $p = 18001 ] && echo old || echo new) $r"
    done
  done
done
sleep 1.5
echo "rss old $(awk '/VmRSS/ {print $2}' /proc/$P1/status) kB, new $(awk '/VmRSS/ {print $2}' /proc/$P2/status) kB"
