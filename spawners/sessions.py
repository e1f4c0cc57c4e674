"""App sessions in the spawner: a launch of an interactive app is checked, limited and timed
here, on every backend, so a launch through the hub's own REST API meets the same rules as
one from the portal.

user_options of a session: {"app": ID, "team": TEAM, "values": {field id: value}} (and
"profile", the profile it resolved to, which the hub API, the culler and the metrics read).
`resolve_session` turns them into a ResolvedProfile with the app's `session` settings; the
`SessionRecord` says when the session started, when its walltime ends, and when and why it
ended: it stays in the spawner's state after the server stops, so *My sessions* can say
"walltime reached" once the server is gone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from portal.apps import App, LaunchError, validate_launch
from portal.apps.launch import shown
from portal.config import Profile
from portal.culling import human

from .profiles import ProfileError, ResolvedProfile

KEYS = {"app", "team", "values", "profile"}
ENDINGS = {  # reason → what the session's card says
    "walltime": "Walltime of {hours} h reached",
    "idle": "Stopped after {idle} idle",
    "stopped": "Stopped",
    "failed": "Failed to start: {detail}",
}


def is_session(options) -> bool:
    return isinstance(options, dict) and "app" in options


def resolve_session(options: dict, teams: dict[str, dict], profiles: dict[str, dict],
                    apps: dict[str, App]) -> tuple[ResolvedProfile, dict]:
    """A session's user_options → (its ResolvedProfile, the complete user_options: the
    team and every field's value filled in). Raises ProfileError naming the field."""
    unknown = set(options) - KEYS
    if unknown:
        raise ProfileError(f"unknown user option(s) of an app session: {', '.join(sorted(map(str, unknown)))[:200]}")
    app = apps.get(options["app"]) if isinstance(options["app"], str) else None
    if app is None:
        raise ProfileError(f"app: {shown(options['app'])} is not an app of this portal")
    values = options.get("values", {})
    if not isinstance(values, dict) or "team" in values:
        raise ProfileError("values: give the form's field values as an object (the team goes beside it)")
    try:
        launch = validate_launch(app, {**values, **({"team": options["team"]} if "team" in options else {})},
                                 teams, {name: Profile(**p) for name, p in profiles.items()})
    except LaunchError as e:
        raise ProfileError(str(e)) from None
    if options.get("profile") not in (None, launch.profile):
        raise ProfileError(f"profile: a session of app {app.id!r} runs in {launch.profile!r}, "
                           f"not {shown(options['profile'])}")
    p = profiles[launch.profile] if launch.profile is not None else {}
    session = {"app": app.id, "url": launch.url, "hours": launch.hours,
               "idle_timeout": launch.idle_timeout or p.get("idle_timeout", 0), "values": launch.values}
    if p:
        resolved = ResolvedProfile(team=launch.team, profile=launch.profile,
                                   display_name=f"{app.name} ({p['display_name']})", image=p["image"],
                                   mode=p["mode"], cpu=p["cpu"], memory=p["memory"], gpus=p["gpus"],
                                   app=app.id, session=session)
    else:  # an image app: the user's home and /src, like a dev container
        resolved = ResolvedProfile(team=launch.team, profile="", display_name=app.name, image=launch.image,
                                   mode="dev", cpu=launch.cpu, memory=launch.memory, gpus=launch.gpus,
                                   app=app.id, session=session)
    chosen = {"app": app.id, "team": launch.team, "values": launch.values,
              **({"profile": launch.profile} if launch.profile else {})}
    return resolved, chosen


def running_sessions(spawners, app_id: str, besides) -> int:
    """How many of a user's servers (the hub's Spawner wrappers) run or start a session of the app."""
    return sum(1 for s in spawners if s is not besides and s.active and (s.user_options or {}).get("app") == app_id)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class SessionRecord:
    """One named server's session: the first launch, the current or last run, its end."""

    created: str
    started: str
    ends_at: str
    host: str
    hours: int
    idle_timeout: int
    ended: str | None = None
    reason: str | None = None
    message: str = ""

    @classmethod
    def begin(cls, previous: dict | None, session: dict, hour: float, host: str, now: datetime) -> SessionRecord:
        """A (re)launch: `hour` is the seconds of a walltime hour (3600; tests shorten it)."""
        return cls(created=(previous or {}).get("created") or iso(now), started=iso(now),
                   ends_at=iso(now + timedelta(seconds=session["hours"] * hour)), host=host,
                   hours=session["hours"], idle_timeout=session["idle_timeout"])

    def over(self, now: datetime) -> bool:
        return self.ended is None and now >= datetime.fromisoformat(self.ends_at)

    def end(self, reason: str, now: datetime, detail: str = "") -> None:
        self.ended = self.ended or iso(now)
        self.reason = reason
        self.message = ENDINGS[reason].format(hours=self.hours, idle=human(self.idle_timeout), detail=detail)[:500]

    def as_state(self) -> dict:
        return asdict(self)


def stop_reason(record: SessionRecord, last_activity: datetime | None, now: datetime) -> str:
    """Why a session is being stopped when nobody said: idle if it has been idle for its
    app's limit (the culler's doing), else stopped (by its user, an admin or the portal)."""
    if record.idle_timeout and last_activity is not None:
        idle = now - (last_activity if last_activity.tzinfo else last_activity.replace(tzinfo=UTC))
        if idle.total_seconds() >= record.idle_timeout * 0.95:
            return "idle"
    return "stopped"
