#!/usr/bin/env bash
# Make the Dockerfile's base image, debian:bookworm-slim, on a machine that reaches Debian's
# package mirror but no container registry: debootstrap a minimal bookworm root file system
# and import it under that name, so the real Dockerfile builds unchanged.
#   bash packaging/container-base.sh            (needs root, debootstrap and podman)
# Does nothing when the image is already there. The mirror is the one this machine's apt uses.
set -euo pipefail
ENGINE="${ENGINE:-podman}"
IMAGE="debian:bookworm-slim"
if "$ENGINE" image exists "$IMAGE" 2>/dev/null; then
  echo "$IMAGE is already there"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "needs debootstrap: apt-get install debootstrap" >&2; exit 1; }
MIRROR="${MIRROR:-}"
if [ -z "$MIRROR" ]; then
  MIRROR="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
fi
if [ -z "$MIRROR" ]; then
  MIRROR="$(awk '$1 == "deb" && $2 !~ /^\[/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
fi
[ -n "$MIRROR" ] || { echo "no Debian mirror found in /etc/apt: set MIRROR=<url>" >&2; exit 1; }
ROOT="$(mktemp -d /var/tmp/aiops-base.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
echo "debootstrap bookworm from the apt mirror into $ROOT"
debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >/dev/null
tar -C "$ROOT" -c . | "$ENGINE" import - "$IMAGE" >/dev/null
echo "imported $IMAGE"
