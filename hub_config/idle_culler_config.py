"""jupyterhub-idle-culler's config file (its `--config`, set by jupyterhub_config.py): each
server's idle limit is its profile's, from the limits the hub hands over (portal/culling.py)."""

import os

from portal import culling

c = get_config()  # noqa: F821  (provided by traitlets)
c.IdleCuller.cull_arbiter_hook = culling.arbiter(culling.limits_from_env(os.environ))
