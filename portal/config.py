"""portal.yaml: load, validate against the shipped JSON Schema, and check cross-references.

Every problem is reported with the path of the offending field, all at once, so an
operator fixes a file in one pass instead of one error per restart.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

# jsonschema probes optional format checkers when imported; rfc3987_syntax (pulled in by
# jupyter-events) then compiles a grammar for about a second, for "iri" formats our schemas
# never use. Blocking it keeps the portal service's start (which the hub waits for) fast.
sys.modules.setdefault("rfc3987_syntax", None)
from jsonschema import Draft202012Validator  # noqa: E402

from .ops.alertmanager import alert_problems  # noqa: E402

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


MAX_BYTES: int = SCHEMA["$defs"]["quantity"]["maximum"]
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_quantity(value: int | str | None) -> int | None:
    """Bytes from an integer or a string such as '8Gi' or '500G'; None stays None.

    More than MAX_BYTES (what JSON clients read exactly) is refused, as is anything else
    that is not a whole number of bytes.
    """
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{value!r} is not a whole number of bytes")
    if isinstance(value, int | float):
        nbytes = int(value)
    else:
        match = _QUANTITY.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a quantity such as 8Gi or 500G")
        nbytes = int(float(match.group(1)) * _UNITS[match.group(2) or ""])
    if not 0 <= nbytes <= MAX_BYTES:
        raise ValueError(f"{value!r} is outside 0 to {MAX_BYTES} bytes (8 PiB)")
    return nbytes


def parse_duration(value: int | str) -> int:
    """Seconds from a duration the schema accepted: an integer, or '90s', '30m', '2h', '1d'."""
    if isinstance(value, int | float):  # the schema's integers include 60.0
        return int(value)
    return int(value[:-1]) * _SECONDS[value[-1]]


@dataclass(frozen=True)
class Quota:
    """A team's limits; None is unlimited. Bytes for memory and storage."""

    gpus: int | None = None
    cpu: float | None = None
    memory: int | None = None
    storage: int | None = None

    @classmethod
    def from_dict(cls, data: dict) -> Quota:
        cpu = data.get("cpu")
        return cls(gpus=None if data.get("gpus") is None else int(data["gpus"]),
                   cpu=int(cpu) if isinstance(cpu, float) and cpu.is_integer() else cpu,
                   memory=parse_quantity(data.get("memory")), storage=parse_quantity(data.get("storage")))

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class TeamSpec:
    """A team as portal.yaml declares it."""

    name: str
    display_name: str
    members: tuple[str, ...]
    admins: tuple[str, ...]
    quota: Quota
    profiles: tuple[str, ...]
    delete_policy: str
    promotion: dict  # gitlab_group, dev_image, promoters

    def properties(self) -> dict:
        """The team settings as they are stored in the hub group's `properties`."""
        return {"display_name": self.display_name, "quota": self.quota.as_dict(),
                "profiles": list(self.profiles), "delete_policy": self.delete_policy, **self.promotion}


@dataclass(frozen=True)
class Profile:
    """A declared profile with the schema's defaults applied."""

    name: str
    image: str
    display_name: str
    description: str
    mode: str
    cpu: float
    memory: int
    gpus: int
    app: str
    idle_timeout: int = 0  # seconds idle before the culler stops its servers; 0: never (also with culling off)


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
    spawner_backend: str
    spawner_socket: str | None
    gpus: tuple[str, ...] | None  # None: detect with nvidia-smi

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


def schema_problems(data: Any, validator: Draft202012Validator | None = None) -> list[str]:
    """Every violation of portal.yaml's schema (or `validator`'s, e.g. an app file's) as
    'path: reason', in the schema's own words (`x-error`) where it has them."""
    validator = validator or Draft202012Validator(SCHEMA)
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        message = error.message
        if error.validator == "additionalProperties":
            message = message.replace("Additional properties are not allowed", "unknown key")
        elif "x-error" in error.schema:  # the schema's own words; secrets (passwords in URLs) not echoed
            shown = "the value" if error.schema.get("x-secret") else repr(error.instance)
            message = f"{shown} {error.schema['x-error']}"
        problems.append(f"{_path(error.path)}: {message}")
    return list(dict.fromkeys(problems))  # one line per reason: a bad name breaks several keywords


def _quantity_problems(data: dict) -> list[str]:
    """Quantities the pattern accepts but that are too large once in bytes."""
    profiles = data.get("profiles") if isinstance(data.get("profiles"), dict) else {}
    teams = data.get("teams") if isinstance(data.get("teams"), list) else []
    places = [(f"profiles.{n}.memory", p.get("memory")) for n, p in profiles.items() if isinstance(p, dict)]
    places += [(f"teams[{i}].quota.{k}", t["quota"].get(k)) for i, t in enumerate(teams)
               if isinstance(t, dict) and isinstance(t.get("quota"), dict) for k in ("memory", "storage")]
    problems = []
    for where, value in places:
        if isinstance(value, bool) or not (isinstance(value, int) or _QUANTITY.match(str(value))):
            continue  # not a quantity at all: the schema said so already
        try:
            parse_quantity(value)
        except ValueError as e:
            problems.append(f"{where}: {e}")
    return problems


def with_defaults(schema: dict, data, root: dict = SCHEMA):
    """A copy of valid ``data`` with every ``default`` of the schema filled in.

    The schema is the one place defaults are written: config, spawners and the
    documentation all read them from here.
    """
    if "$ref" in schema:
        schema = {**root["$defs"][schema["$ref"].rsplit("/", 1)[-1]], **schema}
    if isinstance(data, dict):
        out = {k: with_defaults(schema.get("properties", {}).get(k)
                                or (schema.get("additionalProperties") if isinstance(
                                    schema.get("additionalProperties"), dict) else {}), v, root)
               for k, v in data.items()}
        for key, sub in (schema.get("properties") or {}).items():
            if key not in out and "default" in sub:
                out[key] = with_defaults(sub, copy.deepcopy(sub["default"]), root)
        return out
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [with_defaults(schema["items"], v, root) for v in data]
    return data


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
    problems = schema_problems(data)
    if isinstance(data, dict):
        problems += _reference_problems(data) + _quantity_problems(data) + alert_problems(data)
    if problems:
        raise ConfigError(source, problems)
    return _build(with_defaults(SCHEMA, data), source)


def read_yaml(path: Path) -> Any:
    """The parsed YAML of a file; ConfigError naming the line and column of bad YAML."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(str(path), [f"cannot read file: {getattr(e, 'strerror', None) or e}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(str(path), [f"{where}: invalid YAML: {getattr(e, 'problem', e)}"]) from None


def load(path: str | Path) -> PortalConfig:
    """Read and validate a portal.yaml file."""
    path = Path(path)
    return validate(read_yaml(path), str(path))


def _build(data: dict, source: str) -> PortalConfig:
    """The PortalConfig of a valid file whose defaults are filled in (``with_defaults``)."""
    hub, auth, storage, spawner, culling = data["hub"], data["auth"], data["storage"], data["spawner"], data["culling"]
    profiles = {
        name: Profile(name=name, image=p["image"], display_name=p.get("display_name") or name,
                      description=p["description"], mode=p["mode"], cpu=p["cpu"],
                      memory=parse_quantity(p["memory"]), gpus=p["gpus"], app=p["app"],
                      idle_timeout=parse_duration(p.get("idle_timeout", culling["idle_timeout"]))
                      if culling["enabled"] else 0)
        for name, p in data["profiles"].items()
    }
    teams = {}
    for t in data["teams"]:
        admins = tuple(t["admins"])
        teams[t["name"]] = TeamSpec(
            name=t["name"], display_name=t.get("display_name") or t["name"],
            members=tuple(dict.fromkeys([*t["members"], *admins])), admins=admins,
            quota=Quota.from_dict(t["quota"]), profiles=tuple(t["profiles"]), delete_policy=t["delete_policy"],
            promotion={k: t[k] for k in ("gitlab_group", "dev_image", "promoters")})
    return PortalConfig(
        source=source, raw=data, hub_ip=hub["ip"], hub_port=hub["port"],
        admin_users=tuple(hub["admin_users"]), hub_db_url=sqlalchemy_url(hub["db_url"]),
        auth=auth, storage_type=storage["type"], storage_endpoint=storage["endpoint"],
        storage_port=storage["port"], storage_public_endpoint=(storage["public_endpoint"] or "").rstrip("/") or None,
        storage_usage_interval=storage["usage_interval"],
        database_url=sqlalchemy_url(data["database"]["url"]), profiles=profiles, teams=teams,
        spawner_backend=spawner["backend"], spawner_socket=spawner.get("socket"),
        gpus=tuple(data["gpus"]) if "gpus" in data else None)
