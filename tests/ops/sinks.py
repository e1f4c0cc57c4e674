"""Local stand-ins for where alerts end up: an SMTP server (aiosmtpd) and an HTTP receiver
(Slack's and Google Chat's incoming webhooks), both keeping what they received."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from portal.ports import free_port


def wait_until(find, timeout: float, what: str):
    """find()'s first truthy answer; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := find()):
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.2)
    return found


class SmtpSink:
    """Mail accepted on 127.0.0.1:<port>, without TLS or login; `messages` are parsed mails."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]


class HttpSink:
    """POSTs to http://127.0.0.1:<port>/<any path>, kept as (path, headers, JSON body);
    every path answers `status` (200)."""

    def __init__(self):
        self.posts: list[tuple[str, dict, object]] = []
        self.status = 200
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.posts.append((self.path, dict(self.headers), json.loads(body or b"null")))
                self.send_response(sink.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, prefix: str) -> list:
        return [body for path, _, body in self.posts if path.startswith(prefix)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
