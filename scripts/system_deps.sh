#!/usr/bin/env bash
# Debian packages the test suite drives (idempotent; quiet when everything is there):
#   chromium        the widget's browser tests (Playwright launches it; nothing is downloaded by Playwright)
#   docker-compose  `docker-compose config` validates docker-compose.yml (no Docker engine is needed)
#   strace          the reliability suite checks the fsync → rename → fsync(dir) order of index publication
#   tesseract-ocr, tesseract-ocr-fra   OCR of scanned PDF pages (the optional OCR extra; --ocr installs only it)
set -euo pipefail

want=()
ocr_ready() { command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -qx fra; }
if [ "${1:-}" = "--ocr" ]; then
    ocr_ready && exit 0
    want+=(tesseract-ocr tesseract-ocr-fra)
else
    command -v chromium >/dev/null || want+=(chromium fonts-liberation)  # fonts: stable widget screenshots
    command -v strace >/dev/null || want+=(strace)
    if ! command -v docker-compose >/dev/null && ! (command -v docker >/dev/null && docker compose version >/dev/null 2>&1); then
        want+=(docker-compose)
    fi
    ocr_ready || want+=(tesseract-ocr tesseract-ocr-fra)  # the OCR test runs in `make test`
fi
[ ${#want[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "system_deps.sh: installing ${want[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >&2
