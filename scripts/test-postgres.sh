#!/usr/bin/env bash
# Make sure a PostgreSQL server is available for the test suite, then print its admin URL
# on stdout (everything else goes to stderr).
#
# Order: $DRA_TEST_PG_URL or the local server at 127.0.0.1:5432 if it answers; else the
# machine's own cluster (pg_ctlcluster) started; else a private cluster under
# ${TMPDIR:-/tmp}. Debian's postgresql package is installed first if the server binaries
# are missing (the token-rotation tests run their own initdb clusters too).
set -euo pipefail

URL="${DRA_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PRIVATE_PORT="${DRA_TEST_PG_PORT:-54329}"

log() { echo "test-postgres: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; return 1
  fi
}

bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

ensure_binaries() {
  local missing=()
  if [ -z "$(bindir)" ] || [ ! -x "$(bindir)/initdb" ] || ! command -v psql >/dev/null; then
    missing+=(postgresql)
  fi
  # The TLS tests make their certificates with openssl.
  command -v openssl >/dev/null || missing+=(openssl)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

answers() {
  psql "$1" -Atqc 'SELECT 1' >/dev/null 2>&1
}

ensure_binaries
if answers "$URL"; then
  echo "$URL"
  exit 0
fi

if [ -z "${DRA_TEST_PG_URL:-}" ] && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  log "starting the machine's PostgreSQL $version cluster"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  for _ in $(seq 1 30); do
    if answers "$URL"; then echo "$URL"; exit 0; fi
    sleep 1
  done
fi

# A private trust-auth cluster owned by the postgres user (initdb refuses to run as root).
dir="${TMPDIR:-/tmp}/dra-test-pg-$(id -u)"
private="postgres://postgres@127.0.0.1:${PRIVATE_PORT}/postgres"
if answers "$private"; then echo "$private"; exit 0; fi
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ ! -f "$dir/data/PG_VERSION" ]; then
  log "creating a private cluster in $dir"
  mkdir -p "$dir" && chmod 0777 "$dir"
  run_pg "$(bindir)/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >&2
fi
run_pg "$(bindir)/pg_ctl" -D "$dir/data" -w -l "$dir/log" \
  -o "-p ${PRIVATE_PORT} -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >&2
answers "$private" || { log "private cluster did not answer; see $dir/log"; exit 1; }
echo "$private"
