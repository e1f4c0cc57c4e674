"""Launch-request validation: an app, the submitted form values and the caller's teams →
the resolved choices of a session, or a LaunchError naming the field at fault.

Pure functions, no hub and no engine: the session launcher calls `validate_launch` before
it starts anything, and the loader checks each field's default with `check_value`, so a
default can never be a value the form would refuse.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from ..config import Profile
from .model import App, Field

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_JSON_NAMES = {dict: "an object", list: "a list", type(None): "null", bool: "a boolean"}


class LaunchError(ValueError):
    """A launch request that cannot be honoured; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Launch:
    """What a session of `app` runs for `team`: the profile or image, its resources, how
    long it may run, where Connect opens, and every form field's value by id."""

    app: str
    team: str
    profile: str | None
    image: str | None
    cpu: float
    memory: int
    gpus: int
    hours: int
    url: str
    idle_timeout: int
    values: dict


def shown(value) -> str:
    """A submitted value for a message: short, and never the whole of a huge input."""
    if isinstance(value, str):
        return repr(value[:60] + ("…" if len(value) > 60 else ""))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _JSON_NAMES.get(type(value), type(value).__name__)
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**18 else "a huge number"
    return text[:60]


def _on_step(value: float, low: float, step: float) -> bool:
    """Decimal arithmetic on the written forms: 0.1 + 2 steps of 0.1 is 0.3 exactly."""
    return (Decimal(repr(value)) - Decimal(repr(low))) % Decimal(repr(step)) == 0


def _number(field: Field, value, whole: bool) -> int | float:
    bad = (isinstance(value, bool) or not isinstance(value, int | float)
           or isinstance(value, float) and (not math.isfinite(value) or whole and not value.is_integer()))
    if bad:
        raise LaunchError(field.id, f"{shown(value)} is not a {'whole number' if whole else 'number'}")
    if value < field.min:
        raise LaunchError(field.id, f"{shown(value)} is below the minimum of {field.min}")
    if value > field.max:
        limit = (f"the app's maximum walltime of {field.max} hours" if field.kind == "hours"
                 else f"the maximum of {field.max}")
        raise LaunchError(field.id, f"{shown(value)} is above {limit}")
    if field.step is not None and not _on_step(value, field.min, field.step):
        raise LaunchError(field.id, f"{shown(value)} is not {field.min} plus a whole number of steps of {field.step}")
    return int(value) if whole else value


def _select(field: Field, value) -> str:
    values = [v for v, _ in field.choices]
    if not isinstance(value, str) or value not in values:
        raise LaunchError(field.id, f"{shown(value)} is not one of the choices: {', '.join(map(repr, values))}")
    return value


def _text(field: Field, value) -> str:
    if not isinstance(value, str):
        raise LaunchError(field.id, f"{shown(value)} is not text")
    if len(value) > field.max_length:
        raise LaunchError(field.id, f"is longer than {field.max_length} characters")
    if _CONTROL.search(value):
        raise LaunchError(field.id, "contains control characters (line breaks, tabs, …)")
    if field.pattern is not None and re.fullmatch(field.pattern, value) is None:
        raise LaunchError(field.id, f"{shown(value)} does not match the pattern {field.pattern}")
    return value


_CHECKS = {"hours": lambda f, v: _number(f, v, True), "gpus": lambda f, v: _number(f, v, True),
           "number": lambda f, v: _number(f, v, False), "select": _select, "text": _text}


def check_value(field: Field, value):
    """`value` if a field of this kind accepts it (profile fields: see `validate_launch`)."""
    return _CHECKS[field.kind](field, value)


def team_profiles(properties: dict) -> list[str]:
    """The profiles a team may use, from its hub group properties."""
    return [p for p in properties.get("profiles") or () if isinstance(p, str)]


def _team(app: App, values: dict, teams: dict[str, dict], profiles: dict[str, Profile]) -> str:
    """The team the session runs for: the one named, or the only one of the caller's that
    may use the app. Another team's name gets the answer of a team that does not exist."""
    usable = [t for t, props in sorted(teams.items()) if app.usable_by(t, team_profiles(props), profiles)]
    team = values.get("team")
    if team is None and len(usable) == 1:
        return usable[0]
    if isinstance(team, str) and team in usable:
        return team
    if isinstance(team, str) and team in teams:
        raise LaunchError("team", f"app {app.id!r} is not available to team {team!r}")
    if not usable:
        raise LaunchError("team", f"no team of yours may use app {app.id!r}")
    given = "give one" if team is None else f"{shown(team)} is not one"
    raise LaunchError("team", f"{given} of your teams that may use app {app.id!r}: {', '.join(usable)}")


def _profile(app: App, field: Field, values: dict, allowed: list[str], profiles: dict[str, Profile],
             team: str) -> str:
    offered = app.offered_profiles(allowed, profiles)
    value = values.get(field.id, field.default if field.default in offered else offered[0])
    if not isinstance(value, str) or value not in offered:
        raise LaunchError(field.id, f"{shown(value)} is not a profile team {team!r} may run app {app.id!r} in "
                          f"(choose from: {', '.join(offered)})")
    return value


def validate_launch(app: App, values, teams: dict[str, dict], profiles: dict[str, Profile]) -> Launch:
    """Check a launch request of `app`.

    `values`: the request's JSON object: `team` and the form's field values by id (a field
    left out takes its default). `teams`: the caller's own teams (name → hub group
    properties: `profiles`, `quota`). `profiles`: portal.yaml's. Raises LaunchError.
    """
    if not isinstance(values, dict):
        raise LaunchError("form", f"{shown(values)} is not an object of field values")
    known = {"team", *(f.id for f in app.form)}
    for key in values:
        if key not in known:
            raise LaunchError(str(key)[:64], f"app {app.id!r} has no such field (it asks: {', '.join(sorted(known))})")
    team = _team(app, values, teams, profiles)
    allowed = team_profiles(teams[team])
    chosen = {f.id: _profile(app, f, values, allowed, profiles, team) if f.kind == "profile"
              else check_value(f, values.get(f.id, f.default)) for f in app.form}
    by_kind = {kind: chosen[f.id] for kind in ("hours", "gpus", "profile") if (f := app.field(kind))}
    profile = app.profile or by_kind.get("profile")
    if profile is not None:
        p = profiles[profile]
        cpu, memory, gpus = p.cpu, p.memory, p.gpus
    else:
        cpu, memory = app.resources["cpu"], app.resources["memory"]
        gpus = by_kind.get("gpus", app.resources["gpus"])
    quota = (teams[team].get("quota") or {}).get("gpus")
    if quota is not None and gpus > quota:  # the field that chose the GPUs, else the team
        field = app.field("gpus") or app.field("profile")
        raise LaunchError(field.id if field else "team", f"{gpus} GPU(s) is more than team {team!r}'s GPU quota "
                          f"of {quota}")
    return Launch(app=app.id, team=team, profile=profile, image=app.image, cpu=cpu, memory=memory, gpus=gpus,
                  hours=by_kind.get("hours", app.default_hours), url=app.url, idle_timeout=app.idle_timeout,
                  values=chosen)
