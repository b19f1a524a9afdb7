#!/usr/bin/env bash
# `make soak`: the whole service on this machine under faults and load, through its function URLs,
# as `make dev` runs it (embedded PostgreSQL, `cargo lambda watch`, here with release builds), and
# one table of what was measured against its target (README "Reliability"). Exits non-zero when any
# row missed. Installs what it needs (scripts/tools.sh; PostgreSQL through the embedded cluster).
#
# Settings (optional): CARGO_TARGET_DIR, CARGO.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CARGO="${CARGO:-cargo}"

"$ROOT/scripts/tools.sh" >/dev/null
export PATH="$ROOT/.tools/venv/bin:$PATH"

began=$(date +%s)
# The functions' release binaries, built once: `cargo lambda watch` runs copies of them (see
# soak/src/stack.rs), and the soak starts them itself on a local Runtime API for the cold starts
# and the killed migration. `-p` (not `--bin`): the packages and features the footprint section
# builds when it runs alone. Then the soak driver (its own build of the shared crate, with the
# embedded PostgreSQL).
echo "== building the functions and the soak driver (release; the first time takes several minutes)" >&2
"$CARGO" build --release --locked -p calendly-webhook -p ghl-webhook -p appointment-history \
    -p reconcile-scheduled -p migrate-batch
functions_built=$(date +%s)
# Copied out at once: target/release/<function> is rebuilt by any release build sharing the target
# directory, and these are the binaries the whole soak measures.
export SOAK_BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/soak-bin"
mkdir -p "$SOAK_BIN_DIR"
for f in calendly-webhook ghl-webhook appointment-history reconcile-scheduled migrate-batch; do
    cp "${CARGO_TARGET_DIR:-$ROOT/target}/release/$f" "$SOAK_BIN_DIR/$f"
done
"$CARGO" build --release --locked -p soak --bin soak
built=$(date +%s)
echo "== built in $((built - began)) s" >&2
export SOAK_BUILD_TIMES="build: functions (x86_64 release) $((functions_built - began)) s, soak driver $((built - functions_built)) s"

status=0
"${CARGO_TARGET_DIR:-$ROOT/target}/release/soak" || status=$?
ended=$(date +%s)
echo "make soak: $((ended - began)) s in all, of which $((built - began)) s building before the soak started" >&2
exit "$status"
