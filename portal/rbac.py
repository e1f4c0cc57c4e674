"""Who may change what: the portal's custom scopes and the hub roles derived from portal.yaml.

- operator: the unfiltered `custom:portal:admin` (role portal-operator: the hub admins);
  may do everything, including a team's limits (quotas, profiles, delete policy).
- team admin: `custom:portal:admin!group=<team>` (role team-admin-<team>, from portal.yaml),
  or named in the team's `admins` property (operators change it at run time: the hub 6.1
  has no REST API for roles); may change the team's members and display name, nothing
  that raises its own limits, nor who else is an admin.
- member: membership of the group; may use the team (read it, its data, its servers), and
  promote its code when the team's `promoters` is "members" (else only its admins may).

Team-admin roles carry no hub write scope: a hub `groups!group=<team>` scope would let its
holder rewrite the group's properties (quotas, profiles) through the hub's own API. The
portal service, with its own token, is the only writer of group properties. Operator status
is read from the scopes of the token in use, never from the user model's `admin` flag, so a
hub admin's token made with fewer scopes acts with those scopes only.
"""

from __future__ import annotations

from jupyterhub.services.auth import check_scopes

from .config import PortalConfig

READ = "custom:portal:read"
ADMIN = "custom:portal:admin"
OPERATOR = "operator"  # the unfiltered ADMIN scope; a marker for rules, not a hub scope
PROMOTE = "promote"  # ADMIN or READ, as the team's `promoters` says; a marker, not a hub scope

CUSTOM_SCOPES = {
    READ: {"description": "See a team's page, members, quotas and data."},
    ADMIN: {"description": "Manage a team's members and display name; unfiltered: every team "
                           "and its limits (operators).", "subscopes": [READ]},
}

SERVICE_SCOPES = [
    "admin:users", "admin:groups", "groups", "list:users", "read:users", "list:groups",
    "read:groups", "read:roles", "admin:servers", "read:hub",
]


SCRAPER = "prometheus"  # the hub service whose token (AIPORTAL_METRICS_TOKEN) Prometheus scrapes with


def scraper_role() -> dict:
    """Prometheus reads the hub's metrics and nothing else."""
    return {"name": "metrics-scraper", "description": "Prometheus: the hub's /hub/metrics",
            "scopes": ["read:metrics"], "services": [SCRAPER]}


def acts_as_user(config: PortalConfig) -> bool:
    """Promotion acts with each user's GitLab token, which the service reads from auth_state."""
    return (config.raw.get("gitlab") or {}).get("acts_as") == "user"


def admin_role_name(team: str) -> str:
    return f"team-admin-{team}"


def team_admin_scopes(team: str) -> list[str]:
    """A team admin's scopes: the portal's admin scope for the team, read-only hub scopes."""
    return [f"{ADMIN}!group={team}", f"read:groups!group={team}", f"list:users!group={team}"]


def hub_roles(config: PortalConfig, service: str = "portal") -> list[dict]:
    """`load_roles` entries: default user role, operators, one admin role per team."""
    roles = [
        {"name": "user", "description": "Default role, plus access to the portal service",
         "scopes": ["self", "access:services"]},
        {"name": "portal-operator", "description": "Platform operators: every team",
         "scopes": [READ, ADMIN, "read:metrics"], "users": list(config.admin_users)},
        {"name": "portal-service", "description": "The portal service's own token",
         "scopes": SERVICE_SCOPES + (["admin:auth_state"] if acts_as_user(config) else []), "services": [service]},
    ]
    for team in config.teams.values():
        roles.append({"name": admin_role_name(team.name), "description": f"Admins of team {team.name}",
                      "scopes": team_admin_scopes(team.name), "users": list(team.admins)})
    return roles


class Caller:
    """What the authenticated hub user model (its token's scopes) allows, per team.

    Membership is read from the live group (`members`), not from the user model, which
    HubAuth caches for minutes: a removed member loses access at once.
    """

    def __init__(self, model: dict):
        self.model = model
        self.name: str = model["name"]
        self.scopes = set(model.get("scopes", ()))

    @property
    def is_operator(self) -> bool:
        return ADMIN in self.scopes

    def can(self, scope: str, team: str, members=(), admins=()) -> bool:
        """OPERATOR needs the unfiltered admin scope; membership grants READ; being named
        in the team's `admins` property (written only by the portal service, at an
        operator's request or from portal.yaml) grants ADMIN and READ; otherwise the scope
        must be held for that group."""
        if self.is_operator:
            return True
        if scope == OPERATOR:
            return False
        if scope == READ and self.name in members:
            return True
        if scope in (READ, ADMIN) and self.name in admins:
            return True
        return bool(check_scopes({f"{scope}!group={team}"}, self.scopes))

    def may(self, scope: str, team) -> bool:
        """`can` on a portal.teams.Team: its live members and `admins` property count."""
        if scope == PROMOTE:
            scope = READ if team.promotion["promoters"] == "members" else ADMIN
        return self.can(scope, team.name, team.members, team.admins)

    def filtered_teams(self) -> set[str]:
        """Teams named in the caller's group-filtered portal scopes."""
        return {s.split("!group=", 1)[1] for s in self.scopes
                if s.startswith((READ + "!group=", ADMIN + "!group="))}
