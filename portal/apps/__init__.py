"""Interactive apps, Open OnDemand style: an app is a YAML file (app.schema.json), not code.

- `schema`: the app file's JSON Schema and validator;
- `model`: App and Field, an app file with its defaults applied, and who may use it;
- `loader`: the catalog (built-ins in `builtin/`, plus portal.yaml's `apps.directory`),
  with every broken file's path and reasons;
- `launch`: a launch request's form values → the session's resolved choices, or the field at fault.
"""

from .launch import Launch, LaunchError, validate_launch
from .loader import Broken, Catalog, catalog_for, load_catalog
from .model import App, Field

__all__ = ["App", "Broken", "Catalog", "Field", "Launch", "LaunchError", "catalog_for", "load_catalog",
           "validate_launch"]
