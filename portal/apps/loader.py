"""Load the app catalog: the built-in app files, then those of `apps.directory`.

Like Open OnDemand's `validation_reason`, a file that cannot be used (bad YAML, a schema
violation, an unknown profile, a duplicate id, bounds that contradict each other) becomes
a `Broken` entry with its path and every reason, and the other apps still load. A file of
the directory with a built-in app's id replaces that built-in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from ..config import ConfigError, PortalConfig, Profile, parse_quantity, read_yaml, schema_problems
from .launch import LaunchError, check_value
from .model import SESSION_KINDS, App
from .schema import VALIDATOR

BUILTIN = Path(str(resources.files(__package__).joinpath("builtin")))
MAX_FILE = 64 * 1024  # bytes of an app file or its SVG icon; app files are a page of YAML


@dataclass(frozen=True)
class Broken:
    """An app file that did not load, and why."""

    path: str
    problems: tuple[str, ...]

    def as_json(self) -> dict:
        return {"path": self.path, "problems": list(self.problems)}


@dataclass(frozen=True)
class Catalog:
    """The apps that loaded, by id in load order, and the files that did not."""

    apps: dict[str, App]
    broken: tuple[Broken, ...]


def app_files(directory: Path) -> list[Path]:
    """The app files of a directory (*.yaml, *.yml), by name; OSError if it cannot be read."""
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_catalog(directory: str | Path | None, profiles: dict[str, Profile] | None) -> Catalog:
    """Every app of the built-ins and `directory`. `profiles`: portal.yaml's, to check the
    profiles apps name; None where no portal.yaml is at hand (not checked)."""
    files, broken = app_files(BUILTIN), []
    if directory is not None:
        try:
            files += app_files(Path(directory))
        except OSError as e:
            broken.append(Broken(str(directory), (f"cannot read the apps directory: {e.strerror or e}",)))
    apps: dict[str, App] = {}
    for path in files:
        try:
            app = load_app(path, profiles)
        except ConfigError as e:
            broken.append(Broken(str(path), tuple(e.problems)))
            continue
        first = apps.get(app.id)
        if first is not None and not (Path(first.path).parent == BUILTIN and path.parent != BUILTIN):
            broken.append(Broken(str(path), (f"id: duplicate app id {app.id!r} (first in {first.path})",)))
        else:  # new, or a site's own version of a built-in (e.g. its desktop image in its registry)
            apps[app.id] = app
    return Catalog(apps, tuple(broken))


def catalog_for(config: PortalConfig) -> Catalog:
    """The catalog of a deployment: `apps.directory` is relative to portal.yaml's folder.
    With culling off no app has an idle timeout, as no profile has (config.load)."""
    directory = config.raw["apps"]["directory"]
    catalog = load_catalog(Path(config.source).parent / directory if directory else None, config.profiles)
    if config.raw["culling"]["enabled"]:
        return catalog
    return replace(catalog, apps={i: replace(app, idle_timeout=0) for i, app in catalog.apps.items()})


def load_app(path: Path, profiles: dict[str, Profile] | None) -> App:
    """One app file; ConfigError listing every problem as 'field: reason'."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ConfigError(str(path), [f"cannot read file: {e.strerror}"]) from None
    if size > MAX_FILE:
        raise ConfigError(str(path), [f"file is {size} bytes, more than {MAX_FILE}"])
    data = read_yaml(path)
    problems = schema_problems(data, VALIDATOR)
    if not problems:
        problems = rule_problems(data, path.parent, profiles)
    if not problems:
        app = App.from_dict(data, str(path))
        problems = default_problems(app, profiles)
    if problems:
        raise ConfigError(str(path), problems)
    return app


def rule_problems(data: dict, folder: Path, profiles: dict[str, Profile] | None) -> list[str]:
    """What the schema cannot say about a schema-valid app file."""
    problems, run, form = [], data.get("run", {}), data.get("form", [])
    sources = [f"run.{k}" for k in ("profile", "image") if k in run]
    sources += [f"form[{i}] (kind profile)" for i, f in enumerate(form) if f["kind"] == "profile"]
    if len(sources) != 1:
        problems.append(f"run: give exactly one of run.profile, run.image or a form field of kind profile "
                        f"({', '.join(sources) or 'none given'})")
    if "resources" in run and "image" not in run:
        problems.append("run.resources: only with run.image (a profile has its own)")
    try:  # the pattern allows quantities too large once in bytes
        parse_quantity(run.get("resources", {}).get("memory"))
    except ValueError as e:
        problems.append(f"run.resources.memory: {e}")
    if profiles is not None and "profile" in run and run["profile"] not in profiles:
        problems.append(f"run.profile: profile {run['profile']!r} is not defined under profiles in portal.yaml")
    walltime = data["walltime"]
    if walltime["default_hours"] > walltime["max_hours"]:
        problems.append(f"walltime.default_hours: {walltime['default_hours']} is above max_hours "
                        f"({walltime['max_hours']})")
    ids: dict[str, int] = {}
    kinds: dict[str, int] = {}
    for i, field in enumerate(form):
        if field["id"] in ids:
            problems.append(f"form[{i}].id: duplicate field id {field['id']!r} (first at form[{ids[field['id']]}])")
        ids.setdefault(field["id"], i)
        if field["kind"] in kinds:
            problems.append(f"form[{i}].kind: a second field of kind {field['kind']} (first at "
                            f"form[{kinds[field['kind']]}])")
        if field["kind"] in SESSION_KINDS:
            kinds.setdefault(field["kind"], i)
        if field["kind"] == "gpus" and "image" not in run:
            problems.append(f"form[{i}].kind: a gpus field needs run.image (a profile sets its own GPUs)")
        if field["kind"] == "number" and field["min"] > field["max"]:
            problems.append(f"form[{i}].min: {field['min']} is above max ({field['max']})")
        if field["kind"] == "select":
            values = [c if isinstance(c, str) else c["value"] for c in field["choices"]]
            if len(set(values)) < len(values):
                problems.append(f"form[{i}].choices: a value is listed twice")
        if field["kind"] == "text" and "pattern" in field:
            try:
                re.compile(field["pattern"])
            except re.error as e:
                problems.append(f"form[{i}].pattern: not a regular expression: {e}")
    if data.get("icon", "").endswith(".svg"):
        problems += icon_problems(folder, data["icon"])
    return problems


def icon_problems(folder: Path, icon: str) -> list[str]:
    """An SVG icon must be a small file inside the app file's folder (no link out of it)."""
    path = (folder / icon).resolve()
    if not path.is_relative_to(folder.resolve()):
        return [f"icon: {icon!r} leads out of the app file's folder"]
    if not path.is_file():
        return [f"icon: no file {icon!r} beside the app file"]
    if path.stat().st_size > MAX_FILE:
        return [f"icon: {icon!r} is larger than {MAX_FILE} bytes"]
    return []


def default_problems(app: App, profiles: dict[str, Profile] | None) -> list[str]:
    """Each field's default must be a value its own form accepts."""
    problems = []
    for i, field in enumerate(app.form):
        if field.kind != "profile":
            try:
                check_value(field, field.default)
            except LaunchError as e:
                problems.append(f"form[{i}].default: {str(e).split(': ', 1)[1]}")
        elif field.default is not None and profiles is not None:
            p = profiles.get(field.default)
            if p is None or field.mode not in (None, p.mode):
                problems.append(f"form[{i}].default: {field.default!r} is not a "
                                f"{field.mode + '-mode ' if field.mode else ''}profile of portal.yaml")
    return problems
