"""The operators' overview: what each team uses of the limits they set.

A team's servers are the hub's active ones (starting, running or stopping) whose user
chose that team (`user_options`); a server holds what its profile asks for, GPUs, CPUs and
memory, as the spawner reserves it against the quota. Storage is the usage cache's last
count of the team's bucket. Pure functions over hub models, so they are tested with dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .teams import Team


@dataclass
class TeamUse:
    """One team's use: servers, what they hold, and bytes stored (None until first counted)."""

    team: Team
    servers: int = 0
    gpus: int = 0
    cpu: float = 0
    memory: int = 0
    storage: int | None = None

    def over(self, resource: str) -> bool:
        """Uses more than its quota of `resource` (possible after an operator lowered it)."""
        used, limit = getattr(self, resource), self.team.quota.get(resource)
        return limit is not None and used is not None and used > limit


def overview(teams: Iterable[Team], users: Iterable[dict], profiles: Mapping,
             stored: Mapping[str, int]) -> list[TeamUse]:
    """Every team's use, in the order of `teams`.

    `users` are hub user models with their active `servers`; `profiles` the declared ones
    by name (a server of a profile no longer declared counts, holding nothing known);
    `stored` the bytes each counted team stores.
    """
    uses = {team.name: TeamUse(team, storage=stored.get(team.name)) for team in teams}
    for user in users:
        for server in (user.get("servers") or {}).values():
            options = server.get("user_options") or {}
            use = uses.get(options.get("team"))
            if use is None:
                continue
            use.servers += 1
            profile = profiles.get(options.get("profile"))
            if profile is not None:
                use.gpus += profile.gpus
                use.cpu = round(use.cpu + profile.cpu, 3)  # 0.1 + 0.2 CPUs show as 0.3
                use.memory += profile.memory
    return list(uses.values())


def team_servers(team: str, users: Iterable[dict]) -> list[str]:
    """The active servers of `team` ("user" or "user/server"), from hub user models."""
    found = []
    for user in users:
        for server_name, server in (user.get("servers") or {}).items():
            if (server.get("user_options") or {}).get("team") == team:
                found.append(f"{user['name']}/{server_name}" if server_name else user["name"])
    return sorted(found)
