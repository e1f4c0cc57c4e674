"""The OpenAPI document of the portal API: openapi.json plus the configuration's JSON Schema
(and the few lists only the code holds: declared profiles, the usage charts' ranges).

The shapes that portal.yaml and the API share (team and user names, quotas, quantities)
are written once, in portal.schema.json's `$defs`; they are copied here into
`components.schemas` under the same names, so the API cannot drift from the config rules.
"""

from __future__ import annotations

import copy
import json
from importlib import resources

from .config import SCHEMA
from .usage_charts import RANGES

_DOC = json.loads(resources.files("portal").joinpath("openapi.json").read_text())


def _rebase(node):
    """The `$defs` references of the config schema, pointed at `components.schemas`."""
    if isinstance(node, dict):
        return {k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _rebase(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


def document(server_url: str, profiles=()) -> dict:
    """The whole document, for the API served at `server_url` of a deployment whose
    declared profiles are `profiles` (the only ones a team may be given)."""
    doc = copy.deepcopy(_DOC)
    doc["servers"] = [{"url": server_url}]
    doc["components"]["schemas"].update(_rebase(SCHEMA["$defs"]))
    doc["components"]["schemas"]["TeamPatch"]["properties"]["profiles"]["items"] = {"enum": sorted(profiles)}
    doc["paths"]["/usage"]["get"]["parameters"][0]["schema"]["enum"] = list(RANGES)
    return doc
