"""Idle culling: a server's idle limit is its app's `idle_timeout` (an app session), else its
profile's.

jupyterhub-idle-culler runs as a hub-managed service with one `--timeout` for every server,
but asks its `cull_arbiter_hook` about each server; `arbiter` answers from the profile named
in the server's `user_options` (part of the hub's server model), so one culler enforces
every profile's limit (hub_config/idle_culler_config.py installs it). A server without a
limit (its profile's is 0, culling is off, the profile is no longer declared or none is
named) is never culled. The home page's time left comes from the same `limit_of`, so a limit
the portal shows is the one the culler enforces.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

SERVICE = "idle-culler"
#: The scopes the culler's README lists for stopping servers (no admin:users: users are never culled).
SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
LIMITS_ENV = "AIPORTAL_IDLE_TIMEOUTS"  # profile → seconds, handed by the hub to the culler


def limits(profiles: Mapping, apps: Mapping | None = None) -> dict[str, int]:
    """Profile name (and `app:ID`) → idle limit in seconds, for the profiles (config.Profile)
    and apps (portal.apps.App) that have one."""
    return ({name: p.idle_timeout for name, p in profiles.items() if p.idle_timeout}
            | {f"app:{app_id}": app.idle_timeout for app_id, app in (apps or {}).items() if app.idle_timeout})


def limits_from_env(env: Mapping[str, str]) -> dict[str, int]:
    return json.loads(env.get(LIMITS_ENV) or "{}")


def limit_of(server: dict, idle_limits: Mapping[str, int]) -> int | None:
    """The idle limit of a hub server model, None for a server that is never culled."""
    options = server.get("user_options") or {}
    app, profile = options.get("app"), options.get("profile")
    limit = idle_limits.get(f"app:{app}") if isinstance(app, str) else None
    return limit or (idle_limits.get(profile) if isinstance(profile, str) else None)


def arbiter(idle_limits: Mapping[str, int]) -> Callable[..., bool]:
    """jupyterhub-idle-culler's `cull_arbiter_hook`: cull once idle for the profile's limit
    (the culler's own `inactive_limit`, its single --timeout, is not used)."""

    def cull(*, inactive: timedelta, server: dict, **_) -> bool:
        limit = limit_of(server, idle_limits)
        return limit is not None and inactive.total_seconds() >= limit

    return cull


def human(seconds: float) -> str:
    """30 → '30 s', 1500 → '25 min', 5400 → '1 h 30 min'."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def time_left_note(server: dict, idle_limits: Mapping[str, int], now: datetime) -> str | None:
    """'Culled after 30 min idle; about 12 min left' for a running server with a limit, else None.

    Idle since the hub's `last_activity` (its start before any), as the culler counts.
    """
    limit = limit_of(server, idle_limits)
    since = server.get("last_activity") or server.get("started")
    if limit is None or not server.get("ready") or not since:
        return None
    left = limit - (now - datetime.fromisoformat(since)).total_seconds()
    return f"Culled after {human(limit)} idle; " + (f"about {human(left)} left" if left >= 1 else "stopping soon")
