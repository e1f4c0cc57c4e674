"""Unauthenticated endpoints: health and the OpenAPI description of the API."""

from __future__ import annotations

from tornado import web

from ..openapi import document
from .base import APIHandler


class HealthHandler(web.RequestHandler):
    def get(self):
        """200 once ready, 503 while starting, 500 with the cause when the start failed."""
        if self.settings.get("startup_error"):
            self.set_status(500)
            self.finish({"status": "failed", "error": self.settings["startup_error"]})
            return
        ready = self.settings["ready"].is_set()
        self.set_status(200 if ready else 503)
        self.finish({"status": "ok" if ready else "starting"})


class OpenAPIHandler(APIHandler):
    """The API's own description, public; other methods answer 405 in JSON like the API."""

    async def prepare(self):
        """No login: the document is public."""

    def get(self):
        self.write_json(document(self.settings["prefix"] + "api/v1", self.portal_config.profiles))


default_handlers = [
    (r"/health", HealthHandler),
    (r"/api/v1/openapi.json", OpenAPIHandler),
]
