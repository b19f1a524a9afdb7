#!/usr/bin/env python3
"""Mints an HS256 bearer token for the history API, the way the CRM backend does.

    scripts/jwt.py --secret "$JWT_SECRET" --sub crm-backend --client-ids client_demo [--ttl 86400]

Claims: sub, iat, exp and clientIds (the workspaces the caller may see). Standard library only.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint(secret: str, sub: str, client_ids: list[str], ttl: int, now: int | None = None) -> str:
    now = int(time.time()) if now is None else now
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": sub, "iat": now, "exp": now + ttl, "clientIds": client_ids}
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode("utf-8")) for part in (header, claims)
    )
    signature = hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secret", required=True, help="the HS256 key (JWT_SECRET)")
    parser.add_argument("--sub", default="crm-backend", help="subject: who calls (default crm-backend)")
    parser.add_argument("--client-ids", required=True, help="comma-separated Client ids the caller may see")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until exp (default one hour, the history API's default JWT_MAX_LIFETIME_SECONDS)")
    args = parser.parse_args()
    client_ids = [c.strip() for c in args.client_ids.split(",") if c.strip()]
    if not client_ids:
        parser.error("--client-ids needs at least one id")
    print(mint(args.secret, args.sub, client_ids, args.ttl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
