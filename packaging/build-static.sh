#!/usr/bin/env bash
# Build the fully static, stripped x86_64 musl binary: target/x86_64-unknown-linux-musl/release/aiops
# Needs: rustup target add x86_64-unknown-linux-musl; apt-get install musl-tools (C parts: ring,
# mimalloc, SQLite for import-sqlite are compiled with musl-gcc).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-linux-musl
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  rustup target add "$TARGET"
fi
command -v musl-gcc >/dev/null || { echo "musl-gcc not found: apt-get install musl-tools" >&2; exit 1; }
# C code (ring, mimalloc, SQLite) is compiled with musl-gcc; Rust links with its own
# self-contained musl start files (the musl target is static by default; using musl-gcc as the
# linker instead produces a broken static-pie).
export CC_x86_64_unknown_linux_musl=musl-gcc
# A plain static executable (not static-pie): `ldd` then says "not a dynamic executable".
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static"
cargo build --release --locked --target "$TARGET" "$@"
BIN="target/$TARGET/release/aiops"
# The release profile strips symbols; make sure, and show what we built.
strip "$BIN" 2>/dev/null || true
file "$BIN" 2>/dev/null || true
ldd "$BIN" 2>&1 || true
"$BIN" --version
ls -l "$BIN"
