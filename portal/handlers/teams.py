"""Teams API: list, create, read, rename or set limits, delete, manage members and admins."""

from __future__ import annotations

import asyncio

from tornado import web

from spawners.gpus import inventory

from ..hub import HubError
from ..names import is_user_name
from ..overview import team_servers
from ..rbac import ADMIN, OPERATOR, READ
from ..signups import APPROVED, PENDING
from ..team_storage import provision
from ..teams import PATCH_RULES, Team, TeamError, apply_patch, gpu_quota_problem, validate_create, validate_patch
from .base import APIHandler, require, team_scope


async def machine_gpus(handler) -> int:
    """How many GPUs the machine has: portal.yaml's `gpus`, else nvidia-smi's (asked once)."""
    if "gpus" not in handler.settings:
        handler.settings["gpus"] = await asyncio.to_thread(inventory, handler.portal_config.gpus)
    return len(handler.settings["gpus"])


class TeamLimits:
    """What a handler that sets limits needs: the GPU rule (teams.gpu_quota_problem)."""

    async def check_gpus(self, changes: dict) -> str | None:
        """400 for a GPU quota above a fixed inventory; the warning where it is not fixed."""
        problem, refused = gpu_quota_problem(changes, await machine_gpus(self),
                                             self.portal_config.spawner_backend)
        if refused:
            raise web.HTTPError(400, problem)
        return problem


class TeamsHandler(TeamLimits, APIHandler):
    async def get(self):
        offset, limit = self.page_args()
        teams = sorted(await self.readable_teams(), key=lambda t: t.name)
        self.write_page([t.as_json() for t in teams[offset:offset + limit]], offset, limit, len(teams))

    async def post(self):
        """Create a team (operators): hub group, properties, bucket and keys, then its admins."""
        if not self.caller.is_operator:
            raise web.HTTPError(403, "creating a team requires an operator")
        try:
            name, properties, admins = validate_create(self.get_json_body(), self.portal_config.profiles)
        except TeamError as e:
            raise web.HTTPError(400, str(e)) from None
        warning = await self.check_gpus(properties)
        if await self.hub.group(name) is not None:
            raise web.HTTPError(409, f"team {name!r} already exists")
        for user in admins:  # every admin must be able to sign in before anything is made
            await ensure_user(self, user)
        try:
            await self.hub.create_group(name)
        except HubError as e:
            if e.status == 409:
                raise web.HTTPError(409, f"team {name!r} already exists") from None
            raise
        await self.hub.set_group_properties(name, properties)
        if admins:
            await self.hub.add_group_users(name, admins)
        await provision(self.settings, name, properties)
        team = Team.from_group(await self.hub.group(name), self.settings["membership_source"])
        self.write_json({**team.as_json(), **({"warning": warning} if warning else {})}, status=201)


class TeamHandler(TeamLimits, APIHandler):
    @team_scope(READ)
    async def get(self, team):
        """The team; on Kubernetes also what its namespace's quota counts as in use."""
        namespaces = self.settings.get("namespaces")
        used = {"quota_used": await namespaces.used(team)} if namespaces is not None else {}
        self.write_json({**self.team.as_json(), **used})

    @team_scope(ADMIN)
    async def patch(self, team):
        try:
            changes = validate_patch(self.get_json_body(), self.portal_config.profiles)
        except TeamError as e:
            raise web.HTTPError(400, str(e)) from None
        for field in changes:
            require(self.caller, PATCH_RULES[field], self.team, f"changing {field}")
        warning = await self.check_gpus(changes)
        properties = apply_patch(self.team.properties, changes)
        await self.hub.set_group_properties(team, properties)
        await provision(self.settings, team, properties)
        self.team.properties = properties
        self.write_json({**self.team.as_json(), **({"warning": warning} if warning else {})})

    @team_scope(OPERATOR)
    async def delete(self, team):
        """Delete a team (operators): refused while it has servers; the bucket is kept unless
        ?delete_data=true. Its keys are replaced either way, so copies of them stop working."""
        delete_data = self.query("delete_data", "false")
        if delete_data not in ("true", "false"):
            raise web.HTTPError(400, "delete_data: must be true or false")
        if team in self.portal_config.teams:
            raise web.HTTPError(409, f"team {team!r} is declared in portal.yaml, which would make it "
                                f"again at the next start: remove it there first")
        running = team_servers(team, await self.hub.active_users())
        if running:
            raise web.HTTPError(409, f"team {team!r} has {len(running)} active server(s): "
                                f"{', '.join(running[:20])}; stop them first")
        await self.hub.delete_group(team)
        deleted = await self.settings["team_storage"].retire(team, delete_data == "true")
        if self.settings.get("namespaces") is not None:
            await self.settings["namespaces"].retire(team, delete_data == "true")
        self.write_json({"name": team, "deleted": True, "data_deleted": delete_data == "true",
                         "objects_deleted": deleted})


async def ensure_user(handler, user: str) -> None:
    """The hub user `user`, created if they signed up and were approved but never logged in.

    404 "no such user" for a name nobody signed up with; 409 for a sign-up not approved yet.
    """
    if not is_user_name(user):
        raise web.HTTPError(400, f"user: {user[:100]!r} is not a valid user name")
    if await handler.hub.user(user) is not None:
        return
    signups = handler.settings.get("signups")
    status = await signups.status(user) if signups is not None else None
    authorize = f"{handler.hub_auth.hub_prefix}authorize"
    if status == APPROVED:
        await handler.hub.ensure_users([user])
    elif status == PENDING:
        raise web.HTTPError(409, f"user {user!r} signed up but is not approved yet: approve them at {authorize}")
    else:
        where = f": pending sign-ups are at {authorize}" if signups is not None else ""
        raise web.HTTPError(404, f"no such user {user!r}{where}")


class MemberHandler(APIHandler):
    def check_member_change(self, user: str):
        if self.settings["membership_source"] != "portal":
            raise web.HTTPError(409, f"membership of team {self.team.name!r} is managed in "
                                f"{self.settings['membership_source']}: change it there")
        if not is_user_name(user):
            raise web.HTTPError(400, f"user: {user[:100]!r} is not a valid user name")

    def admin_change(self) -> bool | None:
        """The optional body's `admin` (True: make an admin, False: unmake), or None."""
        if not self.request.body:
            return None
        body = self.json_object()
        unknown = sorted(set(body) - {"admin"})
        if unknown:
            raise web.HTTPError(400, f"body: unknown field {unknown[0][:100]!r} (only 'admin')")
        if "admin" in body and not isinstance(body["admin"], bool):
            raise web.HTTPError(400, "admin: must be true or false")
        return body.get("admin")

    async def set_admin(self, team: str, user: str, admin: bool) -> None:
        admins = set(self.team.admins)
        if not admin and user in admins:
            model = await self.hub.user(user) or {}
            if f"team-admin-{team}" in (model.get("roles") or ()):
                raise web.HTTPError(409, f"{user!r} is an admin of team {team!r} through portal.yaml "
                                    f"(teams[].admins): remove them there")
        wanted = sorted(admins | {user} if admin else admins - {user})
        if wanted != self.team.admins:
            self.team.properties = {**self.team.properties, "admins": wanted}
            await self.hub.set_group_properties(team, self.team.properties)

    @team_scope(ADMIN)
    async def put(self, team, user):
        """Add a member; with {"admin": true|false} (operators only) make or unmake an admin."""
        admin = self.admin_change()
        if admin is not None:
            require(self.caller, OPERATOR, self.team, "making or unmaking a team admin")
        self.check_member_change(user)
        await ensure_user(self, user)
        group = await self.hub.add_group_users(team, [user])
        if admin is not None:
            await self.set_admin(team, user, admin)
            group["properties"] = self.team.properties
        self.write_json(Team.from_group(group, self.team.membership_source).as_json())

    @team_scope(ADMIN)
    async def delete(self, team, user):
        self.check_member_change(user)
        if user not in self.team.members:
            raise web.HTTPError(404, f"user {user!r} is not a member of team {team!r}")
        if user in self.team.admins:
            require(self.caller, OPERATOR, self.team, "removing a team admin")
            await self.set_admin(team, user, False)
        group = await self.hub.remove_group_users(team, [user])
        group["properties"] = self.team.properties
        self.write_json(Team.from_group(group, self.team.membership_source).as_json())


TEAM = r"(?P<team>[^/]+)"
default_handlers = [
    (r"/api/v1/teams", TeamsHandler),
    (rf"/api/v1/teams/{TEAM}", TeamHandler),
    (rf"/api/v1/teams/{TEAM}/members/(?P<user>[^/]+)", MemberHandler),
]
