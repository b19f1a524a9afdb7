#!/usr/bin/env bash
# `make demo`: the Calendly reschedule story and a GHL story against the running local stack
# (`make dev` in another terminal), with real signatures, then the leads' timelines from the history API.
#
#   1. Dana books a discovery call                 invitee.created
#   2. Calendly delivers the same event again      (a duplicate: nothing changes)
#   3. Dana reschedules: the new booking arrives   invitee.created with old_invitee
#      before the cancel of the old one            invitee.canceled, rescheduled: true
#   4. Sam joins the same group event via a CRM link (utm_content names his lead)
#   5. a delivery with a wrong signature           401, nothing written
#   then GET /leads/lead_dana_demo/appointments?include=changes and .../booking-status,
#   then GHL (scripts/demo/ghl/, signed by scripts/ghl-sign.py with the dev key pair) for the lead of
#   contact cnt_8Hj3Kd9Lm (lead_phase28_demo): booked, moved, canceled (AppointmentUpdate), booked
#   again and deleted (AppointmentDelete), a duplicate and a legacy-signed delivery, and its timeline,
#   and finally a migration dry run and one scheduled reconcile run (Dana's Calendly data comes back
#   unchanged; the Phase-28 lead's GHL appointments are recorded).
# Run it again and every delivery answers "duplicate": nothing is written twice.
#
# The bodies are Calendly's (scripts/demo/calendly/, made-up people) and are sent byte for byte;
# each is signed with the demo client's key at the moment it is sent.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ENV_FILE="$ROOT/.local/dev.env"
[ -f "$ENV_FILE" ] || { echo "demo: the local stack is not running: start it with 'make dev' in another terminal" >&2; exit 1; }
set -a
# shellcheck disable=SC1090
. "$ENV_FILE"
set +a

BODIES="$ROOT/scripts/demo/calendly"
WEBHOOK="$BASE/lambda-url/calendly-webhook/webhooks/calendly/$CLIENT_ID"
HISTORY="$BASE/lambda-url/appointment-history"
LEAD="$DEMO_LEAD_ID"

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
pretty() { python3 -c 'import json,sys
raw=sys.stdin.read()
try: print(json.dumps(json.loads(raw), indent=2))
except ValueError: print(raw)'; }

# post <url> <signature header> <file>: POSTs the file as it is and prints the status and the
# answer on one line.
post() {
    local out code
    out="$(mktemp)"
    code="$(curl -sS -o "$out" -w '%{http_code}' --max-time 120 -X POST "$1" \
        -H 'Content-Type: application/json' -H "$2" --data-binary "@$3")"
    printf 'HTTP %s  ' "$code"
    python3 -c 'import json,sys
raw=open(sys.argv[1]).read()
try: print(json.dumps(json.loads(raw), separators=(", ", ": ")))
except ValueError: print(raw)' "$out"
    rm -f "$out"
}

# deliver <fixture> [key]: POSTs the raw body signed with the key (default: the client's).
deliver() {
    local file="$BODIES/$1" key="${2:-$SIGNING_KEY}" sig
    sig="$(python3 "$ROOT/scripts/calendly-sign.py" --key "$key" --file "$file")"
    post "$WEBHOOK" "Calendly-Webhook-Signature: $sig" "$file"
}

get() {
    curl -sS --max-time 120 -H "Authorization: Bearer $JWT" -H 'Accept: application/json' "$HISTORY$1"
}

if ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "demo: nothing answers on $BASE: is 'make dev' running?" >&2
    exit 1
fi
echo "(the first request to each function compiles and starts it: allow a minute)"

bold "1. Dana books a discovery call (invitee.created)"
deliver invitee-created.json
bold "2. Calendly delivers it again (duplicate delivery)"
deliver invitee-created.json
bold "3a. Dana reschedules: the new booking arrives first (invitee.created, old_invitee set)"
deliver invitee-created-after-reschedule.json
bold "3b. ... then the cancel of the old one (invitee.canceled, rescheduled: true)"
deliver invitee-canceled-rescheduled.json
bold "4. Sam joins the same group event from a CRM link (utm_content = lead_7b3f2a91)"
deliver invitee-created-group-second.json
bold "5. A forged delivery (signed with the wrong key): rejected, nothing written"
deliver invitee-canceled-rescheduled.json "not-the-signing-key"

bold "Dana's timeline: GET /leads/$LEAD/appointments?include=changes"
get "/leads/$LEAD/appointments?include=changes" | pretty
bold "Dana's booking status: GET /leads/$LEAD/booking-status"
get "/leads/$LEAD/booking-status" | pretty
bold "Summary"
get "/leads/$LEAD/appointments" | python3 "$ROOT/scripts/demo/timeline.py" || chain_missing=1

# The two functions without HTTP routes, briefly.
# invoke <function> <event>: runs it once with the stack's environment and prints its answer, then
# its metric lines (CloudWatch EMF, as the deployed function writes them into its log); the
# function's whole log is kept in .local/<function>.log.
invoke() {
    local log="$ROOT/.local/$1.log"
    "$ROOT/scripts/invoke.sh" "$1" "$2" 2>"$log" | tail -n 25 || echo "(failed: see $log)"
    grep -h '"_aws"' "$log" | sed 's/^/  metric: /' || true
}
# ------------------------------------------------------------------------------------------ GHL
GHL_BODIES="$ROOT/scripts/demo/ghl"
GHL_WEBHOOK="$BASE/lambda-url/ghl-webhook/webhooks/ghl"
GHL_LEAD="lead_phase28_demo"
# ghl_deliver <body> [header]: stamps the body's timestamp now (the signed replay bound), signs it
# with the dev key pair's private half and POSTs it; "legacy" sends only an RSA-style x-wh-signature.
ghl_deliver() {
    local body="$GHL_BODIES/$1" sent sig
    sent="$(mktemp)"
    sig="$(python3 "$ROOT/scripts/ghl-sign.py" --file "$body" --stamp "$sent")"
    local header="x-ghl-signature: $sig"
    [ "${2:-}" = legacy ] && header="x-wh-signature: $sig"
    post "$GHL_WEBHOOK" "$header" "$sent"
    rm -f "$sent"
}

if [ "${GHL_DEV_KEYS:-1}" = 1 ]; then
    bold "G1. GHL: an appointment is booked (AppointmentCreate)"
    ghl_deliver appointment-create.json
    bold "G2. GHL delivers the same webhookId again (duplicate: nothing written)"
    ghl_deliver appointment-create.json
    bold "G3. It is moved a day later (AppointmentUpdate, new startTime)"
    ghl_deliver appointment-update-time.json
    bold "G4. It is canceled (AppointmentUpdate, appointmentStatus cancelled)"
    ghl_deliver appointment-update-cancelled.json
    bold "G5. A new appointment is booked ..."
    ghl_deliver second-appointment-create.json
    bold "G6. ... and deleted in GHL (AppointmentDelete): canceled on the lead, for good"
    ghl_deliver second-appointment-delete.json
    bold "G7. A delivery signed only with the retired RSA header: refused, nothing written"
    ghl_deliver second-appointment-create.json legacy
    bold "GHL timeline of $GHL_LEAD: GET /leads/$GHL_LEAD/appointments?include=changes"
    get "/leads/$GHL_LEAD/appointments?include=changes" | python3 -c 'import json,sys
body=json.load(sys.stdin)
for a in body.get("appointments") or []:
    print(("*" if a.get("isPrimary") else " "), a.get("status"), a.get("startAt"), a.get("source"), a.get("cancelReason") or "")
    for c in a.get("changes") or []:
        print("     ", c.get("kind"), c.get("from"), "->", c.get("to"), "(" + str(c.get("source")) + ")")
print("rollup:", json.dumps(body.get("rollup")))'
else
    bold "GHL story skipped: GHL_WEBHOOK_PUBLIC_KEY is set, so the dev key pair cannot sign for it"
fi

bold "6. A migration dry run (migrate-batch): what the Phase-28 rollups would become (lead_phase28_demo)"
invoke migrate-batch '{"mode":"dry-run","clientId":"'"$CLIENT_ID"'"}'
bold "7. A scheduled reconcile run (reconcile-scheduled, against the mock Calendly and GHL APIs)"
invoke reconcile-scheduled "$ROOT/events/reconcile-scheduled/schedule.json"

bold "Dana's timeline in a browser (the <appointment-timeline> view):"
echo "$TIMELINE_URL"

exit "${chain_missing:-0}"
