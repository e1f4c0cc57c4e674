"""Names: the one home of the team-, bucket- and user-name rules.

The patterns are the JSON Schema's (`$defs.name`, `$defs.username` in portal.schema.json),
so portal.yaml, the REST API, the OpenAPI document and these checks cannot disagree. A
team name is valid as a JupyterHub group, an S3 bucket (3–63 characters, no `xn--`
prefix, no `-s3alias` suffix, no dots: never IP-like) and a Kubernetes namespace (a DNS
label). A team's bucket is derived from its name here and nowhere else.
"""

from __future__ import annotations

import json
import re
from importlib import resources

_DEFS = json.loads(resources.files("portal").joinpath("portal.schema.json").read_text())["$defs"]
TEAM_NAME = re.compile(_DEFS["name"]["pattern"])
USER_NAME = re.compile(_DEFS["username"]["pattern"])
USER_NAME_MAX = _DEFS["username"]["maxLength"]


def is_team_name(name) -> bool:
    return isinstance(name, str) and TEAM_NAME.fullmatch(name) is not None


def is_user_name(name) -> bool:
    return isinstance(name, str) and len(name) <= USER_NAME_MAX and USER_NAME.fullmatch(name) is not None


def team_name_problem(name) -> str | None:
    """Why `name` is not a team name (the schema's own words), or None."""
    return None if is_team_name(name) else f"{str(name)[:80]!r} {_DEFS['name']['x-error']}"


def bucket_name(team: str) -> str:
    """The team's S3 bucket: its name. Never read from editable properties."""
    if not is_team_name(team):
        raise ValueError(team_name_problem(team))
    return team
