#!/usr/bin/env bash
# `make dev`: the whole service on this machine.
#
#   1. installs the tools (cargo-lambda, ...) into .tools/ if missing;
#   2. PostgreSQL: with DATABASE_URL set, that server; otherwise a throwaway embedded cluster
#      (Debian's postgresql binaries, installed if missing), kept until Ctrl-C;
#   3. migrations (service + the local-only CRM baseline tables);
#   4. a demo workspace: a client with a Calendly signing key, a few leads, a JWT for the history API;
#   5. `cargo lambda watch` serving every function on 127.0.0.1:9000 until Ctrl-C.
#
# Settings (all optional): DATABASE_URL, LAMBDA_PORT (9000), JWT_SECRET, DEV_SIGNING_KEY, RUST_LOG,
# GHL_WEBHOOK_PUBLIC_KEY (default: the public half of the dev GHL key pair, whose private half
# scripts/ghl-sign.py signs with),
# MOCK_PROVIDERS_PORT (LAMBDA_PORT + 1), DEV_REAL_PROVIDERS=1 (no mock: reconcile-scheduled calls the
# real Calendly and GHL APIs with the tokens stored on each client).
# What it prints is also written to .local/dev.env, which `make demo` reads.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PORT="${LAMBDA_PORT:-9000}"
MOCK_PORT="${MOCK_PROVIDERS_PORT:-$((PORT + 1))}"
STATE="$ROOT/.local"
CLIENT_ID="client_demo"
# Dev-only secrets, not secret at all: fixed so that hand-made requests keep working across restarts.
SIGNING_KEY="${DEV_SIGNING_KEY:-dev-calendly-signing-key-0123456789abcdef}"
JWT_SECRET="${JWT_SECRET:-dev-jwt-secret-0123456789abcdef0123456789abcdef}"
export RUST_LOG="${RUST_LOG:-info}"
# ghl-webhook checks x-ghl-signature against this key. Unset: the dev key pair's public half, so that
# scripts/ghl-sign.py (and `make demo`) can sign deliveries; set: that key (GHL's own, say).
if [ -n "${GHL_WEBHOOK_PUBLIC_KEY:-}" ]; then
    GHL_PUBLIC_KEY="$GHL_WEBHOOK_PUBLIC_KEY"
    GHL_DEV_KEYS=0
else
    GHL_PUBLIC_KEY="$(python3 "$ROOT/scripts/ghl-sign.py" --public)"
    GHL_DEV_KEYS=1
fi

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2 || true; }
die() { printf 'dev: %s\n' "$*" >&2; exit 1; }

DB_PID=""
WATCH_PID=""
MOCK_PID=""
cleanup() {
    local rc=$?
    # Finish cleaning up whatever happens to the terminal or a pipe (`make dev | tee log` loses its
    # reader on Ctrl-C): no second interrupt, no SIGPIPE, no exit on a failed message.
    trap - EXIT
    trap '' INT TERM PIPE
    set +e
    if [ -n "$WATCH_PID" ] && kill -0 "$WATCH_PID" 2>/dev/null; then
        say "stopping cargo lambda watch"
        # On SIGTERM it stops the function processes it started; the group also holds any cargo
        # build it is running.
        kill -TERM -- "-$WATCH_PID" 2>/dev/null || kill -TERM "$WATCH_PID" 2>/dev/null || true
        wait "$WATCH_PID" 2>/dev/null || true
    fi
    if [ -n "$DB_PID" ] && kill -0 "$DB_PID" 2>/dev/null; then
        say "stopping the local PostgreSQL (its data is thrown away)"
        # local-db stops and removes its cluster on SIGINT (its Ctrl-C handler).
        kill -INT "$DB_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$DB_PID" 2>/dev/null || break; sleep 0.1; done
        kill -TERM "$DB_PID" 2>/dev/null || true
        wait "$DB_PID" 2>/dev/null || true
    fi
    if [ -n "$MOCK_PID" ]; then
        kill -TERM "$MOCK_PID" 2>/dev/null
        wait "$MOCK_PID" 2>/dev/null
    fi
    rm -f "$STATE/dev.env"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if port_busy "$PORT"; then
    die "127.0.0.1:$PORT is already in use (another make dev?). Stop it or set LAMBDA_PORT."
fi
if [ -z "${DEV_REAL_PROVIDERS:-}" ] && port_busy "$MOCK_PORT"; then
    die "127.0.0.1:$MOCK_PORT (the mock providers) is in use. Set MOCK_PROVIDERS_PORT."
fi

say "tools"
"$ROOT/scripts/tools.sh"
export PATH="$ROOT/.tools/venv/bin:$PATH"
mkdir -p "$STATE"

say "building the functions and the local database tool (first time: several minutes)"
cargo build --locked -p shared --features embedded --bin local-db
cargo build --locked --workspace --bins

say "PostgreSQL"
LOCAL_DB="${CARGO_TARGET_DIR:-$ROOT/target}/debug/local-db"
if [ -n "${DATABASE_URL:-}" ]; then
    echo "using DATABASE_URL from the environment; applying migrations (with the CRM baseline tables)" >&2
    "$LOCAL_DB" >/dev/null
else
    url_file="$STATE/database-url"
    rm -f "$url_file"
    # Its own process group, so that a Ctrl-C reaches it only through cleanup (which waits for it).
    setsid "$LOCAL_DB" "$url_file" >"$STATE/local-db.log" 2>&1 &
    DB_PID=$!
    for _ in $(seq 1 1200); do
        [ -s "$url_file" ] && break
        kill -0 "$DB_PID" 2>/dev/null || { cat "$STATE/local-db.log" >&2; die "the local PostgreSQL did not start"; }
        sleep 0.1
    done
    [ -s "$url_file" ] || die "the local PostgreSQL did not start within 2 minutes (see $STATE/local-db.log)"
    DATABASE_URL="$(head -n1 "$url_file")"
    export DATABASE_URL
    echo "embedded PostgreSQL at $DATABASE_URL (log: $STATE/local-db.log)" >&2
fi

say "demo workspace"
PSQL="$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n1 || true)"
[ -n "$PSQL" ] || die "psql not found: install Debian's postgresql-client"
"$PSQL" "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -v client_id="$CLIENT_ID" -v signing_key="$SIGNING_KEY" \
    -f "$ROOT/scripts/demo/seed.sql"
JWT="$(python3 "$ROOT/scripts/jwt.py" --secret "$JWT_SECRET" --sub dev-crm --client-ids "$CLIENT_ID" --ttl 86400)"

BASE="http://127.0.0.1:$PORT"
# Environment of the functions. The deployed ones get the same names from template.yaml.
cat >"$STATE/functions.env" <<EOF
DATABASE_URL=$DATABASE_URL
JWT_SECRET=$JWT_SECRET
JWT_MAX_LIFETIME_SECONDS=86400
RUST_LOG=$RUST_LOG
GHL_WEBHOOK_PUBLIC_KEY=$GHL_PUBLIC_KEY
EOF
if [ -z "${DEV_REAL_PROVIDERS:-}" ]; then
    # reconcile-scheduled talks to a local stand-in of Calendly and GHL serving recorded answers.
    say "mock Calendly and GHL APIs on 127.0.0.1:$MOCK_PORT"
    python3 "$ROOT/scripts/demo/mock-providers.py" "$MOCK_PORT" 2>"$STATE/mock-providers.log" &
    MOCK_PID=$!
    cat >>"$STATE/functions.env" <<EOF
CALENDLY_API_BASE=http://127.0.0.1:$MOCK_PORT/calendly
GHL_API_BASE=http://127.0.0.1:$MOCK_PORT/ghl
EOF
fi
# For scripts/demo.sh and for copy-paste (removed again at exit).
cat >"$STATE/dev.env" <<EOF
BASE=$BASE
PORT=$PORT
DATABASE_URL=$DATABASE_URL
CLIENT_ID=$CLIENT_ID
SIGNING_KEY=$SIGNING_KEY
JWT_SECRET=$JWT_SECRET
JWT=$JWT
DEMO_LEAD_ID=lead_dana_demo
GHL_DEV_KEYS=$GHL_DEV_KEYS
TIMELINE_URL=$BASE/lambda-url/appointment-history/ui/timeline.html?lead=lead_dana_demo#token=$JWT
EOF

if [ -n "$MOCK_PID" ]; then
    PROVIDERS="mock Calendly and GHL APIs on 127.0.0.1:$MOCK_PORT (log: .local/mock-providers.log)"
else
    PROVIDERS="the real Calendly and GHL APIs (DEV_REAL_PROVIDERS is set)"
fi

say "cargo lambda watch on $BASE"
setsid cargo lambda watch --locked --invoke-address 127.0.0.1 --invoke-port "$PORT" \
    --timeout 900 --env-file "$STATE/functions.env" &
WATCH_PID=$!
for _ in $(seq 1 600); do
    port_busy "$PORT" && break
    kill -0 "$WATCH_PID" 2>/dev/null || die "cargo lambda watch exited"
    sleep 0.5
done

cat >&2 <<EOF

  The local stack is up. Ctrl-C stops everything.

  DATABASE_URL   $DATABASE_URL
  client id      $CLIENT_ID
  signing key    $SIGNING_KEY      (Client.calendlyWebhookSigningKey)
  GHL key        $GHL_PUBLIC_KEY   (GHL_WEBHOOK_PUBLIC_KEY; location loc_Rt5vB2nQ)
  JWT_SECRET     $JWT_SECRET
  JWT (24 h, clientIds=[$CLIENT_ID]):
    $JWT
  leads          lead_dana_demo (dana.whitfield@example.com), lead_7b3f2a91 (sam.okafor@example.org),
                 lead_phase28_demo (a Phase-28 GHL rollup, no history yet), lead_new_demo
  providers      $PROVIDERS

  Functions (cargo lambda watch; they compile and start on their first request):
    $BASE/lambda-url/calendly-webhook/webhooks/calendly/$CLIENT_ID
    $BASE/lambda-url/ghl-webhook/webhooks/ghl   (x-ghl-signature: scripts/ghl-sign.py --file body.json)
    $BASE/lambda-url/appointment-history/leads/lead_dana_demo/appointments
    $BASE/lambda-url/appointment-history/leads/lead_dana_demo/booking-status
    scripts/invoke.sh reconcile-scheduled events/reconcile-scheduled/<event>.json
    scripts/invoke.sh migrate-batch events/migrate-batch/<event>.json
  (= cargo lambda invoke -A 127.0.0.1 -P $PORT --data-file ...; cargo lambda is in .tools/venv/bin)
  Timeline view of the demo lead (open in a browser; the token stays in the # part):
    $BASE/lambda-url/appointment-history/ui/timeline.html?lead=lead_dana_demo#token=$JWT

  Try:
    make demo
    curl -s -H "Authorization: Bearer \$JWT" $BASE/lambda-url/appointment-history/leads/lead_dana_demo/booking-status
  (the same values are in .local/dev.env while this runs: set -a; . .local/dev.env; set +a)

EOF

wait "$WATCH_PID"
