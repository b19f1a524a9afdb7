#!/usr/bin/env python3
"""Signs a Calendly webhook body the way Calendly does, for local deliveries.

    scripts/calendly-sign.py --key "$SIGNING_KEY" --file body.json [--t UNIX_SECONDS]

Prints the header value `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` for
`Calendly-Webhook-Signature`. The raw bytes of the file are signed: send them unchanged
(curl --data-binary @file), never re-serialized JSON.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import sys
import time


def sign(key: str, body: bytes, t: int) -> str:
    mac = hmac.new(key.encode("utf-8"), str(t).encode("ascii") + b"." + body, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--key", required=True, help="the client's Calendly webhook signing key")
    parser.add_argument("--file", required=True, help="the raw body to sign")
    parser.add_argument("--t", type=int, default=None, help="timestamp (default: now)")
    args = parser.parse_args()
    with open(args.file, "rb") as f:
        body = f.read()
    print(sign(args.key, body, int(time.time()) if args.t is None else args.t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
