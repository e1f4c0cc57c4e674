"""Failed spawns, by team and reason, recorded for the portal's metrics
(`aiportal_team_spawn_failures_total`).

The hub process spawns and the portal service exports, so the spawner writes each failure
to the portal database and the portal counts the rows at scrape time. Reasons are a fixed
set: the team's quota refused the server, its image could not be had, the hub gave up
waiting (start_timeout or http_timeout), or any other error.
"""

from __future__ import annotations

from .portal_db import PortalRecords

REASONS = ("quota", "image", "timeout", "error")


def classify(error: BaseException) -> str:
    """The reason of a failed spawn's exception: the one a refusal was tagged with (see
    team.refuse), "timeout" where the hub gave up waiting (it sets the exception's `reason`
    to "timeout" in User.spawn and User._wait_up), else "error"."""
    tagged = getattr(error, "spawn_failure", None)
    if tagged in REASONS:
        return tagged
    return "timeout" if getattr(error, "reason", None) == "timeout" else "error"


class SpawnFailures(PortalRecords):
    """(team, reason) → one row in the portal database: the hub's `Spawner.spawn_failures`."""

    def __call__(self, team: str, reason: str) -> None:
        from portal.db import SpawnFailure, utcnow

        with self.database().transaction() as s:
            s.add(SpawnFailure(at=utcnow(), team=team, reason=reason))
