"""portal.yaml: load, validate against the shipped JSON Schema, and check cross-references.

Every problem is reported with the path of the offending field, all at once, so an
operator fixes a file in one pass instead of one error per restart.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

# jsonschema probes optional format checkers when imported; rfc3987_syntax (pulled in by
# jupyter-events) then compiles a grammar for about a second, for "iri" formats our schemas
# never use. Blocking it keeps the portal service's start (which the hub waits for) fast.
sys.modules.setdefault("rfc3987_syntax", None)
from jsonschema import Draft202012Validator  # noqa: E402

SCHEMA: dict = json.loads(resources.files("portal").joinpath("portal.schema.json").read_text())
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGTP]i?)?$")


class ConfigError(ValueError):
    """A portal.yaml that cannot be used; `problems` lists each as 'path: reason'."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def parse_quantity(value: int | str | None) -> int | None:
    """Bytes from an integer or a string such as '8Gi' or '500G'; None stays None."""
    if value is None or isinstance(value, int):
        return value
    match = _QUANTITY.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a quantity such as 8Gi or 500G")
    return int(float(match.group(1)) * _UNITS[match.group(2) or ""])


@dataclass(frozen=True)
class Quota:
    gpus: int | None = None
    cpu: float | None = None
    memory: int | None = None
    storage: int | None = None

    @classmethod
    def from_dict(cls, data: dict) -> Quota:
        return cls(gpus=data.get("gpus"), cpu=data.get("cpu"),
                   memory=parse_quantity(data.get("memory")),
                   storage=parse_quantity(data.get("storage")))

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class TeamSpec:
    name: str
    display_name: str
    members: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    quota: Quota = field(default_factory=Quota)
    profiles: tuple[str, ...] = ()
    delete_policy: str = "members"

    def properties(self) -> dict:
        """The team settings as they are stored in the hub group's `properties`."""
        return {"display_name": self.display_name, "quota": self.quota.as_dict(),
                "profiles": list(self.profiles), "bucket": self.name,
                "delete_policy": self.delete_policy}


@dataclass(frozen=True)
class Profile:
    name: str
    image: str
    display_name: str
    description: str = ""
    mode: str = "dev"
    cpu: float = 1
    memory: int = 2 * 10**9
    gpus: int = 0
    app: str = "jupyter"


@dataclass(frozen=True)
class PortalConfig:
    """The validated portal.yaml with defaults applied."""

    source: str
    raw: dict
    hub_ip: str
    hub_port: int
    admin_users: tuple[str, ...]
    hub_db_url: str | None
    auth: dict
    storage_type: str
    storage_endpoint: str | None
    storage_port: int
    storage_public_endpoint: str | None
    storage_usage_interval: int
    database_url: str | None
    profiles: dict[str, Profile]
    teams: dict[str, TeamSpec]
    spawner_backend: str = "auto"
    spawner_socket: str | None = None
    gpus: tuple[str, ...] | None = None  # None: detect with nvidia-smi

    @property
    def first_admin(self) -> str:
        return self.admin_users[0]


def sqlalchemy_url(url: str | None) -> str | None:
    """Plain ``postgresql://`` (or Heroku-style ``postgres://``) URLs use psycopg 3, the driver we ship;
    SQLAlchemy would otherwise look for psycopg2."""
    if url is None:
        return None
    scheme, sep, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") else url


def _path(error_path) -> str:
    out = ""
    for part in error_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _schema_problems(data: Any) -> list[str]:
    validator = Draft202012Validator(SCHEMA)
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        message = error.message
        if error.validator == "additionalProperties":
            message = message.replace("Additional properties are not allowed", "unknown key")
        elif "x-error" in error.schema:  # the schema's own words; secrets (passwords in URLs) not echoed
            shown = "the value" if error.schema.get("x-secret") else repr(error.instance)
            message = f"{shown} {error.schema['x-error']}"
        problems.append(f"{_path(error.path)}: {message}")
    return problems


def _reference_problems(data: dict) -> list[str]:
    problems = []
    profiles = data.get("profiles") if isinstance(data.get("profiles"), dict) else {}
    teams = data.get("teams") if isinstance(data.get("teams"), list) else []
    seen: dict[str, int] = {}
    for i, team in enumerate(t for t in teams if isinstance(t, dict)):
        name = team.get("name")
        if name in seen:
            problems.append(f"teams[{i}].name: duplicate team {name!r} (first at teams[{seen[name]}])")
        seen.setdefault(name, i)
        listed = team.get("profiles") if isinstance(team.get("profiles"), list) else []
        for j, profile in enumerate(listed):
            if isinstance(profile, str) and profile not in profiles:
                problems.append(f"teams[{i}].profiles[{j}]: profile {profile!r} is not defined "
                                "under profiles")
    return problems


def validate(data: Any, source: str = "portal.yaml") -> PortalConfig:
    """Validate parsed YAML; raise ConfigError listing every problem."""
    if data is None:
        data = {}
    problems = _schema_problems(data)
    if isinstance(data, dict):
        problems += _reference_problems(data)
    if problems:
        raise ConfigError(source, problems)
    return _build(data, source)


def load(path: str | Path) -> PortalConfig:
    """Read and validate a portal.yaml file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(str(path), [f"cannot read file: {e.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(str(path), [f"{where}: invalid YAML: {getattr(e, 'problem', e)}"]) from None
    return validate(data, str(path))


def _build(data: dict, source: str) -> PortalConfig:
    hub, auth, storage = data.get("hub", {}), data.get("auth", {}), data.get("storage", {})
    spawner = data.get("spawner", {})
    profiles = {
        name: Profile(name=name, image=p["image"], display_name=p.get("display_name", name),
                      description=p.get("description", ""), mode=p.get("mode", "dev"),
                      cpu=p.get("cpu", 1), memory=parse_quantity(p.get("memory", "2G")),
                      gpus=p.get("gpus", 0), app=p.get("app", "jupyter"))
        for name, p in (data.get("profiles") or {}).items()
    }
    teams = {}
    for t in data.get("teams") or []:
        admins = tuple(t.get("admins", ()))
        members = tuple(dict.fromkeys([*t.get("members", ()), *admins]))
        teams[t["name"]] = TeamSpec(
            name=t["name"], display_name=t.get("display_name", t["name"]), members=members,
            admins=admins, quota=Quota.from_dict(t.get("quota", {})),
            profiles=tuple(t.get("profiles", ())), delete_policy=t.get("delete_policy", "members"))
    return PortalConfig(
        source=source, raw=data, hub_ip=hub.get("ip", "127.0.0.1"), hub_port=hub.get("port", 8000),
        admin_users=tuple(hub.get("admin_users", ["admin"])), hub_db_url=sqlalchemy_url(hub.get("db_url")),
        auth={"type": "native", "open_signup": False, "minimum_password_length": 8, **auth},
        storage_type=storage.get("type", "seaweedfs"), storage_endpoint=storage.get("endpoint"),
        storage_port=storage.get("port", 8333),
        storage_public_endpoint=(storage.get("public_endpoint") or "").rstrip("/") or None,
        storage_usage_interval=storage.get("usage_interval", 300),
        database_url=sqlalchemy_url((data.get("database") or {}).get("url")), profiles=profiles, teams=teams,
        spawner_backend=spawner.get("backend", "auto"), spawner_socket=spawner.get("socket"),
        gpus=tuple(data["gpus"]) if "gpus" in data else None)
