"""aiportal: the portal service, its hub configuration helpers and the `aiportal` command."""

from importlib import resources

#: Templates the hub uses too (hub_config adds this folder to JupyterHub's template_paths).
#: Here rather than in portal.app, so the hub's config does not import the service's handlers.
SHARED_TEMPLATES = str(resources.files("portal").joinpath("shared_templates"))
