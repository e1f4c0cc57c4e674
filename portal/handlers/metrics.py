"""`GET /metrics`: the portal's Prometheus exposition (portal/metrics.py).

Readable with the hub's `read:metrics` scope (operators have it), or by Prometheus with
`Authorization: Bearer <AIPORTAL_METRICS_TOKEN>` when the service has that variable.
Outside /api/v1 and the OpenAPI document: it is for scrapers, not API clients. 404 when
portal.yaml turns metrics off (`monitoring.metrics: false`).
"""

from __future__ import annotations

import hmac

from jupyterhub.services.auth import check_scopes
from tornado import web

from .base import APIHandler
from .teams import machine_gpus

SCOPE = "read:metrics"
#: The classic text format, which every Prometheus reads (generate_latest writes it by default).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsHandler(APIHandler):
    def scraper_token(self) -> bool:
        """The request carries the configured metrics token as its Bearer token."""
        expected = self.settings.get("metrics_token") or ""
        scheme, _, sent = self.request.headers.get("Authorization", "").partition(" ")
        return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(
            sent.strip().encode(), expected.encode())

    async def prepare(self):
        """404 with metrics off, 401 without a known token, 403 for a caller without `read:metrics`."""
        if not self.settings["metrics"].enabled:
            raise web.HTTPError(404, "metrics are off (portal.yaml monitoring.metrics)")
        if self.scraper_token():
            return
        await super().prepare()
        if not check_scopes({SCOPE}, self.caller.scopes):
            raise web.HTTPError(403, f"metrics require the hub scope {SCOPE}")

    async def get(self):
        body = await self.settings["metrics"].scrape(self.settings, await machine_gpus(self))
        self.set_header("Content-Type", CONTENT_TYPE)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


default_handlers = [
    (r"/metrics", MetricsHandler),
]
