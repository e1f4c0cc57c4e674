"""An app as the portal uses it: a validated app file with the schema's defaults applied.

Built from the file's data only after the loader found nothing wrong with it, so the
constructors here trust their input; who may launch an app is `App.offered_profiles`
and `App.usable_by`, the one place that rule is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Profile, parse_duration, parse_quantity, with_defaults
from .schema import APP_SCHEMA, RESOURCES

#: Kinds whose value decides something about the session itself; at most one each per app.
SESSION_KINDS = ("hours", "gpus", "profile")


@dataclass(frozen=True)
class Field:
    """One input of the launch form. `default` is the effective one (None for a profile
    field without its own: the team's first offered profile)."""

    id: str
    kind: str
    label: str
    help: str
    default: Any
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[tuple[str, str], ...] = ()  # (value, label)
    max_length: int | None = None
    pattern: str | None = None
    mode: str | None = None  # a profile field: offer only profiles of this mode

    @classmethod
    def from_dict(cls, data: dict, walltime: dict) -> Field:
        """An hours field's bounds are the app's walltime; a gpus field counts from 0."""
        kind = data["kind"]
        choices = tuple((c, c) if isinstance(c, str) else (c["value"], c.get("label", c["value"]))
                        for c in data.get("choices", ()))
        default = data.get("default", {
            "hours": walltime["default_hours"], "gpus": 0, "profile": None, "number": data.get("min"),
            "select": choices[0][0] if choices else None, "text": ""}[kind])
        low, high = {"hours": (1, walltime["max_hours"]), "gpus": (0, data.get("max"))}.get(
            kind, (data.get("min"), data.get("max")))
        return cls(id=data["id"], kind=kind, label=data["label"], help=data["help"], default=default,
                   min=low, max=high, step=data.get("step"), choices=choices,
                   max_length=data.get("maxLength"), pattern=data.get("pattern"), mode=data.get("mode"))

    def as_json(self) -> dict:
        """What a launch form needs; bounds only where the kind has them."""
        out = {"id": self.id, "kind": self.kind, "label": self.label, "help": self.help, "default": self.default}
        extra = {"min": self.min, "max": self.max, "step": self.step, "maxLength": self.max_length,
                 "pattern": self.pattern, "mode": self.mode}
        out.update({k: v for k, v in extra.items() if v is not None})
        if self.choices:
            out["choices"] = [{"value": v, "label": label} for v, label in self.choices]
        return out


@dataclass(frozen=True)
class App:
    """A loadable app: what its form asks, what it runs, its limits, who may use it."""

    id: str
    name: str
    icon: str
    category: str
    description: str
    form: tuple[Field, ...]
    profile: str | None  # a fixed profile of portal.yaml
    image: str | None  # or an image with `resources`; neither: the form's profile field
    resources: dict  # an image app's cpu, memory (bytes) and gpus; {} otherwise
    url: str
    default_hours: int
    max_hours: int
    idle_timeout: int  # seconds; 0: only the walltime ends a session
    max_sessions: int
    teams: tuple[str, ...] | None  # None: every team
    path: str  # the file it came from

    @classmethod
    def from_dict(cls, data: dict, path: str) -> App:
        data = with_defaults(APP_SCHEMA, data, APP_SCHEMA)
        run, walltime = data.get("run", {}), data["walltime"]
        resources = with_defaults(RESOURCES, run.get("resources", {}), APP_SCHEMA) if "image" in run else {}
        return cls(
            id=data["id"], name=data["name"], icon=data["icon"], category=data["category"],
            description=data["description"],
            form=tuple(Field.from_dict(f, walltime) for f in data["form"]),
            profile=run.get("profile"), image=run.get("image"),
            resources={**resources, "memory": parse_quantity(resources["memory"])} if resources else {},
            url=data["url"], default_hours=walltime["default_hours"], max_hours=walltime["max_hours"],
            idle_timeout=parse_duration(data["idle_timeout"]), max_sessions=data["max_sessions"],
            teams=None if data["teams"] == "all" else tuple(data["teams"]), path=path)

    def field(self, kind: str) -> Field | None:
        """The form's field of a SESSION_KINDS kind, if it asks one."""
        return next((f for f in self.form if f.kind == kind), None)

    def offered_profiles(self, allowed: list[str], profiles: dict[str, Profile]) -> list[str]:
        """Which of a team's `allowed` profiles a session of this app may run in: the fixed
        profile if the team has it, or those of the profile field's mode; none for an image app."""
        if self.image is not None:
            return []
        if self.profile is not None:
            return [self.profile] if self.profile in allowed and self.profile in profiles else []
        mode = self.field("profile").mode
        return [p for p in allowed if p in profiles and mode in (None, profiles[p].mode)]

    def usable_by(self, team: str, allowed: list[str], profiles: dict[str, Profile]) -> bool:
        """Whether members of `team` (allowed these profiles) may launch it: the app's
        `teams`, and for a profile app a profile the team may run it in."""
        if self.teams is not None and team not in self.teams:
            return False
        return self.image is not None or bool(self.offered_profiles(allowed, profiles))

    def as_json(self) -> dict:
        """The app as the API shows it (its declared access rule is for operators only)."""
        run = ({"image": self.image, **self.resources} if self.image is not None
               else {"profile": self.profile} if self.profile is not None
               else {"profile_field": self.field("profile").id})
        return {"id": self.id, "name": self.name, "icon": self.icon, "category": self.category,
                "description": self.description, "form": [f.as_json() for f in self.form], "run": run,
                "url": self.url, "walltime": {"default_hours": self.default_hours, "max_hours": self.max_hours},
                "idle_timeout": self.idle_timeout, "max_sessions": self.max_sessions}
