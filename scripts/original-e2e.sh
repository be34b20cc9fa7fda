#!/usr/bin/env bash
# Run the original project's own React frontend and its Playwright e2e suite, unchanged,
# against `dra serve` on the fake world (tests/it/original_frontend.rs).
#
#   scripts/original-e2e.sh ORIGINAL        # ORIGINAL: a checkout or git dir of
#                                           # github.com/mshtelma/databricks-deep-research-agent
#   RUN_SLOW_TESTS=1 scripts/original-e2e.sh ORIGINAL   # also its slow set
#   DRA_E2E_ARGS="tests/smoke.spec.ts -g send" scripts/original-e2e.sh ORIGINAL  # a part
#   DRA_E2E_SERVE=1 scripts/original-e2e.sh ORIGINAL   # only serve its UI on the fake world
#
# Its frontend/ and e2e/ are copied to $CARGO_TARGET_DIR/original-e2e/<commit>/ (once per
# commit), their npm packages installed from package-lock.json, the frontend built with
# vite, and Debian's Chromium installed if missing. Per-spec results are printed and
# written to results.md there.
set -euo pipefail

log() { echo "original-e2e: $*" >&2; }

src="${1:-${DRA_ORIGINAL_REPO:-}}"
if [ -z "$src" ] || [ ! -e "$src" ]; then
  log "usage: $0 ORIGINAL  (a checkout or git dir of mshtelma/databricks-deep-research-agent;"
  log "       or set DRA_ORIGINAL_REPO)"
  exit 2
fi
for tool in node npm; do
  command -v "$tool" >/dev/null || { log "$tool is needed (apt-get install nodejs npm)"; exit 2; }
done

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  rev="$(git -C "$src" rev-parse --short HEAD)"
else
  rev="worktree"
fi
work="$target/original-e2e/$rev"
mkdir -p "$work"

if [ ! -f "$work/e2e/playwright.config.ts" ]; then
  log "copying frontend/ and e2e/ ($rev) to $work"
  if [ "$rev" != worktree ]; then
    git -C "$src" archive HEAD frontend e2e | tar -x -C "$work"
  else
    (cd "$src" && tar --exclude=node_modules -cf - frontend e2e) | tar -x -C "$work"
  fi
fi
for dir in frontend e2e; do
  if [ ! -d "$work/$dir/node_modules" ]; then
    log "npm ci in $dir"
    (cd "$work/$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
done
if [ ! -f "$work/static/index.html" ]; then
  log "building the frontend into $work/static"
  (cd "$work/frontend" && npx vite build --outDir "$work/static" --emptyOutDir >&2)
fi

export DRA_ORIGINAL_E2E="$work"
export DRA_TEST_PG_URL="${DRA_TEST_PG_URL:-$(bash "$root/scripts/test-postgres.sh")}"
cd "$root"
# The saved-report reclassifier needs DRA_E2E_REPORT; it is run on its own (see its doc).
exec cargo test --locked --test it -- original_frontend:: --ignored --nocapture --skip original_frontend::a_saved_report
