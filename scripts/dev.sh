#!/usr/bin/env bash
# `make dev`: dra serve on http://localhost:$PORT (default 8000) for development.
#
#   database  DATABASE_URL if set; else database dra_dev on the local PostgreSQL
#             (scripts/test-postgres.sh starts or installs one), created and migrated
#   reload    the server restarts when config/, src/ or migrations/ change (watchexec,
#             installed with cargo on first use); the UI in static/ is read from disk on
#             every request by debug builds, so a browser reload shows an edit at once
#   user      requests act as the CLI's user (dra serve's development identity)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8000}"

log() { echo "dev: $*" >&2; }

if [ -z "${DATABASE_URL:-}" ]; then
  admin="$(scripts/test-postgres.sh)"
  # Same server and credentials, database dra_dev.
  base="${admin%%\?*}"
  DATABASE_URL="${base%/*}/dra_dev?sslmode=disable"
fi
export DATABASE_URL

cargo run --locked --quiet -- create-database
cargo run --locked --quiet -- migrate

if ! command -v watchexec >/dev/null; then
  log "installing watchexec (cargo install --locked watchexec-cli; once, a few minutes)"
  cargo install --locked --quiet watchexec-cli
fi
log "http://localhost:$PORT (restarts on changes to config/, src/, migrations/; Ctrl-C stops)"
exec watchexec --restart --stop-signal SIGTERM --watch config --watch src --watch migrations \
  --exts yaml,yml,rs,sql -- cargo run --locked --quiet -- serve --port "$PORT"
