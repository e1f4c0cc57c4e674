"""make_app(): the portal service's tornado Application, built without globals."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import secrets
from dataclasses import dataclass
from importlib import resources

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from jupyterhub._data import DATA_FILES_PATH
from jupyterhub.services.auth import HubOAuthCallbackHandler
from tornado import web

from . import SHARED_TEMPLATES
from .config import PortalConfig
from .handlers import datasets, meta, pages, teams
from .handlers.base import NoSuchEndpointHandler
from .hub import HubClient
from .rbac import ADMIN

HANDLER_MODULES = [meta, teams, datasets, pages]


def _template_dirs() -> list[str]:
    """Ours first, then JupyterHub's own, so portal pages extend its page.html."""
    return [str(resources.files("portal").joinpath("templates")), SHARED_TEMPLATES,
            os.path.join(DATA_FILES_PATH, "templates")]


@dataclass(frozen=True)
class SecurityPolicy:
    """The security headers of every answer of the service (docs/architecture.md, "Pages and headers").

    Scripts run only from the hub's and the portal's static paths, not from the whole
    origin: user servers share it (`/user/…`) and serve whatever their users write. Inline
    scripts run only with the page's nonce. Browsers upload to and download from S3
    directly (presigned URLs), so that is the one other origin they may connect to.
    """

    script_paths: tuple[str, ...]
    storage_origin: str | None = None

    def csp(self, request, nonce: str | None = None) -> str:
        origin = f"{request.protocol}://{request.host}"
        scripts = ([f"'nonce-{nonce}'"] if nonce else []) + [origin + p for p in self.script_paths]
        policy = {
            "default-src": "'self'", "script-src": " ".join(scripts),
            "connect-src": " ".join(filter(None, ["'self'", self.storage_origin])),
            "img-src": "'self' data:",  # Bootstrap draws its icons (close, check, select) as data: SVGs
            "object-src": "'none'", "base-uri": "'self'", "form-action": "'self'",
            "frame-ancestors": "'self'",  # no page of the portal inside another site's frame
        }
        return "; ".join(f"{name} {value}" for name, value in policy.items())

    def headers(self, request) -> dict[str, str]:
        return {"Content-Security-Policy": self.csp(request), "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin"}


class _SecurityHeaders(web.OutputTransform):
    """Puts the policy's headers on every answer: pages, API, static files, errors, redirects.
    A page's own CSP (with its nonce, set by the renderer) is kept."""

    def __init__(self, request, policy: SecurityPolicy):
        super().__init__(request)
        self.request, self.policy = request, policy

    def transform_first_chunk(self, status_code, headers, chunk, finishing):
        for name, value in self.policy.headers(self.request).items():
            headers.setdefault(name, value)
        return status_code, headers, chunk


_INLINE_SCRIPT = re.compile(r"<script(?=[\s>])(?![^>]*\ssrc=)")


class _NoncedLoader(FileSystemLoader):
    """JupyterHub's templates with the page's CSP nonce on their inline scripts.

    page.html writes `window.jhdata` (the XSRF token our scripts send) and the requirejs
    config in a `<script>` outside any block, so no child template can replace it. Only
    JupyterHub's own templates get the nonce; ours have no inline scripts at all.
    """

    def get_source(self, environment, template):
        source, path, uptodate = super().get_source(environment, template)
        return _INLINE_SCRIPT.sub('<script nonce="{{ csp_nonce }}"', source), path, uptodate


class _TemplateUser:
    """What JupyterHub's page.html reads from `user`."""

    def __init__(self, name: str):
        self.name = name
        self.json_escaped_name = json.dumps(name)[1:-1]


def make_renderer(hub_prefix: str, prefix: str, policy: SecurityPolicy):
    *ours, hubs = _template_dirs()
    env = Environment(loader=ChoiceLoader([*map(FileSystemLoader, ours), _NoncedLoader(hubs)]),
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
    return web.Application(handlers, transforms=[functools.partial(_SecurityHeaders, policy=policy)],
                           **settings)
