#!/usr/bin/env python3
"""A stand-in for the Calendly and GHL APIs on 127.0.0.1, for the local stack only (this machine, and
most dev machines' tests, cannot or must not call the real providers with demo data).

    scripts/demo/mock-providers.py PORT

Serves the recorded API answers in scripts/demo/providers/ (made-up people):
  GET /calendly/scheduled_events?invitee_email=...        Dana's two events (canceled, then active)
  GET /calendly/scheduled_events/{uuid}/invitees?email=... the invitee of each of those events
  GET /ghl/contacts/{contactId}/appointments               the GHL contact cnt_8Hj3Kd9Lm's appointments
Anything else answers an empty list (or 404 for unknown paths). A request without a bearer token
answers 401, as the providers do. Point the functions at it with
CALENDLY_API_BASE=http://127.0.0.1:PORT/calendly and GHL_API_BASE=http://127.0.0.1:PORT/ghl.
"""
from __future__ import annotations

import json
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
DANA = "dana.whitfield@example.com"
GHL_CONTACT = "cnt_8Hj3Kd9Lm"
EMPTY_PAGE = {"count": 0, "next_page": None, "next_page_token": None, "previous_page": None, "previous_page_token": None}


def load(*parts: str) -> dict:
    with open(os.path.join(HERE, *parts), encoding="utf-8") as f:
        return json.load(f)


EVENTS = load("providers", "api-list-scheduled-events.json")
ACTIVE_INVITEES = load("providers", "api-list-event-invitees.json")
GHL_APPOINTMENTS = load("providers", "api-contact-appointments.json")
# The canceled event's invitee, as GET .../invitees shows it: the webhook payload without the
# embedded scheduled event.
_canceled = load("calendly", "invitee-canceled-rescheduled.json")["payload"]
_canceled.pop("scheduled_event", None)
CANCELED_INVITEES = {"collection": [_canceled], "pagination": dict(EMPTY_PAGE, count=1)}
INVITEES_BY_EVENT = {
    "3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40": CANCELED_INVITEES,
    "9b7d1e45-2c6a-4f83-a0e9-d3b5c7f1e268": ACTIVE_INVITEES,
}


class Handler(BaseHTTPRequestHandler):
    server_version = "mock-providers"

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            return self.answer(401, {"title": "Unauthenticated", "message": "missing bearer token"})
        if url.path == "/calendly/scheduled_events":
            if query.get("invitee_email", "").lower() == DANA:
                return self.answer(200, EVENTS)
            return self.answer(200, {"collection": [], "pagination": EMPTY_PAGE})
        m = re.fullmatch(r"/calendly/scheduled_events/([^/]+)/invitees", url.path)
        if m:
            page = INVITEES_BY_EVENT.get(m.group(1))
            if page and query.get("email", "").lower() == DANA:
                return self.answer(200, page)
            return self.answer(200, {"collection": [], "pagination": EMPTY_PAGE})
        m = re.fullmatch(r"/ghl/contacts/([^/]+)/appointments", url.path)
        if m:
            return self.answer(200, GHL_APPOINTMENTS if m.group(1) == GHL_CONTACT else {"events": []})
        return self.answer(404, {"message": "not found"})

    def log_message(self, fmt: str, *args) -> None:
        # Paths only (no query strings: they hold emails).
        sys.stderr.write(f"mock-providers: {self.command} {urlparse(self.path).path} -> {args[1] if len(args) > 1 else ''}\n")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
