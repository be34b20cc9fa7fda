#!/usr/bin/env bash
# `make build`: the Databricks App bundle in build/app.
#
# Apps refuse any file over 10 MB and run on a container whose system libraries are not
# ours, so dra is built static (x86_64-unknown-linux-musl, rustls), stripped and
# size-optimised (the release profile), gzip-compressed and split into parts of at most
# 9 MiB; bin/start.sh reassembles it on start and execs it. The bundle holds that, app.yaml
# and config/, nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET_TRIPLE=x86_64-unknown-linux-musl
OUT="${BUNDLE_DIR:-build/app}"
PART_BYTES=$((9 * 1024 * 1024))

log() { echo "build-bundle: $*" >&2; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
    log "need root to run: $*"; return 1
  fi
}

build_static() {
  if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET_TRIPLE"; then
    log "adding the Rust target $TARGET_TRIPLE"
    rustup target add "$TARGET_TRIPLE"
  fi
  # ring's C code needs a musl C compiler.
  if ! command -v musl-gcc >/dev/null; then
    log "installing musl-tools (Debian)"
    as_root apt-get install -y -q musl-tools >&2 || { as_root apt-get update -q >&2 && as_root apt-get install -y -q musl-tools >&2; }
  fi
  log "building dra for $TARGET_TRIPLE (release profile: size-optimised, LTO, stripped)"
  CC_x86_64_unknown_linux_musl=musl-gcc cargo build --locked --release --target "$TARGET_TRIPLE" >&2
}

# DRA_BINARY packages an already built dra instead (the deploy tests, CI artefacts);
# GZIP_LEVEL trades size for time (default 9).
if [ -n "${DRA_BINARY:-}" ]; then
  BIN="$DRA_BINARY"
  [ -x "$BIN" ] || { log "DRA_BINARY=$BIN is not an executable"; exit 1; }
  log "packaging $BIN (not building)"
else
  build_static
  BIN="${CARGO_TARGET_DIR:-target}/$TARGET_TRIPLE/release/dra"
fi

rm -rf "$OUT"
mkdir -p "$OUT/bin"
gzip "-${GZIP_LEVEL:-9}" -c "$BIN" | split -b "$PART_BYTES" -d -a 2 - "$OUT/bin/dra.gz.part-"
cat > "$OUT/bin/start.sh" <<'START'
#!/bin/sh
# Reassemble dra (stored gzip-compressed in parts, as Apps refuse files over 10 MB) and
# run it with this script's arguments.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
bin="${DRA_BIN_DIR:-${TMPDIR:-/tmp}}/dra-app"
# Written aside and moved into place, so a restart never runs a half-written binary.
cat "$here"/dra.gz.part-* | gunzip -c > "$bin.$$"
chmod +x "$bin.$$"
mv -f "$bin.$$" "$bin"
exec "$bin" "$@"
START
chmod +x "$OUT/bin/start.sh"
cp app.yaml "$OUT/"
mkdir -p "$OUT/config"
cp config/app.yaml "$OUT/config/"
log "binary $(stat -c %s "$BIN") bytes; bundle:"
find "$OUT" -type f -printf '%10s  %p\n' | sort -k2 >&2
