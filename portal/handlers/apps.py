"""Apps API: the catalog of interactive apps the caller's teams may launch, with their forms.

An app none of the caller's teams may use answers 404 like one that does not exist.
Operators see every app, which teams it is declared for, and the app files that did not
load, with their paths and reasons.
"""

from __future__ import annotations

from pathlib import Path

from tornado import web

from ..apps import App, Catalog
from ..apps.launch import team_profiles
from ..teams import Team
from .base import APIHandler


class AppsBase(APIHandler):
    @property
    def catalog(self) -> Catalog:
        return self.settings["apps"]

    async def member_teams(self) -> list[Team]:
        """The teams the caller is a member of: sessions run for one of them."""
        return [t for t in await self.readable_teams() if self.caller.name in t.members]

    def view(self, app: App, teams: list[Team]) -> dict | None:
        """The app with the caller's teams that may launch it (and for each, the profiles its
        profile field offers); None where the caller may not see it."""
        profiles = self.portal_config.profiles
        usable = [t for t in teams if app.usable_by(t.name, team_profiles(t.properties), profiles)]
        if not usable and not self.caller.is_operator:
            return None
        out = {**app.as_json(), "teams": [t.name for t in usable]}
        field = app.field("profile")
        if field is not None:
            offered = {t.name: app.offered_profiles(team_profiles(t.properties), profiles) for t in usable}
            out["form"] = [{**f, "profiles": offered} if f["id"] == field.id else f for f in out["form"]]
        if self.caller.is_operator:
            out["access"] = "all" if app.teams is None else list(app.teams)
            out["path"] = app.path
        return out


class AppsHandler(AppsBase):
    async def get(self):
        teams = await self.member_teams()
        items = [v for app in self.catalog.apps.values() if (v := self.view(app, teams)) is not None]
        body = {"items": items}
        if self.caller.is_operator:
            body["broken"] = [b.as_json() for b in self.catalog.broken]
        self.write_json(body)


class AppHandler(AppsBase):
    async def get(self, app_id):
        app = self.catalog.apps.get(app_id)
        view = self.view(app, await self.member_teams()) if app is not None else None
        if view is None:
            raise web.HTTPError(404, f"no app {app_id[:100]!r}")
        self.write_json(view)


class AppIconHandler(AppsBase):
    async def get(self, app_id):
        """An app's own SVG icon (checked at load: inside the app file's folder, small), served
        so that it can run nothing: a sandboxing CSP, no sniffing."""
        app = self.catalog.apps.get(app_id)
        if app is None or self.view(app, await self.member_teams()) is None:
            raise web.HTTPError(404, f"no app {app_id[:100]!r}")
        if not app.icon.endswith(".svg"):
            raise web.HTTPError(404, f"app {app_id!r} has the built-in icon {app.icon!r}, not a file")
        try:
            data = (Path(app.path).parent / app.icon).read_bytes()
        except OSError:
            raise web.HTTPError(404, f"the icon of app {app_id!r} is gone") from None
        self.set_header("Content-Type", "image/svg+xml")
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
        self.set_header("Cache-Control", "private, max-age=300")
        self.finish(data)


default_handlers = [
    (r"/api/v1/apps", AppsHandler),
    (r"/api/v1/apps/(?P<app_id>[^/]+)", AppHandler),
    (r"/api/v1/apps/(?P<app_id>[^/]+)/icon", AppIconHandler),
]
