"""The portal's custom scopes and the hub roles derived from portal.yaml.

Team admins get `custom:portal:admin!group=<team>` (plus hub `groups!group=<team>` so
they can use the hub API for their own team only). Plain membership in the group grants
read access; hub admins hold the unfiltered scopes through the operator role.
"""

from __future__ import annotations

from jupyterhub.services.auth import check_scopes

from .config import PortalConfig

READ = "custom:portal:read"
ADMIN = "custom:portal:admin"

CUSTOM_SCOPES = {
    READ: {"description": "See a team's page, members, quotas and data."},
    ADMIN: {"description": "Manage a team's settings and members.", "subscopes": [READ]},
}

SERVICE_SCOPES = [
    "admin:users", "admin:groups", "groups", "list:users", "read:users", "list:groups",
    "read:groups", "read:roles", "admin:servers", "read:hub",
]


def admin_role_name(team: str) -> str:
    return f"team-admin-{team}"


def hub_roles(config: PortalConfig, service: str = "portal") -> list[dict]:
    """`load_roles` entries: default user role, operators, one admin role per team."""
    roles = [
        {"name": "user", "description": "Default role, plus access to the portal service",
         "scopes": ["self", "access:services"]},
        {"name": "portal-operator", "description": "Platform operators: every team",
         "scopes": [READ, ADMIN], "users": list(config.admin_users)},
        {"name": "portal-service", "description": "The portal service's own token",
         "scopes": SERVICE_SCOPES, "services": [service]},
    ]
    for team in config.teams.values():
        roles.append({
            "name": admin_role_name(team.name),
            "description": f"Admins of team {team.name}",
            "scopes": [f"{ADMIN}!group={team.name}", f"groups!group={team.name}",
                       f"read:groups!group={team.name}", f"list:users!group={team.name}"],
            "users": list(team.admins),
        })
    return roles


class Caller:
    """What the authenticated hub user model allows, per team.

    Membership is read from the live group (`members`), not from the user model, which
    HubAuth caches for minutes: a removed member loses access at once.
    """

    def __init__(self, model: dict):
        self.model = model
        self.name: str = model["name"]
        self.scopes = set(model.get("scopes", ()))

    @property
    def is_operator(self) -> bool:
        return ADMIN in self.scopes or bool(self.model.get("admin"))

    def can(self, scope: str, team: str, members=()) -> bool:
        """Membership grants READ; anything else needs the scope for that group."""
        if self.is_operator or (scope == READ and self.name in members):
            return True
        return bool(check_scopes({f"{scope}!group={team}"}, self.scopes))
