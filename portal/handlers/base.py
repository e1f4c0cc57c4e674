"""Base handlers: hub OAuth user resolution, JSON errors for the API, HTML for pages.

Access rules are declared on handler methods with `team_scope`, never checked ad hoc.
"""

from __future__ import annotations

import asyncio
import functools
import json
import traceback
from http.client import responses
from urllib.parse import urlencode

from jupyterhub.services.auth import HubOAuthenticated
from tornado import web

from ..hub import HubClient, HubError
from ..names import is_team_name
from ..namespaces import NamespaceError
from ..promotion.gitlab import GitLabError
from ..rbac import OPERATOR, PROMOTE, READ, Caller
from ..teams import Team, portal_groups

MAX_PAGE = 1000  # the most items one page of any list endpoint holds
DEFAULT_PAGE = 100
MAX_OFFSET = 10**9


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
        """Every team the caller may read: all of them for operators; otherwise only the
        caller's own groups (and groups named in its scopes), so the cost of a request
        does not grow with the number of teams in the deployment."""
        caller = self.caller
        if caller.is_operator:
            groups = await self.hub.groups()
        else:
            user = await self.hub.user(caller.name) or {}
            names = sorted(set(user.get("groups") or ()) | caller.filtered_teams())
            groups = [g for g in await asyncio.gather(*map(self.hub.group, names)) if g]
        teams = [Team.from_group(g, self.settings["membership_source"]) for g in portal_groups(groups)]
        return [team for team in teams if caller.may(READ, team)]

    async def get_team(self, name: str) -> Team:
        """The team, or 404 (also for existing teams the caller may not read)."""
        caller = self.caller
        group = await self.hub.group(name) if caller and is_team_name(name) else None
        team = Team.from_group(group, self.settings.get("membership_source", "portal")) if group else None
        if team is None or not caller.may(READ, team):
            raise web.HTTPError(404, f"no team {name[:100]!r}")
        storage = self.settings.get("team_storage")
        if storage is not None:  # a group made on the hub's admin page: its bucket and keys at first use
            await storage.ensure(name)
        return team

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if status_code == 405:  # RFC 9110: a 405 names the methods the resource has
            self.set_header("Allow", ", ".join(allowed_methods(type(self))))
        elif status_code == 401:  # RFC 9110: a 401 carries a challenge
            self.set_header("WWW-Authenticate", 'Bearer realm="aiportal"')
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args  # tornado stores a message without args with '%' doubled
        else:
            message = responses.get(status_code, "error")
        if isinstance(exc, HubError):
            message = exc.message
        elif isinstance(exc, GitLabError):
            status_code, message = exc.status, exc.message
            self.set_status(status_code)
        elif isinstance(exc, NamespaceError):  # the cluster refused or is away: the team is unchanged there
            status_code, message = 503, f"{exc}; try again later or ask an operator"
            self.set_status(status_code)
        self.error_field = getattr(exc, "field", None)  # the input at fault, where the error names one
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

    No or an unknown token is 401 with a `WWW-Authenticate` challenge; 403 means a known
    caller who may not do this. HubOAuth accepts the cookie on non-GET requests only with
    a valid XSRF token (X-XSRFToken header), so cross-site forms cannot act for a user.
    """

    async def prepare(self):
        await super().prepare()
        if self.current_user is None:
            raise web.HTTPError(401, "authentication required: send 'Authorization: token <hub token>'")

    def get_json_body(self):
        """The request body as JSON. NaN and Infinity are not JSON (browsers cannot read
        them back), so they are refused like any other malformed body."""
        if not self.request.body:
            raise web.HTTPError(400, "request body must be a JSON object")
        try:
            return json.loads(self.request.body, parse_constant=_refuse_constant)
        except ValueError as e:
            raise web.HTTPError(400, f"request body is not valid JSON: {str(e)[:200]}") from None

    def json_object(self) -> dict:
        body = self.get_json_body()
        if not isinstance(body, dict):
            raise web.HTTPError(400, "request body must be a JSON object")
        return body

    def query(self, name: str, default: str | None = None) -> str:
        """A query argument exactly as sent. Tornado's get_argument strips it and turns
        control characters into spaces, so a refused key could name another object."""
        values = self.request.query_arguments.get(name)
        if not values:
            if default is None:
                raise web.MissingArgumentError(name)
            return default
        return self.decode_argument(values[-1], name)

    def whole_number(self, name: str, default: int, low: int, high: int) -> int:
        """An integer query argument within [low, high], else a 400 saying so."""
        text = self.query(name, str(default))
        if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
            raise web.HTTPError(400, f"{name}: must be a whole number from {low} to {high}")
        return int(text)

    def page_args(self) -> tuple[int, int]:
        """`offset` and `limit` of a paginated list, as the hub's API takes them."""
        return (self.whole_number("offset", 0, 0, MAX_OFFSET),
                self.whole_number("limit", DEFAULT_PAGE, 1, MAX_PAGE))

    def write_page(self, items: list, offset: int, limit: int, total: int) -> None:
        """One page in the hub's own paginated form: items, and `_pagination` with the
        total and a `next` link (None on the last page)."""
        following = None
        if offset + limit < total:
            query = {k: v[-1] for k, v in self.request.query_arguments.items()}
            query.update(offset=offset + limit, limit=limit)
            following = {"offset": offset + limit, "limit": limit,
                         "url": f"{self.request.path}?{urlencode(query)}"}
        self.write_json({"items": items, "_pagination": {"offset": offset, "limit": limit,
                                                         "total": total, "next": following}})

    def write_json(self, data, status: int = 200):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def render_error(self, status_code, message):
        self.set_header("Content-Type", "application/json")
        field = getattr(self, "error_field", None)
        self.finish(json.dumps({"status": status_code, "message": message, **({"field": field} if field else {})}))


def field_error(error) -> web.HTTPError:
    """A 400 whose JSON names the input at fault (`field`) beside the message, for an error
    that carries one (a launch's LaunchError, a job's SpecError)."""
    http = web.HTTPError(400, "%s", str(error))
    http.field = error.field
    return http


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def allowed_methods(cls) -> list[str]:
    """The HTTP methods a handler class implements."""
    return [m for m in cls.SUPPORTED_METHODS
            if getattr(cls, m.lower()) is not getattr(web.RequestHandler, m.lower())]


class NoSuchEndpointHandler(APIHandler):
    """Unknown paths under /api/v1 answer in JSON like the rest of the API (and before any login)."""

    def prepare(self):
        raise web.HTTPError(404, f"no API endpoint {self.request.method} {self.request.path}")


def team_scope(scope: str):
    """Require `scope` (READ, ADMIN, PROMOTE or OPERATOR) on the team named by the first URL argument.

    Callers who cannot even read the team get 404, so a team's existence does not leak.
    """

    def decorator(method):
        @functools.wraps(method)
        async def wrapper(self, team, *args, **kwargs):
            self.team = await self.get_team(team)
            require(self.caller, scope, self.team)
            return await method(self, team, *args, **kwargs)

        wrapper.required_scope = scope
        return wrapper

    return decorator


def operator_scope(method):
    """Require an operator: a page or call about every team at once."""

    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        if not self.caller.is_operator:
            raise web.HTTPError(403, "this is for operators")
        return await method(self, *args, **kwargs)

    wrapper.required_scope = OPERATOR
    return wrapper


def require(caller, scope: str, team: Team, what: str = "") -> None:
    """403 unless `caller` holds `scope` on `team`, saying who may."""
    if not caller.may(scope, team):
        who = {OPERATOR: "an operator",
               PROMOTE: f"a promoter of team {team.name!r} (its {team.promotion['promoters']})"}.get(
            scope, f"{scope} on team {team.name!r}")
        raise web.HTTPError(403, f"{what or 'this'} requires {who}")
