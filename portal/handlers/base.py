"""Base handlers: hub OAuth user resolution, JSON errors for the API, HTML for pages.

Access rules are declared on handler methods with `team_scope`, never checked ad hoc.
"""

from __future__ import annotations

import functools
import json
import traceback
from http.client import responses

from jupyterhub.services.auth import HubOAuthenticated
from tornado import web

from ..hub import HubClient, HubError
from ..rbac import READ, Caller
from ..teams import Team


class BaseHandler(HubOAuthenticated, web.RequestHandler):
    """Resolves the hub user once per request (async) in prepare()."""

    @property
    def hub(self) -> HubClient:
        return self.settings["hub"]

    @property
    def portal_config(self):
        return self.settings["portal_config"]

    @property
    def caller(self) -> Caller | None:
        model = self.current_user
        return Caller(model) if model else None

    async def prepare(self):
        model = await self.hub_auth.get_user(self, sync=False)
        if model:
            try:
                model = self.check_hub_user(model)
            except Exception:
                model = None
        self._hub_auth_user_cache = model

    async def readable_teams(self) -> list[Team]:
        """Every team the caller may read (all of them for operators)."""
        caller = self.caller
        return [Team.from_group(g, self.settings["membership_source"]) for g in await self.hub.groups()
                if caller.can(READ, g["name"], g.get("users") or ())]

    async def get_team(self, name: str) -> Team:
        """The team, or 404 (also for existing teams the caller may not read)."""
        caller = self.caller
        group = await self.hub.group(name) if caller else None
        if group is None or not caller.can(READ, name, group.get("users") or ()):
            raise web.HTTPError(404, f"no team {name!r}")
        return Team.from_group(group, self.settings.get("membership_source", "portal"))

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args  # tornado stores a message without args with '%' doubled
        else:
            message = responses.get(status_code, "error")
        if isinstance(exc, HubError):
            message = exc.message
        if status_code >= 500 and self.settings.get("debug") and "exc_info" in kwargs:
            message += "\n" + "".join(traceback.format_exception(*kwargs["exc_info"]))
        self.render_error(status_code, message)

    def render_error(self, status_code, message):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(self.settings["render"](self, "error.html", status_code=status_code,
                                            status_message=responses.get(status_code, ""),
                                            message=message))


class APIHandler(BaseHandler):
    """JSON in, JSON out; token or cookie authentication.

    HubOAuth accepts the cookie on non-GET requests only with a valid XSRF token
    (X-XSRFToken header), so cross-site forms cannot act for a logged-in user.
    """

    async def prepare(self):
        await super().prepare()
        if self.current_user is None:
            raise web.HTTPError(403, "authentication required: send 'Authorization: token <hub token>'")

    def get_json_body(self):
        if not self.request.body:
            raise web.HTTPError(400, "request body must be a JSON object")
        try:
            return json.loads(self.request.body)
        except ValueError:
            raise web.HTTPError(400, "request body is not valid JSON") from None

    def write_json(self, data, status: int = 200):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def render_error(self, status_code, message):
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": status_code, "message": message}))


class NoSuchEndpointHandler(APIHandler):
    """Unknown paths under /api/v1 answer in JSON like the rest of the API (and before any login)."""

    def prepare(self):
        raise web.HTTPError(404, f"no API endpoint {self.request.method} {self.request.path}")


def team_scope(scope: str):
    """Require `scope` on the team named by the first URL argument.

    Callers who cannot even read the team get 404, so a team's existence does not leak.
    """

    def decorator(method):
        @functools.wraps(method)
        async def wrapper(self, team, *args, **kwargs):
            self.team = await self.get_team(team)
            if not self.caller.can(scope, team, self.team.members):
                raise web.HTTPError(403, f"{scope} on team {team!r} is required")
            return await method(self, team, *args, **kwargs)

        wrapper.required_scope = scope
        return wrapper

    return decorator
