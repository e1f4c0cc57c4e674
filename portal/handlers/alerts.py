"""`POST /alerts/google-chat/<receiver>`: the adapter from Alertmanager's webhook to Google Chat.

Alertmanager has no Google Chat receiver; the generated config (portal/ops/alertmanager.py)
points a webhook here with the shared secret of `alerts.google_chat_token_file` as its
Bearer token. The message (portal/ops/gchat.py) goes to the Chat webhook URL read from the
receiver's `google_chat.url_file`. That URL carries Chat's key and token: it is never
logged nor answered. No hub user is involved.
"""

from __future__ import annotations

import hmac
import json
import logging
from pathlib import Path

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from ..ops import gchat
from .base import APIHandler

log = logging.getLogger(__name__)
POST_TIMEOUT = 10  # seconds Chat may take; Alertmanager retries a failed notification


class GoogleChatHandler(APIHandler):
    @property
    def alerts(self) -> dict:
        return self.portal_config.raw.get("alerts") or {}

    def read_secret(self, path: str, field: str) -> str:
        try:
            value = Path(path).read_text().strip()
        except OSError:
            value = ""
        if not value:
            log.warning("alerts: %s (%s) cannot be read or is empty", field, path)
            raise web.HTTPError(503, f"{field} cannot be read or is empty: ask an operator")
        return value

    async def prepare(self):
        """401 unless the Bearer token is the adapter's shared secret."""
        token_file = self.alerts.get("google_chat_token_file")
        if not token_file:
            raise web.HTTPError(404, "no Google Chat receivers are configured (alerts.receivers[].google_chat)")
        expected = self.read_secret(token_file, "alerts.google_chat_token_file")
        scheme, _, sent = self.request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), expected.encode()):
            raise web.HTTPError(401, "send the adapter's secret (alerts.google_chat_token_file) as a Bearer token")

    async def post(self, receiver: str):
        found = [(i, r) for i, r in enumerate(self.alerts.get("receivers") or [])
                 if r["name"] == receiver and "google_chat" in r]
        if not found:
            raise web.HTTPError(404, f"no Google Chat receiver {receiver[:100]!r} under alerts.receivers")
        index, spec = found[0]
        try:
            payload = gchat.check(self.get_json_body())
        except ValueError as e:
            raise web.HTTPError(400, f"not an Alertmanager webhook notification: {e}") from None
        url = self.read_secret(spec["google_chat"]["url_file"], f"alerts.receivers[{index}].google_chat.url_file")
        if not url.startswith(("https://", "http://")):
            raise web.HTTPError(503, f"alerts.receivers[{index}].google_chat.url_file does not hold a URL")
        try:
            await AsyncHTTPClient().fetch(HTTPRequest(
                gchat.thread_url(url, payload), method="POST", body=json.dumps(gchat.message(payload)),
                headers={"Content-Type": "application/json; charset=UTF-8"}, request_timeout=POST_TIMEOUT))
        except (HTTPClientError, OSError) as e:  # the error's text may hold the URL: only its code is told
            code = getattr(e, "code", 599)
            reason = "could not be reached" if code == 599 else f"answered HTTP {code}"
            log.warning("alerts: Google Chat of receiver %s %s", receiver, reason)
            raise web.HTTPError(502, f"Google Chat {reason}") from None
        self.write_json({"receiver": receiver, "alerts": len(payload["alerts"]), "posted": True})


default_handlers = [
    (r"/alerts/google-chat/([^/]+)", GoogleChatHandler),
]
