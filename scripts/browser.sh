#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the browser tests (functions/appointment-history/tests/browser.rs):
# Debian's chromium and chromium-driver, installed with apt-get when missing (as root, like the
# embedded PostgreSQL's binaries). Does nothing when both are present.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "browser: /usr/bin/chromium and /usr/bin/chromedriver are missing; install Debian's chromium and chromium-driver (the browser tests need them)" >&2
    exit 1
fi
echo "browser: installing Debian's chromium and chromium-driver (once; a few minutes)" >&2
# Another apt-get may hold the lock (a first boot's updates): wait for it rather than fail.
apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium chromium-driver >/dev/null
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]
