#!/bin/sh
# CI setup for ronn-provider-wasm's tests: headless Chromium (Debian package) and Node.js.
# Idempotent: installs only what is missing. Needs root (or sudo) for apt-get.
set -eu
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
chromium --version
node --version
