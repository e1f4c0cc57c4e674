"""The interactive apps pages, Open OnDemand style: the catalog (`GET /apps`), the apps the
caller's teams may launch grouped by category, each with its launch form; and My sessions
(`GET /sessions`), whose cards the page's script keeps current from the sessions API.

The catalog is built from the same views as `GET /api/v1/apps` (AppsBase's `view` and
`member_teams`), so the page and the API cannot disagree about who may launch what.
"""

from __future__ import annotations

from tornado import web

from .apps import AppsBase
from .pages import PageHandler


def by_category(views: list[dict]) -> list[tuple[str, list[dict]]]:
    """App views grouped by `category`, categories by name; apps keep the catalog's order."""
    groups: dict[str, list[dict]] = {}
    for view in views:
        groups.setdefault(view["category"], []).append(view)
    return sorted(groups.items(), key=lambda group: group[0].casefold())


class AppsPageHandler(PageHandler):
    # The API's own rules, borrowed: a page answers HTML (and redirects to the login) where
    # the API answers JSON, so it cannot be an AppsBase itself.
    catalog = AppsBase.catalog
    member_teams = AppsBase.member_teams
    view = AppsBase.view

    @web.authenticated
    async def get(self):
        teams = await self.member_teams()
        views = [v for app in self.catalog.apps.values() if (v := self.view(app, teams)) and v["teams"]]
        self.render_page("apps.html", categories=by_category([self.with_profile_options(v) for v in views]),
                         team_names={t.name: t.display_name for t in teams},
                         broken=self.catalog.broken if self.caller.is_operator else ())

    def with_profile_options(self, view: dict) -> dict:
        """A profile field's choices per team as [value, label] pairs (labels: the profiles'
        display names), for the form's select and its script, which refills it per team."""
        profiles = self.portal_config.profiles
        form = [{**f, "options": {team: [[n, profiles[n].display_name if n in profiles else n] for n in names]
                                  for team, names in f["profiles"].items()}} if f["kind"] == "profile" else f
                for f in view["form"]]
        return {**view, "form": form}


class SessionsPageHandler(PageHandler):
    @web.authenticated
    async def get(self):
        self.render_page("sessions.html")


default_handlers = [
    (r"/apps/?", AppsPageHandler),
    (r"/sessions/?", SessionsPageHandler),
]
