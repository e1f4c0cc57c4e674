"""Teams API: list, read, rename or set limits, manage members."""

from __future__ import annotations

from tornado import web

from ..names import is_user_name
from ..rbac import ADMIN, READ
from ..teams import PATCH_RULES, Team, TeamError, apply_patch, validate_patch
from .base import APIHandler, require, team_scope


class TeamsHandler(APIHandler):
    async def get(self):
        offset, limit = self.page_args()
        teams = sorted(await self.readable_teams(), key=lambda t: t.name)
        self.write_page([t.as_json() for t in teams[offset:offset + limit]], offset, limit, len(teams))


class TeamHandler(APIHandler):
    @team_scope(READ)
    async def get(self, team):
        self.write_json(self.team.as_json())

    @team_scope(ADMIN)
    async def patch(self, team):
        try:
            changes = validate_patch(self.get_json_body(), self.portal_config.profiles)
        except TeamError as e:
            raise web.HTTPError(400, str(e)) from None
        for field in changes:
            require(self.caller, PATCH_RULES[field], self.team, f"changing {field}")
        properties = apply_patch(self.team.properties, changes)
        await self.hub.set_group_properties(team, properties)
        self.team.properties = properties
        self.write_json(self.team.as_json())


class MemberHandler(APIHandler):
    def check_member_change(self, user: str):
        if self.settings["membership_source"] != "portal":
            raise web.HTTPError(409, f"membership of team {self.team.name!r} is managed in "
                                f"{self.settings['membership_source']}: change it there")
        if not is_user_name(user):
            raise web.HTTPError(400, f"user: {user[:100]!r} is not a valid user name")

    @team_scope(ADMIN)
    async def put(self, team, user):
        self.check_member_change(user)
        if await self.hub.user(user) is None:
            raise web.HTTPError(404, f"user {user!r} does not exist: they must sign up first")
        group = await self.hub.add_group_users(team, [user])
        self.write_json(Team.from_group(group, self.team.membership_source).as_json())

    @team_scope(ADMIN)
    async def delete(self, team, user):
        self.check_member_change(user)
        if user not in self.team.members:
            raise web.HTTPError(404, f"user {user!r} is not a member of team {team!r}")
        group = await self.hub.remove_group_users(team, [user])
        self.write_json(Team.from_group(group, self.team.membership_source).as_json())


TEAM = r"(?P<team>[^/]+)"
default_handlers = [
    (r"/api/v1/teams", TeamsHandler),
    (rf"/api/v1/teams/{TEAM}", TeamHandler),
    (rf"/api/v1/teams/{TEAM}/members/(?P<user>[^/]+)", MemberHandler),
]
