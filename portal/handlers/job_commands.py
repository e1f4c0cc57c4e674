"""The commands a promoted version declares for batch jobs
(``GET /api/v1/teams/<team>/jobs/commands?version=PROJECT:vX.Y.Z``).

A team's project may hold ``aiportal-jobs.yaml`` at its root::

    commands:
      - name: segment
        command: ["python", "/code/segment.py", "--in", "/data/in", "--out", "/data/out"]
        description: Segment every slide of the input folder.

It is read at the version's tag through the promotion's GitLab access, so the list is the
one that was promoted with the image. The version must be one of the team's successful
promotions (anything else is a 404, as for a version that does not exist). A file that is
missing gives no commands; one that cannot be used gives none either, and ``problem`` says
why, as it does when no GitLab is configured.
"""

from __future__ import annotations

import asyncio

import yaml
from gitlab.exceptions import GitlabError
from tornado import web

from ..config import Draft202012Validator, schema_problems
from ..jobs.spec import JOB_SCHEMA
from ..promotion.records import Promotions
from ..rbac import READ
from .base import APIHandler, team_scope

COMMANDS_FILE = "aiportal-jobs.yaml"
MAX_FILE_BYTES = 64 * 1024

COMMANDS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["commands"],
    "properties": {
        "commands": {
            "type": "array", "maxItems": 100,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "command"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 100,
                             "pattern": "^[^\\x00-\\x1f\\x7f]*$"},
                    "command": JOB_SCHEMA["properties"]["command"],  # what a job's body takes, exactly
                    "description": {"type": "string", "maxLength": 2000},
                },
            },
        },
    },
}
VALIDATOR = Draft202012Validator(COMMANDS_SCHEMA)


def parse_commands(text: bytes) -> tuple[list[dict], str | None]:
    """The commands of an ``aiportal-jobs.yaml`` → (commands, None), or ([], why not)."""
    if len(text) > MAX_FILE_BYTES:
        return [], f"{COMMANDS_FILE} is larger than {MAX_FILE_BYTES // 1024} KiB"
    try:
        data = yaml.safe_load(text.decode("utf-8"))
    except UnicodeDecodeError:
        return [], f"{COMMANDS_FILE} is not UTF-8 text"
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        return [], f"{COMMANDS_FILE} is not valid YAML{where}: {getattr(e, 'problem', None) or e}"
    if data is None:
        return [], f"{COMMANDS_FILE} is empty: list the commands under `commands:`"
    problems = schema_problems(data, VALIDATOR)
    if problems:
        return [], f"{COMMANDS_FILE}: {problems[0]}"[:500]
    commands = [{"name": c["name"], "command": c["command"], "description": c.get("description", "")}
                for c in data["commands"]]
    names = [c["name"] for c in commands]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        return [], f"{COMMANDS_FILE}: the name {twice[0]!r} is given to more than one command"
    return commands, None


def read_commands(gl, project_id: int, tag: str) -> tuple[list[dict], str | None]:
    """The file at `tag` (blocking; through GitLabAccess.call): parsed, or why not."""
    project = gl.projects.get(project_id, lazy=True)
    try:
        text = project.files.raw(file_path=COMMANDS_FILE, ref=tag)
    except GitlabError as e:
        if getattr(e, "response_code", None) != 404:
            raise
        if "commit" in str(getattr(e, "error_message", "")).lower():  # GitLab: "404 Commit Not Found"
            return [], f"the tag {tag} is no longer in the project"
        return [], None  # no file: the version declares no commands
    return parse_commands(text)


class JobCommandsHandler(APIHandler):
    @team_scope(READ)
    async def get(self, team):
        version = self.query("version", "")
        project, _, tag = version.rpartition(":")
        if not version:
            raise web.HTTPError(400, "version: give a promoted version of the team, PROJECT:vX.Y.Z")
        released = await asyncio.to_thread(Promotions(self.settings["db"]).released, [team])
        found = next((r for r in released if r["project"] == project and r["version"] == tag), None)
        if found is None:
            raise web.HTTPError(404, f"{version[:300]!r} is not a promoted version of team {team!r}")
        desk = self.settings.get("promotion")
        if desk is None:
            self.write_json({"version": version, "commands": [],
                             "problem": "promotion is off (no GitLab is configured), so the version's "
                                        f"{COMMANDS_FILE} cannot be read: type the command"})
            return
        gl = await desk.access.client(self.caller.name)
        commands, problem = await desk.access.call(f"reading {COMMANDS_FILE} of {version}", read_commands,
                                                   gl, found["project_id"], tag)
        self.write_json({"version": version, "commands": commands, "problem": problem})


default_handlers = [
    (r"/api/v1/teams/(?P<team>[^/]+)/jobs/commands", JobCommandsHandler),
]
