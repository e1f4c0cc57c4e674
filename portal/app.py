"""make_app(): the portal service's tornado Application, built without globals."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import secrets
from importlib import resources

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from jupyterhub._data import DATA_FILES_PATH
from jupyterhub.services.auth import HubOAuthCallbackHandler
from tornado import web

from . import SHARED_TEMPLATES
from .config import PortalConfig
from .handlers import (
    alerts,
    app_pages,
    apps,
    datasets,
    job_commands,
    job_pages,
    jobs,
    meta,
    metrics,
    pages,
    promotion,
    sessions,
    shares,
    ssh_keys,
    teams,
    usage,
)
from .handlers.base import NoSuchEndpointHandler
from .hub import HubClient
from .page_security import NoncedLoader, SecurityHeaders, SecurityPolicy
from .rbac import ADMIN

HANDLER_MODULES = [meta, metrics, alerts, teams, datasets, shares, promotion, usage, apps, sessions, job_commands,
                   jobs, ssh_keys, job_pages, app_pages, pages]


def _template_dirs() -> list[str]:
    """Ours first, then JupyterHub's own, so portal pages extend its page.html."""
    return [str(resources.files("portal").joinpath("templates")), SHARED_TEMPLATES,
            os.path.join(DATA_FILES_PATH, "templates")]


class _TemplateUser:
    """What JupyterHub's page.html reads from `user`."""

    def __init__(self, name: str):
        self.name = name
        self.json_escaped_name = json.dumps(name)[1:-1]


def make_renderer(hub_prefix: str, prefix: str, policy: SecurityPolicy):
    *ours, hubs = _template_dirs()
    env = Environment(loader=ChoiceLoader([*map(FileSystemLoader, ours), NoncedLoader(hubs)]),
                      autoescape=select_autoescape(default=True, default_for_string=True))

    def render(handler, template: str, **ns) -> str:
        """The page, and its CSP with a fresh nonce (an error page after `clear()` gets its own)."""
        nonce = secrets.token_urlsafe(18)
        handler.set_header("Content-Security-Policy", policy.csp(handler.request, nonce))
        model = handler.current_user
        scopes = set(model.get("scopes", ())) if model else set()
        context = {
            "base_url": hub_prefix, "prefix": "/", "portal_url": prefix,
            "static_url": lambda path, include_version=True: f"{hub_prefix}static/{path}",
            "portal_static_url": handler.static_url,
            "user": _TemplateUser(model["name"]) if model else None,
            "parsed_scopes": scopes & {"admin-ui"},
            "is_operator": ADMIN in scopes, "services": [],
            "logout_url": f"{hub_prefix}logout", "login_url": f"{hub_prefix}login",
            "xsrf_token": handler.xsrf_token.decode() if model else "",
            "no_spawner_check": True, "version_hash": "", "csp_nonce": nonce,
        }
        context.update(ns)
        return env.get_template(template).render(**context)

    return render


class PortalApplication(web.Application):
    def log_request(self, handler: web.RequestHandler) -> None:
        """Tornado's access log line, and the request's latency for the metrics."""
        super().log_request(handler)
        if (metrics := self.settings.get("metrics")) is not None:
            metrics.answered(handler)


def make_app(config: PortalConfig, *, hub_api_url: str, api_token: str, prefix: str,
             hub_prefix: str = "/hub/", membership_source: str = "portal",
             ready: asyncio.Event | None = None, **extra) -> web.Application:
    """The portal service. Routes are the modules' `default_handlers` under `prefix`."""
    handlers = [(prefix.rstrip("/") + "/oauth_callback", HubOAuthCallbackHandler)]
    for module in HANDLER_MODULES:
        handlers += [(prefix.rstrip("/") + path, cls) for path, cls in module.default_handlers]
    handlers.append((prefix.rstrip("/") + "/api/v1/.*", NoSuchEndpointHandler))
    datasets = extra.get("datasets")
    policy = SecurityPolicy((hub_prefix + "static/", prefix + "static/"),
                            datasets.access.public_endpoint if datasets else None)
    settings = dict(
        portal_config=config, hub=HubClient(hub_api_url, api_token), prefix=prefix,
        membership_source=membership_source, ready=ready or asyncio.Event(),
        render=make_renderer(hub_prefix, prefix, policy), cookie_secret=extra.pop("cookie_secret"),
        default_handler_class=pages.NotFoundPageHandler,
        static_path=str(resources.files("portal").joinpath("static")), static_url_prefix=prefix + "static/",
        **extra)
    return PortalApplication(handlers, transforms=[functools.partial(SecurityHeaders, policy=policy)],
                             **settings)
