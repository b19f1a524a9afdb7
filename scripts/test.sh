#!/usr/bin/env bash
# Every Rust test of the workspace (on a real PostgreSQL: an embedded cluster per test binary, or
# DATABASE_URL), then one closing line with the totals, which is what CI reads.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/browser.sh  # headless Chromium for the timeline view's browser tests, installed when missing
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"${CARGO:-cargo}" test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
