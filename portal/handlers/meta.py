"""Unauthenticated endpoints: health and the OpenAPI description of the API."""

from __future__ import annotations

import json
from importlib import resources

from tornado import web

OPENAPI = json.loads(resources.files("portal").joinpath("openapi.json").read_text())


class HealthHandler(web.RequestHandler):
    def get(self):
        ready = self.settings["ready"].is_set()
        self.set_status(200 if ready else 503)
        self.finish({"status": "ok" if ready else "starting"})


class OpenAPIHandler(web.RequestHandler):
    def get(self):
        spec = dict(OPENAPI, servers=[{"url": self.settings["prefix"] + "api/v1"}])
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(spec))


default_handlers = [
    (r"/health", HealthHandler),
    (r"/api/v1/openapi.json", OpenAPIHandler),
]
