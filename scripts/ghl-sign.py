#!/usr/bin/env python3
"""Signs a GHL webhook body the way GHL does, for local deliveries: Ed25519 over the raw bytes,
base64, for the `x-ghl-signature` header.

    scripts/ghl-sign.py --file body.json                      prints the x-ghl-signature value
    scripts/ghl-sign.py --file body.json --stamp out.json     first writes body.json to out.json with
                                                              "timestamp" set to now (the signed replay
                                                              bound), then signs out.json
    scripts/ghl-sign.py --event events/ghl-webhook/x.json     prints that API Gateway event with its
                                                              body stamped now and signed (for
                                                              scripts/invoke.sh ghl-webhook or
                                                              cargo lambda invoke --data-file)
    scripts/ghl-sign.py --public                              prints the public key (hex, 32 bytes)

The key is the private half (a 32-byte seed, hex) in --key or DEV_GHL_PRIVATE_KEY, by default the
local stack's dev key pair: RFC 8032's first test key, public on purpose (`make dev` gives the
functions its public half as GHL_WEBHOOK_PUBLIC_KEY). GHL's real private key is GHL's alone.
The raw bytes of the file are signed: send them unchanged (curl --data-binary @file).

Pure Python (RFC 8032, section 6), so that it runs wherever python3 does.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import os
import sys

DEV_PRIVATE_KEY = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"

P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    x = (a[1] - a[0]) * (b[1] - b[0]) % P
    y = (a[1] + a[0]) * (b[1] + b[0]) % P
    z = 2 * a[3] * b[3] * D % P
    w = 2 * a[2] * b[2] % P
    e, f, g, h = y - x, w - z, w + z, y + x
    return (e * f, g * h, f * g, e * h)


def _mul(s, point):
    acc = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            acc = _add(acc, point)
        point = _add(point, point)
        s >>= 1
    return acc


def _compress(point):
    zinv = pow(point[2], P - 2, P)
    x, y = point[0] * zinv % P, point[1] * zinv % P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _base():
    y = 4 * pow(5, P - 2, P) % P
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if x & 1:
        x = P - x
    return (x, y, 1, x * y % P)


G = _base()


def _expand(seed: bytes):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def _h(data: bytes) -> int:
    return int.from_bytes(hashlib.sha512(data).digest(), "little") % Q


def public_key(seed: bytes) -> bytes:
    return _compress(_mul(_expand(seed)[0], G))


def sign(seed: bytes, message: bytes) -> bytes:
    a, prefix = _expand(seed)
    public = _compress(_mul(a, G))
    r = _h(prefix + message)
    big_r = _compress(_mul(r, G))
    s = (r + _h(big_r + public + message) * a) % Q
    return big_r + int.to_bytes(s, 32, "little")


def now_text() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def signed_event(seed: bytes, path: str) -> dict:
    """An API Gateway v2 event whose body is re-stamped now and signed."""
    with open(path, "rb") as f:
        event = json.load(f)
    body = json.loads(event["body"])
    body["timestamp"] = now_text()
    event["body"] = json.dumps(body, indent=2)
    event["headers"]["x-ghl-signature"] = base64.b64encode(sign(seed, event["body"].encode("utf-8"))).decode("ascii")
    return event


def stamp(src: str, dst: str) -> None:
    """Copies a body with its `timestamp` set to now (ISO 8601, milliseconds, UTC)."""
    with open(src, "rb") as f:
        body = json.load(f)
    body["timestamp"] = now_text()
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(body, f, indent=2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--key", default=os.environ.get("DEV_GHL_PRIVATE_KEY", DEV_PRIVATE_KEY), help="private key seed, 64 hex digits")
    parser.add_argument("--file", help="the raw body to sign")
    parser.add_argument("--stamp", metavar="OUT", help="write the body with timestamp=now to OUT and sign that")
    parser.add_argument("--event", help="an API Gateway v2 event to re-stamp and sign (printed)")
    parser.add_argument("--public", action="store_true", help="print the public key (hex) and exit")
    args = parser.parse_args()
    seed = bytes.fromhex(args.key)
    if len(seed) != 32:
        parser.error("--key must be 32 bytes in hex")
    if args.public:
        print(public_key(seed).hex())
        return 0
    if args.event:
        print(json.dumps(signed_event(seed, args.event), indent=2))
        return 0
    if not args.file:
        parser.error("--file or --event is required")
    path = args.file
    if args.stamp:
        stamp(path, args.stamp)
        path = args.stamp
    with open(path, "rb") as f:
        print(base64.b64encode(sign(seed, f.read())).decode("ascii"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
