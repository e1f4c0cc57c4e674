"""The operators' usage charts: the page (`GET /usage`) and its data (`GET /api/v1/usage`),
which the portal reads from Prometheus with its own fixed queries (portal/usage_charts.py)."""

from __future__ import annotations

import logging

from tornado import web

from ..prometheus import PrometheusError
from ..usage_charts import RANGES, usage
from .base import APIHandler, operator_scope
from .pages import PageHandler

log = logging.getLogger(__name__)
OFF = "usage charts are off: no Prometheus is configured (monitoring.prometheus_url in portal.yaml)"


class UsageAPIHandler(APIHandler):
    @operator_scope
    async def get(self):
        name = self.query("range", "6h")
        if name not in RANGES:
            raise web.HTTPError(400, f"range: must be one of {', '.join(RANGES)}")
        prometheus = self.settings.get("prometheus")
        if prometheus is None:
            raise web.HTTPError(404, OFF)
        try:
            charts = await usage(prometheus, name)
        except PrometheusError as e:
            log.warning("usage charts: %s", e.message)
            raise web.HTTPError(e.status, e.message) from None
        self.set_header("Cache-Control", "no-store")
        self.write_json(charts)


class UsagePageHandler(PageHandler):
    @web.authenticated
    @operator_scope
    async def get(self):
        self.render_page("usage.html", configured=self.settings.get("prometheus") is not None, ranges=list(RANGES))


default_handlers = [
    (r"/api/v1/usage", UsageAPIHandler),
    (r"/usage/?", UsagePageHandler),
]
