"""HTML pages inside JupyterHub's page template: the user's teams, one page per team,
and the operators' overview of every team."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime

from tornado import web

from .. import culling
from ..overview import overview
from ..rbac import ADMIN, READ
from .base import BaseHandler, operator_scope, team_scope
from .teams import machine_gpus


class PageHandler(BaseHandler):
    def render_page(self, template: str, **ns):
        self.finish(self.settings["render"](self, template, **ns))


class HomeHandler(PageHandler):
    @web.authenticated
    async def get(self):
        signups = self.settings.get("signups")
        pending = await signups.pending() if signups is not None and self.caller.is_operator else []
        teams, user = await asyncio.gather(self.readable_teams(), self.hub.user(self.caller.name))
        self.render_page("home.html", teams=teams, caller=self.caller, pending_signups=pending,
                         servers=server_cards(user or {}, self.portal_config.profiles, datetime.now(UTC)))


def server_cards(user: dict, profiles: Mapping, now: datetime) -> list[dict]:
    """The cards of a hub user model's active servers: name, link, team, profile, state, and
    the time left before the idle culler stops it (None where it never does)."""
    idle_limits = culling.limits(profiles)
    cards = []
    for name, server in sorted((user.get("servers") or {}).items()):
        options = server.get("user_options") or {}
        profile = profiles.get(str(options.get("profile")))
        cards.append({"name": name, "url": server["url"], "team": options.get("team"),
                      "profile": profile.display_name if profile else options.get("profile"),
                      "state": "running" if server.get("ready") else "stopping" if server.get("pending") == "stop"
                      else "starting",
                      "idle": culling.time_left_note(server, idle_limits, now)})
    return cards


class TeamPageHandler(PageHandler):
    @web.authenticated
    @team_scope(READ)
    async def get(self, team):
        namespaces = self.settings.get("namespaces")
        self.render_page("team.html", team=self.team, profiles=self.portal_config.profiles,
                         in_use=await namespaces.used(team) if namespaces is not None else {},
                         can_admin=self.caller.may(ADMIN, self.team),
                         jobs_on=self.settings.get("job_runner") is not None,
                         gitlab_group_url=self.settings.get("gitlab_group_url", "").format(team=team))


class OverviewHandler(PageHandler):
    """Every team's use against its limits; operators edit the limits here."""

    @web.authenticated
    @operator_scope
    async def get(self):
        teams = sorted(await self.readable_teams(), key=lambda t: t.name)
        users = await self.hub.active_users()
        cache = self.settings["usage"]
        stored = {t.name: usage.bytes for t in teams if (usage := cache.get(t.name))}
        self.render_page("overview.html", uses=overview(teams, users, self.portal_config.profiles, stored),
                         profiles=self.portal_config.profiles, declared=set(self.portal_config.teams),
                         gpu_inventory=await machine_gpus(self))


default_handlers = [
    (r"/?", HomeHandler),
    (r"/teams/?", OverviewHandler),
    (r"/teams/(?P<team>[^/]+)/?", TeamPageHandler),
]


class NotFoundPageHandler(BaseHandler):
    """Any path no route matches: the portal's own error page, not tornado's bare one."""

    def prepare(self):
        raise web.HTTPError(404, f"no page at {self.request.path}")
