"""Real local providers for message tests: an SMTP server (aiosmtpd) and an HTTP SMS/push provider that,
like a real one, delivers each Idempotency-Key once and answers a repeated key with the first answer."""
from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """Every email the server accepted: (envelope sender, recipients, parsed message)."""

    def __init__(self):
        self.received: list = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


class HttpProvider:
    """Records every request. ``fail_next`` answers that many requests with ``fail_status``; ``hang`` delivers
    but keeps the request waiting for its answer until it is cleared."""

    def __init__(self):
        self.requests: list[dict] = []      # every request: headers and body
        self.delivered: dict[str, dict] = {}  # Idempotency-Key -> body, each delivered once
        self.fail_next = 0
        self.fail_status = 503
        self.hang = threading.Event()
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                record = {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": json.loads(body), "raw": body}
                with provider.lock:
                    provider.requests.append(record)
                    failing = provider.fail_next > 0
                    provider.fail_next -= failing
                if provider.hang.is_set():
                    # Delivered, but the answer never reaches the caller (it dies waiting for it).
                    provider.delivered.setdefault(record["headers"]["idempotency-key"], record["body"])
                    while provider.hang.is_set():
                        provider.hang.wait(0.05)
                    return
                if failing:
                    self._answer(provider.fail_status, {"error": "provider unavailable"})
                    return
                key = record["headers"]["idempotency-key"]
                with provider.lock:
                    provider.delivered.setdefault(key, record["body"])
                self._answer(200, {"id": f"prov-{key}"})

            def _answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.hang.clear()
        self.server.shutdown()
        self.server.server_close()
