"""HTML pages: the user's teams and one page per team, inside JupyterHub's page template."""

from __future__ import annotations

from tornado import web

from ..rbac import ADMIN, READ
from .base import BaseHandler, team_scope


class PageHandler(BaseHandler):
    def render_page(self, template: str, **ns):
        self.finish(self.settings["render"](self, template, **ns))


class HomeHandler(PageHandler):
    @web.authenticated
    async def get(self):
        self.render_page("home.html", teams=await self.readable_teams(), caller=self.caller)


class TeamPageHandler(PageHandler):
    @web.authenticated
    @team_scope(READ)
    async def get(self, team):
        self.render_page("team.html", team=self.team,
                         can_admin=self.caller.can(ADMIN, team),
                         gitlab_group_url=self.settings.get("gitlab_group_url", "").format(team=team))


default_handlers = [
    (r"/?", HomeHandler),
    (r"/teams/(?P<team>[^/]+)/?", TeamPageHandler),
]


class NotFoundPageHandler(BaseHandler):
    """Any path no route matches: the portal's own error page, not tornado's bare one."""

    def prepare(self):
        raise web.HTTPError(404, f"no page at {self.request.path}")
