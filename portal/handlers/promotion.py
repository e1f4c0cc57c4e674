"""Promotion API and page: a team's GitLab projects, promoting a commit to a version, and
following each promotion (``/api/v1/teams/<team>/promotions``, ``/teams/<team>/promotions``)."""

from __future__ import annotations

from tornado import web

from ..promotion.desk import PromotionDesk, PromotionError
from ..rbac import PROMOTE, READ
from .base import APIHandler, team_scope
from .pages import PageHandler


class PromotionAPIHandler(APIHandler):
    @property
    def desk(self) -> PromotionDesk:
        desk = self.settings.get("promotion")
        if desk is None:
            raise web.HTTPError(404, "promotion is off: no GitLab is configured (gitlab.url in portal.yaml)")
        return desk

    @property
    def group(self) -> str:
        group = self.team.promotion["gitlab_group"]
        if not group:
            raise web.HTTPError(409, f"team {self.team.name} has no GitLab group: an operator sets its gitlab_group")
        return group

    def project_id(self, text: str) -> int:
        if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
            raise web.HTTPError(404, f"no project {text[:40]!r}")
        return int(text)

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, PromotionError):
            self.set_status(exc.status)
            body = {"status": exc.status, "message": exc.message, **(exc.existing or {})}
            self.set_header("Content-Type", "application/json")
            self.finish(body)
            return
        super().write_error(status_code, **kwargs)


class ProjectsHandler(PromotionAPIHandler):
    @team_scope(READ)
    async def get(self, team):
        desk, group = self.desk, self.group
        projects = await desk.projects(self.caller.name, group)
        self.write_json({"items": projects, "gitlab_group": group,
                         "may_promote": self.caller.may(PROMOTE, self.team)})


class ProjectHandler(PromotionAPIHandler):
    @team_scope(READ)
    async def get(self, team, project_id):
        desk, group = self.desk, self.group
        ref = self.query("ref", "") or None
        found = await desk.project(self.caller.name, team, group, self.project_id(project_id), ref)
        profiles = self.portal_config.profiles
        self.write_json({**found, "may_promote": self.caller.may(PROMOTE, self.team),
                         "prod_profiles": [name for name in self.team.properties.get("profiles") or []
                                           if name in profiles and profiles[name].mode == "prod"]})


class SetupHandler(PromotionAPIHandler):
    @team_scope(PROMOTE)
    async def post(self, team, project_id):
        mr = await self.desk.set_up(self.caller.name, self.team, self.project_id(project_id))
        self.write_json(mr, 201 if mr["created"] else 200)


class PromotionsHandler(PromotionAPIHandler):
    @team_scope(READ)
    async def get(self, team):
        desk = self.desk
        offset, limit = self.page_args()
        project = self.query("project_id", "")
        items, total = desk.promotions.page(team, self.project_id(project) if project else None, offset, limit)
        self.write_page(items, offset, limit, total)

    @team_scope(PROMOTE)
    async def post(self, team):
        desk = self.desk
        record = await desk.promote(self.caller.name, self.team, self.json_object())
        self.set_header("Location", f"{self.request.path}/{record['id']}")
        self.write_json(record, 202)


class PromotionHandler(PromotionAPIHandler):
    @team_scope(READ)
    async def get(self, team, promotion_id):
        number = int(promotion_id) if promotion_id.isascii() and promotion_id.isdigit() and len(promotion_id) < 10 \
            else 0
        record = self.desk.promotions.get(team, number) if number else None
        if record is None:
            raise web.HTTPError(404, f"no promotion {promotion_id[:40]!r} in team {team}")
        self.write_json(record)


class PromotionPageHandler(PageHandler):
    @web.authenticated
    @team_scope(READ)
    async def get(self, team):
        self.render_page("promotions.html", team=self.team, enabled=self.settings.get("promotion") is not None,
                         may_promote=self.caller.may(PROMOTE, self.team))


TEAM = r"(?P<team>[^/]+)"
default_handlers = [
    (rf"/api/v1/teams/{TEAM}/projects", ProjectsHandler),
    (rf"/api/v1/teams/{TEAM}/projects/(?P<project_id>[^/]+)", ProjectHandler),
    (rf"/api/v1/teams/{TEAM}/projects/(?P<project_id>[^/]+)/setup", SetupHandler),
    (rf"/api/v1/teams/{TEAM}/promotions", PromotionsHandler),
    (rf"/api/v1/teams/{TEAM}/promotions/(?P<promotion_id>[^/]+)", PromotionHandler),
    (rf"/teams/{TEAM}/promotions/?", PromotionPageHandler),
]
