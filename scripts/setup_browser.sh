#!/usr/bin/env bash
# Installs the headless Chromium the step viewer's browser test renders pages with: Debian's
# chromium-headless-shell package (no browser download of its own). Idempotent: does nothing
# when the browser is already on PATH. Needs root (or sudo) for apt-get.
set -euo pipefail

if command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1; then
    echo "setup_browser: $(command -v chromium-headless-shell || command -v chromium) already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "setup_browser: need root to apt-get install chromium-headless-shell" >&2; exit 1
    fi
fi
echo "setup_browser: installing chromium-headless-shell from the distribution's packages"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium-headless-shell >/dev/null
command -v chromium-headless-shell
