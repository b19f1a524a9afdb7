#!/usr/bin/env bash
# Invokes a function of the running local stack (`make dev`) with an event:
#
#   scripts/invoke.sh migrate-batch events/migrate-batch/dry-run.json
#   scripts/invoke.sh reconcile-scheduled '{"mode":"backfill","clientId":"client_demo"}'
#   scripts/invoke.sh appointment-history events/appointment-history/get-timeline.json
#
# migrate-batch and reconcile-scheduled run once through scripts/lambda-run.py, with the stack's
# environment and a real deadline (their timeout in template.yaml): `cargo lambda watch` hands every
# invocation a deadline in the past, and these two budget their time by it. The others go to
# `cargo lambda watch` with `cargo lambda invoke` (on 127.0.0.1: plain `cargo lambda invoke` targets [::1]).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -ne 2 ]; then
    echo "usage: scripts/invoke.sh <function> <event.json | inline JSON>" >&2
    exit 2
fi
function_name="$1" event="$2"
ENV_FILE="$ROOT/.local/functions.env"
[ -f "$ENV_FILE" ] || { echo "invoke: the local stack is not running: start it with 'make dev'" >&2; exit 1; }

# Timeouts and memory as in template.yaml.
case "$function_name" in
    migrate-batch) timeout=900 memory=512 ;;
    reconcile-scheduled) timeout=300 memory=512 ;;
    *) timeout="" ;;
esac

if [ -n "$timeout" ]; then
    # Quick when `make dev` built it already; picks up code changes otherwise.
    (cd "$ROOT" && cargo build --locked --quiet -p "$function_name" --bin "$function_name")
    exec python3 "$ROOT/scripts/lambda-run.py" --binary "${CARGO_TARGET_DIR:-$ROOT/target}/debug/$function_name" \
        --name "$function_name" --timeout "$timeout" --memory "$memory" --env-file "$ENV_FILE" --event "$event"
fi

export PATH="$ROOT/.tools/venv/bin:$PATH"
command -v cargo-lambda >/dev/null || "$ROOT/scripts/tools.sh" >/dev/null
if [ "$function_name" = appointment-history ] && [ -f "$event" ]; then
    # A token lives at most JWT_MAX_LIFETIME_SECONDS, so a sample event's own has expired: the
    # stack's current one (scripts/dev.sh) is put in its place.
    jwt="$(sed -n 's/^JWT=//p' "$ROOT/.local/dev.env")"
    fresh="$ROOT/.local/invoke-event.json"
    python3 - "$event" "$jwt" >"$fresh" <<'PY'
import json, sys
event = json.load(open(sys.argv[1]))
for name in list(event.get("headers", {})):
    if name.lower() == "authorization":
        event["headers"][name] = "Bearer " + sys.argv[2]
json.dump(event, sys.stdout)
PY
    data=(--data-file "$fresh")
elif [ -f "$event" ]; then
    data=(--data-file "$event")
else
    data=(--data-ascii "$event")
fi
exec cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "${LAMBDA_PORT:-9000}" \
    --output-format json "${data[@]}" "$function_name"
