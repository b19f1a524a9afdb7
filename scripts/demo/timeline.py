#!/usr/bin/env python3
"""Prints a lead's timeline (the history API's GET /leads/{id}/appointments body, on stdin) as a
short table, with the reschedule chain drawn. Exit status 1 when there is no reschedule chain."""
from __future__ import annotations

import json
import sys


def main() -> int:
    body = json.load(sys.stdin)
    appointments = body.get("appointments") or []
    by_id = {a["id"]: a for a in appointments}
    for a in appointments:
        links = []
        if a.get("rescheduledFromId"):
            links.append(f"rescheduled from {a['rescheduledFromId']}")
        if a.get("rescheduledToIds"):
            links.append(f"rescheduled to {', '.join(a['rescheduledToIds'])}")
        primary = "*" if a.get("isPrimary") else " "
        print(f"{primary} {a['id']}  {a.get('status', '?'):<11} {a.get('startAt') or '-':<25} {'; '.join(links)}")
    chained = [a for a in appointments if a.get("rescheduledFromId") in by_id]
    print()
    print("(* = primary, the appointment the lead's rollup shows)")
    print("rollup:", json.dumps(body.get("rollup")))
    if chained:
        print(f"reschedule chain: {len(chained) + 1} appointments linked")
        return 0
    print("reschedule chain: none (expected one; see the calendly-webhook output of make dev)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
