# Debian's Chromium for the browser tests (tests/browser/), driven by Playwright for Python.
# Sourced by scripts/test. Playwright's own browser download is never used: the tests launch
# /usr/bin/chromium, so nothing is fetched from outside the distribution's package mirror.

ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" != "0" ]; then
    sudo="sudo"
  fi
  $sudo apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium
}
