#!/usr/bin/env bash
# Make sure Chromium and its WebDriver (chromedriver) are installed for the browser tests
# (tests/it/ui_browser.rs), then print the chromedriver path on stdout (everything else goes to
# stderr). Installs Debian's chromium and chromium-driver with apt-get when missing; exits
# non-zero with the reason when it cannot.
set -euo pipefail

log() { echo "test-chromium: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
    log "need root (or sudo) to run: $*"; return 1
  fi
}

find_driver() {
  command -v chromedriver 2>/dev/null || { [ -x /usr/bin/chromedriver ] && echo /usr/bin/chromedriver; } || true
}

find_browser() {
  command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null || true
}

if [ -z "$(find_driver)" ] || [ -z "$(find_browser)" ]; then
  log "installing Debian packages: chromium chromium-driver"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver fonts-dejavu-core >&2
fi

driver="$(find_driver)"
browser="$(find_browser)"
if [ -z "$driver" ] || [ -z "$browser" ]; then
  log "chromium or chromedriver is still missing after apt-get install"
  exit 1
fi
log "$("$browser" --version 2>/dev/null || echo "chromium at $browser")"
echo "$driver"
