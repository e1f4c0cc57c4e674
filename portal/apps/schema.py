"""The app file's JSON Schema (app.schema.json in this package) and its validator.

It refers to portal.schema.json's `$defs` (team and profile names, quantities, durations)
instead of copying them, so an app file and portal.yaml cannot disagree on a name.
"""

from __future__ import annotations

import json
from importlib import resources

from referencing import Registry, Resource

from ..config import SCHEMA, Draft202012Validator  # through config, which keeps jsonschema's import fast

APP_SCHEMA: dict = json.loads(resources.files(__package__).joinpath("app.schema.json").read_text())
RESOURCES: dict = APP_SCHEMA["properties"]["run"]["properties"]["resources"]
VALIDATOR = Draft202012Validator(
    APP_SCHEMA, registry=Registry().with_resource(SCHEMA["$id"], Resource.from_contents(SCHEMA)))
