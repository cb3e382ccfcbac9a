#!/usr/bin/env bash
# Install (or update) aiops as a systemd service. Idempotent: running it again installs the new
# binary and unit and keeps the existing configuration, data and account.
#   sudo packaging/install.sh [path/to/aiops]      (default: the static build, else release)
# ROOT=/some/dir installs into a directory tree instead of / (for packaging and tests: no
# account is created and systemctl is not called).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${ROOT:-}"
BIN="${1:-}"
if [ -z "$BIN" ]; then
  for b in target/x86_64-unknown-linux-musl/release/aiops target/release/aiops; do
    [ -x "$b" ] && { BIN="$b"; break; }
  done
fi
[ -n "$BIN" ] && [ -x "$BIN" ] || { echo "no aiops binary: build it (packaging/build-static.sh) or pass its path" >&2; exit 1; }
"$BIN" --version >/dev/null || { echo "$BIN does not run on this machine" >&2; exit 1; }

install -d -m 0755 "$ROOT/usr/bin" "$ROOT/etc/systemd/system" "$ROOT/etc/aiops"
# The binary: replaced atomically (a running server keeps its old inode until it restarts).
install -m 0755 "$BIN" "$ROOT/usr/bin/.aiops.new"
mv -f "$ROOT/usr/bin/.aiops.new" "$ROOT/usr/bin/aiops"
install -m 0644 systemd/aiops.service "$ROOT/etc/systemd/system/aiops.service"
# Configuration: written once, never overwritten.
if [ ! -e "$ROOT/etc/aiops/aiops.toml" ]; then
  cat > "$ROOT/etc/aiops/aiops.toml" <<'TOML'
# aiops configuration (keys are the long option names; see `aiops serve --help`).
# bind = "127.0.0.1:8060"
# public_url = "https://aiops.example.com"
# linux_user_workspaces = false
# [tools]
# claude = "claude --dangerously-skip-permissions"
TOML
  chmod 0640 "$ROOT/etc/aiops/aiops.toml"
fi
if [ ! -e "$ROOT/etc/aiops/aiops.env" ]; then
  printf '# Secrets for the service, e.g.\n# AIOPS_SECRET_KEY=<64 hex characters>\n# AIOPS_ADMIN_EMAIL=you@example.com\n' > "$ROOT/etc/aiops/aiops.env"
  chmod 0600 "$ROOT/etc/aiops/aiops.env"
fi
if [ -z "$ROOT" ]; then
  if ! id aiops >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/aiops --no-create-home --shell /usr/sbin/nologin aiops
  fi
  chgrp aiops /etc/aiops/aiops.toml /etc/aiops/aiops.env
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable aiops.service >/dev/null
    echo "Installed. Start it with: systemctl start aiops; the first start prints the setup link: journalctl -u aiops"
  else
    echo "Installed (systemd is not running here: start /usr/bin/aiops serve yourself)."
  fi
else
  echo "Installed into $ROOT"
fi
