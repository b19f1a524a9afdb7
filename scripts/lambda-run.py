#!/usr/bin/env python3
"""Runs one Lambda invocation of a function binary against a minimal Lambda Runtime API, with a real
deadline (now + the function's timeout), the way Lambda does it.

    scripts/lambda-run.py --binary target/debug/migrate-batch --name migrate-batch --timeout 900 \
        --env-file .local/functions.env --event events/migrate-batch/dry-run.json

Why: `cargo lambda watch` (1.9) hands every invocation the constant deadline 600000 ms after the
epoch, which functions that budget their time (migrate-batch, reconcile-scheduled) rightly read as
"already past". scripts/invoke.sh uses this for those two; the HTTP functions stay on cargo lambda.

Prints the function's response on stdout; an error response goes to stderr with exit status 1.
The function's own logs go to stderr. Standard library only.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Invocation:
    def __init__(self, event: bytes, timeout_s: int) -> None:
        self.event = event
        self.timeout_s = timeout_s
        self.request_id = str(uuid.uuid4())
        self.handed_out = False
        self.result: tuple[str, bytes] | None = None  # ("response" | "error", body)
        self.done = threading.Event()
        self.lock = threading.Lock()


def make_handler(inv: Invocation, function_name: str):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            if self.path != f"{PREFIX}/invocation/next":
                return self.reply(404)
            with inv.lock:
                first = not inv.handed_out
                inv.handed_out = True
            if not first:
                # One invocation per run: the next poll waits until we stop the process.
                inv.done.wait()
                time.sleep(3600)
                return
            deadline_ms = int(time.time() * 1000) + inv.timeout_s * 1000
            self.reply(200, inv.event, {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": f"arn:aws:lambda:local:000000000000:function:{function_name}",
                "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            })

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path == f"{PREFIX}/invocation/{inv.request_id}/response":
                inv.result = ("response", body)
            elif self.path in (f"{PREFIX}/invocation/{inv.request_id}/error", f"{PREFIX}/init/error"):
                inv.result = ("error", body)
            else:
                return self.reply(404)
            self.reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
            inv.done.set()

        def log_message(self, fmt: str, *args) -> None:
            pass

    return Handler


def read_env_file(path: str | None) -> dict[str, str]:
    env: dict[str, str] = {}
    if not path:
        return env
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k.strip()] = v
    return env


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", required=True)
    p.add_argument("--name", required=True, help="function name (AWS_LAMBDA_FUNCTION_NAME)")
    p.add_argument("--timeout", type=int, required=True, help="seconds, as in template.yaml")
    p.add_argument("--memory", type=int, default=512)
    p.add_argument("--env-file")
    p.add_argument("--event", required=True, help="a JSON file or inline JSON")
    a = p.parse_args()

    if os.path.isfile(a.event):
        with open(a.event, "rb") as f:
            event = f.read()
    else:
        event = a.event.encode("utf-8")
    json.loads(event)  # fail early on a malformed event

    inv = Invocation(event, a.timeout)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(inv, a.name))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    env = dict(os.environ)
    env.update(read_env_file(a.env_file))
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": a.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(a.memory),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/local/{a.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_REGION": env.get("AWS_REGION", "us-east-1"),
    })
    child = subprocess.Popen([a.binary], env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr)
    try:
        while not inv.done.wait(0.2):
            if child.poll() is not None:
                print(f"lambda-run: {a.name} exited with status {child.returncode} before answering", file=sys.stderr)
                return 1
        # Lambda freezes the process after the response; here it just stops.
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=3)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        server.shutdown()

    kind, body = inv.result or ("error", b"")
    text = body.decode("utf-8", "replace")
    try:
        text = json.dumps(json.loads(text), indent=2, sort_keys=True)
    except ValueError:
        pass
    if kind == "response":
        print(text)
        return 0
    print(text, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
