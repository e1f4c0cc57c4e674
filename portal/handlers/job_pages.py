"""A team's Jobs page (`GET /teams/<team>/jobs`): the submit form (a promoted version or, for
testing, a dev profile; a declared or typed command; input and output folders; resources and
walltime) and the table of the team's jobs, which the page's script keeps current from the
jobs API. Members and operators; anyone else gets the 404 of the other team pages.
"""

from __future__ import annotations

import asyncio

from tornado import web

from ..jobs.spec import JOB_SCHEMA, MAX_WALLTIME
from ..promotion.records import Promotions
from ..rbac import READ
from .base import team_scope
from .jobs import NO_RUNNER
from .pages import PageHandler

RESOURCE_DEFAULTS = {name: field["default"]
                     for name, field in JOB_SCHEMA["properties"]["resources"]["properties"].items()}
WALLTIME_DEFAULT = JOB_SCHEMA["properties"]["walltime"]["default"]


def version_choices(released: list[dict]) -> list[dict]:
    """A team's successful promotions (newest first) as the form's choices: the value the
    API takes (PROJECT:vX.Y.Z) and a label for people ("project vX.Y.Z")."""
    return [{"value": f"{r['project']}:{r['version']}", "label": f"{r['project']} {r['version']}"}
            for r in released]


def dev_profiles(team, profiles) -> list[dict]:
    """The team's dev profiles (what a dev job may run), in the team's order."""
    return [{"name": name, "label": profiles[name].display_name}
            for name in team.properties.get("profiles") or () if name in profiles and profiles[name].mode == "dev"]


class JobsPageHandler(PageHandler):
    @web.authenticated
    @team_scope(READ)
    async def get(self, team):
        if self.settings.get("job_runner") is None:  # the team page shows no Jobs button then
            raise web.HTTPError(503, NO_RUNNER)
        released = await asyncio.to_thread(Promotions(self.settings["db"]).released, [team])
        self.render_page("jobs.html", team=self.team, versions=version_choices(released),
                         profiles=dev_profiles(self.team, self.portal_config.profiles),
                         defaults={**RESOURCE_DEFAULTS, "walltime": WALLTIME_DEFAULT},
                         max_walltime_days=MAX_WALLTIME // 86400,
                         promotion_on=self.settings.get("promotion") is not None)


default_handlers = [
    (r"/teams/(?P<team>[^/]+)/jobs/?", JobsPageHandler),
]
