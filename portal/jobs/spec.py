"""A job's description: one JSON Schema (job.schema.json) for the YAML file of `aiportal jobs
submit`, the API's body and the Python API's arguments, and what a valid one resolves to.

`parse` → a JobSpec with the schema's defaults applied, or SpecError naming the field.
`resolve_image` → the image a job of a team runs: a promoted version's, pinned by its digest,
or (a dev job, for testing) the image of one of the team's dev profiles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources

from referencing import Registry, Resource

from ..config import SCHEMA, Draft202012Validator, parse_duration, parse_quantity, schema_problems, with_defaults

JOB_SCHEMA: dict = json.loads(resources.files(__package__).joinpath("job.schema.json").read_text())
VALIDATOR = Draft202012Validator(
    JOB_SCHEMA, registry=Registry().with_resource(SCHEMA["$id"], Resource.from_contents(SCHEMA)))


MAX_WALLTIME = 7 * 86400  # seconds: a job that needs longer should checkpoint and resubmit


class SpecError(ValueError):
    """A job that cannot run as described; `field` names the input at fault."""

    def __init__(self, field_: str, message: str):
        self.field = field_
        super().__init__(f"{field_}: {message}")


@dataclass(frozen=True)
class JobSpec:
    team: str
    command: list[str]  # exec form; a string command is ["/bin/sh", "-c", it]
    version: str | None = None
    profile: str | None = None
    name: str = ""
    cpu: float = 1
    memory: int = 2 * 2**30
    gpus: int = 0
    walltime: int = 3600  # seconds
    inputs: tuple[str, ...] = ()
    outputs: str | None = None
    env: dict = field(default_factory=dict)

    @property
    def dev(self) -> bool:
        """A dev job (a profile's image, for testing), not a promoted version."""
        return self.profile is not None

    def as_json(self) -> dict:
        return {"team": self.team, "name": self.name, "version": self.version, "profile": self.profile,
                "command": self.command, "resources": {"cpu": self.cpu, "memory": self.memory, "gpus": self.gpus},
                "walltime": self.walltime, "inputs": list(self.inputs), "outputs": self.outputs, "env": self.env}


def parse(data) -> JobSpec:
    """A job description (parsed YAML or JSON) → JobSpec; SpecError for the first problem."""
    if not isinstance(data, dict):
        raise SpecError("job", "must be an object of the job's fields")
    unknown = sorted(str(key) for key in data if key not in JOB_SCHEMA["properties"])
    if unknown:
        raise SpecError(unknown[0][:64], f"is not a field of a job (fields: {', '.join(JOB_SCHEMA['properties'])})")
    problems = schema_problems(data, VALIDATOR)
    if problems:
        where, _, why = problems[0].partition(": ")
        if where == "(top level)":  # not exactly one of version and profile
            raise SpecError("version", JOB_SCHEMA["x-error"])
        raise SpecError(where, why)
    data = with_defaults(JOB_SCHEMA, data, JOB_SCHEMA)
    if parse_duration(data["walltime"]) > MAX_WALLTIME:
        raise SpecError("walltime", f"{data['walltime']!r} is above the maximum of {MAX_WALLTIME // 86400} days")
    command = data["command"]
    resources_ = data["resources"]
    return JobSpec(
        team=data["team"], name=data.get("name", ""), version=data.get("version"), profile=data.get("profile"),
        command=["/bin/sh", "-c", command] if isinstance(command, str) else list(command),
        cpu=resources_["cpu"], memory=parse_quantity(resources_["memory"]), gpus=resources_["gpus"],
        walltime=parse_duration(data["walltime"]), inputs=tuple(data["inputs"]), outputs=data.get("outputs"),
        env=dict(data["env"]))


def resolve_image(spec: JobSpec, allowed_profiles: list[str], profiles: dict, released: list[dict]) -> str:
    """The image of `spec`'s version among the team's `released` (successful promotions,
    portal.promotion.records' `released`), pinned by digest; or its dev profile's image.
    Another team's version gets the answer of one that does not exist."""
    from spawners.profiles import pinned  # the spawners' rule for a promoted image reference

    if spec.profile is not None:
        profile = profiles.get(spec.profile)
        if spec.profile not in allowed_profiles or profile is None or profile.mode != "dev":
            dev = [p for p in allowed_profiles if p in profiles and profiles[p].mode == "dev"]
            raise SpecError("profile", f"{spec.profile!r} is not a dev profile of team {spec.team!r} "
                                       f"(choose from: {', '.join(dev) or 'none'})")
        return profile.image
    project, _, version = spec.version.rpartition(":")
    for release in released:
        if release["project"] == project and release["version"] == version and release.get("digest"):
            return pinned(release["image"], release["digest"])
    raise SpecError("version", f"{spec.version!r} is not a promoted version of team {spec.team!r}")
