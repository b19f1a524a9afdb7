#!/usr/bin/env bash
# Invokes a function of the running local stack (`make dev`) with a sample event:
#
#   scripts/invoke.sh migrate-batch events/migrate-batch/dry-run.json
#   scripts/invoke.sh reconcile-scheduled '{"mode":"backfill","clientId":"client_demo"}'
#
# (`cargo lambda invoke` alone targets [::1]; the local stack listens on 127.0.0.1.)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -ne 2 ]; then
    echo "usage: scripts/invoke.sh <function> <event.json | inline JSON>" >&2
    exit 2
fi
export PATH="$ROOT/.tools/venv/bin:$PATH"
command -v cargo-lambda >/dev/null || "$ROOT/scripts/tools.sh" >/dev/null
function_name="$1" event="$2"
if [ -f "$event" ]; then
    data=(--data-file "$event")
else
    data=(--data-ascii "$event")
fi
exec cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "${LAMBDA_PORT:-9000}" \
    --output-format json "${data[@]}" "$function_name"
