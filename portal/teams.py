"""Teams: JupyterHub groups whose settings live in the group's `properties`.

The hub database is the single source of truth. portal.yaml seeds it at every start
with a three-way merge: a setting is overwritten only when portal.yaml changed it since
the last seed, so edits made in the portal survive restarts and config edits still apply.
Only the portal service writes properties (see rbac.py); which fields a caller may change
is declared in PATCH_RULES.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

from jsonschema import Draft202012Validator

from .config import SCHEMA, PortalConfig, parse_quantity
from .hub import HubClient
from .names import bucket_name, is_team_name, team_name_problem
from .rbac import ADMIN, OPERATOR

log = logging.getLogger(__name__)
SEEDED = "seeded"  # properties key holding what portal.yaml said at the last seed
LIMITS = ("quota", "profiles", "delete_policy")  # what only operators change
PROMOTION = ("gitlab_group", "dev_image", "promoters")  # operators too: where and by whom code is promoted
LEGACY = ("bucket",)  # properties older versions kept; the bucket is derived from the name

_TEAM = SCHEMA["$defs"]["team"]["properties"]
PATCH_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "display_name": {"type": "string", "minLength": 1, "maxLength": 200},
        "quota": {  # as in portal.yaml, and null removes a limit (unlimited)
            **SCHEMA["$defs"]["quota"],
            "properties": {k: {"anyOf": [v, {"type": "null"}]}
                           for k, v in SCHEMA["$defs"]["quota"]["properties"].items()},
        },
        "profiles": _TEAM["profiles"],
        "delete_policy": _TEAM["delete_policy"],
        **{field: _TEAM[field] for field in PROMOTION},
    },
    "$defs": SCHEMA["$defs"],
}
#: The scope a PATCH needs for each field: team admins rename, operators set limits.
PATCH_RULES = {"display_name": ADMIN, **{field: OPERATOR for field in LIMITS + PROMOTION}}
#: POST /teams (operators only): a name, and what a PATCH may set, plus the first admins.
CREATE_SCHEMA = {
    **{k: v for k, v in PATCH_SCHEMA.items() if k != "minProperties"},
    "required": ["name"],
    "properties": {
        **PATCH_SCHEMA["properties"],
        "name": {"$ref": "#/$defs/name"},
        "admins": {"type": "array", "items": {"$ref": "#/$defs/username"}, "uniqueItems": True,
                   "maxItems": 100},
    },
}
#: Spawner backends whose GPU inventory is fixed (one machine): a GPU quota above it is
#: refused. Elsewhere (Kubernetes, where nodes come and go) it is only a warning.
FIXED_GPU_BACKENDS = ("auto", "podman", "docker", "local")


class TeamError(ValueError):
    """Invalid input for a team operation; the message names the field."""


@functools.cache
def _warn_not_a_team(name: str) -> None:
    log.warning("hub group %r is not a portal team and is skipped: %s", name, team_name_problem(name))


def portal_groups(groups: list[dict]) -> list[dict]:
    """The groups that can be teams; others (made on the hub's admin page with a name no
    bucket can have) are skipped, with one warning per name for the life of the process."""
    kept = []
    for group in groups:
        if is_team_name(group["name"]):
            kept.append(group)
        else:
            _warn_not_a_team(group["name"])
    return kept


@dataclass
class Team:
    """A team as the portal shows it, read from a hub group model."""

    name: str
    properties: dict
    members: list[str]
    membership_source: str = "portal"

    @classmethod
    def from_group(cls, group: dict, membership_source: str = "portal") -> Team:
        return cls(name=group["name"], properties=dict(group.get("properties") or {}),
                   members=sorted(group.get("users") or []), membership_source=membership_source)

    @property
    def display_name(self) -> str:
        return self.properties.get("display_name") or self.name

    @property
    def quota(self) -> dict:
        return dict(self.properties.get("quota") or {})

    @property
    def admins(self) -> list[str]:
        return sorted(self.properties.get("admins") or [])

    @property
    def bucket(self) -> str:
        return bucket_name(self.name)

    @property
    def delete_policy(self) -> str:
        """Who may delete objects in the bucket: "admins" (team admins) or "members"."""
        return self.properties.get("delete_policy", _TEAM["delete_policy"]["default"])

    @property
    def promotion(self) -> dict:
        """gitlab_group, dev_image and promoters, with the schema's defaults."""
        return {field: self.properties.get(field, _TEAM[field]["default"]) for field in PROMOTION}

    def as_json(self) -> dict:
        return {
            "name": self.name, "display_name": self.display_name, "quota": self.quota,
            "profiles": list(self.properties.get("profiles") or []),
            "bucket": self.bucket, "delete_policy": self.delete_policy,
            "members": self.members, "admins": self.admins,
            "membership_source": self.membership_source, **self.promotion,
        }


def _problem(errors) -> str:
    e = errors[0]
    where = ".".join(map(str, e.path)) or "body"
    message = e.message.replace("Additional properties are not allowed", "unknown field")
    if "x-error" in e.schema:
        message = f"{str(e.instance)[:80]!r} {e.schema['x-error']}"
    return f"{where}: {message}"


def _validate(schema: dict, body) -> None:
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=lambda e: list(map(str, e.path)))
    if errors:
        raise TeamError(_problem(errors))


def validate_create(body, profiles: dict) -> tuple[str, dict, list[str]]:
    """Check a POST /teams body: (name, properties of the new group, admins to make)."""
    _validate(CREATE_SCHEMA, body)
    name, admins = body["name"], sorted(body.get("admins") or ())
    settings = {k: v for k, v in body.items() if k not in ("name", "admins")}
    changes = validate_patch(settings, profiles) if settings else {}
    properties = apply_patch({"display_name": name}, changes)
    properties["admins"] = admins
    return name, properties, admins


def gpu_quota_problem(changes: dict, inventory: int, backend: str) -> tuple[str | None, bool]:
    """(what is wrong with the GPU quota of ``changes``, whether it is refused).

    The one place the rule lives: above the machine's ``inventory`` is refused where the
    backend's GPUs are fixed (FIXED_GPU_BACKENDS), a warning elsewhere."""
    gpus = (changes.get("quota") or {}).get("gpus")
    if gpus is None or gpus <= inventory:
        return None, False
    message = (f"quota.gpus: {gpus} is more than the {inventory} GPU{'s' if inventory != 1 else ''} "
               f"this machine has")
    return message, backend in FIXED_GPU_BACKENDS


def validate_patch(body, profiles: dict) -> dict:
    """Check a PATCH body; return the property changes with quantities in bytes.

    ``profiles`` are the declared ones: a team may only be given those.
    """
    _validate(PATCH_SCHEMA, body)
    changes = dict(body)
    if "quota" in changes:
        quota = dict(changes["quota"])
        if quota.get("gpus") is not None:
            quota["gpus"] = int(quota["gpus"])
        if quota.get("cpu") is not None and math.isfinite(quota["cpu"]) and float(quota["cpu"]).is_integer():
            quota["cpu"] = int(quota["cpu"])
        for key in ("memory", "storage"):
            if quota.get(key) is not None:
                try:
                    quota[key] = parse_quantity(quota[key])
                except ValueError as e:
                    raise TeamError(f"quota.{key}: {e}") from None
        changes["quota"] = quota
    unknown = [p for p in changes.get("profiles", ()) if p not in profiles]
    if unknown:
        raise TeamError(f"profiles: {unknown[0]!r} is not a declared profile "
                        f"(declared: {', '.join(profiles) or 'none'})")
    return changes


def apply_patch(properties: dict, changes: dict) -> dict:
    """New properties: quota keys merged (other limits kept, null ones removed), other fields replaced."""
    merged = {k: v for k, v in properties.items() if k not in LEGACY}
    for field, value in changes.items():
        if field == "quota":  # keys merged; null removes a limit
            value = {k: v for k, v in {**(properties.get("quota") or {}), **value}.items() if v is not None}
        merged[field] = value
    return merged


def _flatten(props: dict) -> dict:
    flat = {}
    for key, value in props.items():
        if key == "quota" and isinstance(value, dict):
            flat.update({f"quota.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def merge_seed(current: dict, desired: dict) -> dict:
    """Three-way merge of group properties with what portal.yaml now says (see module doc)."""
    last = _flatten(current.get(SEEDED) or {})
    now = _flatten({k: v for k, v in current.items() if k != SEEDED and k not in LEGACY})
    want = _flatten(desired)
    for key in set(want) | set(last):
        if key == "quota" or key in LEGACY:
            continue
        if key not in want:  # removed from portal.yaml since the last seed
            if key in last and now.get(key) == last[key]:
                now.pop(key, None)
        elif key not in now or want[key] != last.get(key):
            now[key] = want[key]
    merged = {k: v for k, v in now.items() if "." not in k and k != "quota"}
    merged["quota"] = {k.split(".", 1)[1]: v for k, v in now.items() if k.startswith("quota.")}
    merged[SEEDED] = desired
    return merged


async def seed_teams(hub: HubClient, config: PortalConfig, manage_members: bool = True) -> None:
    """Create or update every team of portal.yaml in the hub; teams not in it are kept."""
    for spec in config.teams.values():
        desired = {**spec.properties(), "admins": sorted(spec.admins), "members": sorted(spec.members)}
        group = await hub.group(spec.name) or await hub.create_group(spec.name)
        props = merge_seed(group.get("properties") or {}, desired)
        seeded_before = set((group.get("properties") or {}).get(SEEDED, {}).get("members", []))
        props.pop("members", None)
        if props != group.get("properties"):
            await hub.set_group_properties(spec.name, props)
        if manage_members:
            wanted = set(spec.members)
            add = sorted(wanted - seeded_before - set(group.get("users") or []))
            drop = sorted((seeded_before - wanted) & set(group.get("users") or []))
            if add:
                await hub.ensure_users(add)
                await hub.add_group_users(spec.name, add)
            if drop:
                await hub.remove_group_users(spec.name, drop)
        log.info("Seeded team %s", spec.name)
