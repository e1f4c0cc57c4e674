"""Teams API: list, read, update settings, manage members."""

from __future__ import annotations

import re

from tornado import web

from ..rbac import ADMIN, READ
from ..teams import Team, TeamError, apply_patch, validate_patch
from .base import APIHandler, team_scope

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,254}$")


class TeamsHandler(APIHandler):
    async def get(self):
        self.write_json({"items": [t.as_json() for t in await self.readable_teams()]})


class TeamHandler(APIHandler):
    @team_scope(READ)
    async def get(self, team):
        self.write_json(self.team.as_json())

    @team_scope(ADMIN)
    async def patch(self, team):
        try:
            changes = validate_patch(self.get_json_body())
        except TeamError as e:
            raise web.HTTPError(400, str(e)) from None
        properties = apply_patch(self.team.properties, changes)
        await self.hub.set_group_properties(team, properties)
        self.team.properties = properties
        self.write_json(self.team.as_json())


class MemberHandler(APIHandler):
    def check_member_change(self, user: str):
        if self.settings["membership_source"] != "portal":
            raise web.HTTPError(409, f"membership of team {self.team.name!r} is managed in "
                                f"{self.settings['membership_source']}: change it there")
        if not USERNAME.match(user):
            raise web.HTTPError(400, f"user: {user!r} is not a valid user name")

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
