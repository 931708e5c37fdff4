#!/usr/bin/env bash
# Debian packages the test suite drives (idempotent; quiet when everything is there):
#   chromium        the widget's browser tests (Playwright launches it; nothing is downloaded by Playwright)
#   docker-compose  `docker-compose config` validates docker-compose.yml (no Docker engine is needed)
#   strace          the reliability suite checks the fsync → rename → fsync(dir) order of index publication
set -euo pipefail

want=()
command -v chromium >/dev/null || want+=(chromium fonts-liberation)  # fonts: stable widget screenshots
command -v strace >/dev/null || want+=(strace)
if ! command -v docker-compose >/dev/null && ! (command -v docker >/dev/null && docker compose version >/dev/null 2>&1); then
    want+=(docker-compose)
fi
[ ${#want[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "system_deps.sh: installing ${want[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >&2
