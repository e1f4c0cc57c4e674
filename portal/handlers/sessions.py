"""Sessions API: launch an app as one of the caller's named servers, list them (stopped ones
too, newest first), stop, relaunch with the same choices, remove, and follow a start's progress.

A session belongs to the user who launched it: every route works on the caller's own
servers only, and another user's session name answers 404 like one that does not exist.
The portal checks a launch first (a 400 naming the field, nothing started); the spawner
checks it again, so a launch through the hub's own API meets the same rules.
"""

from __future__ import annotations

from urllib.parse import quote

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from ..apps import LaunchError, validate_launch
from ..apps.launch import shown
from ..hub import HubError
from ..sessions import new_name, oldest_completed, sessions_of
from .apps import AppsBase
from .base import field_error

PROGRESS_TIMEOUT = 600  # seconds a progress stream may stay open: the slowest backend's start_timeout and more



class SessionsBase(AppsBase):
    @property
    def user_path(self) -> str:
        return f"/users/{quote(self.caller.name, safe='')}"

    def server_path(self, name: str) -> str:
        return f"{self.user_path}/servers/{quote(name, safe='')}"

    @property
    def api_prefix(self) -> str:
        return f"{self.settings['prefix']}api/v1/"

    async def user_model(self) -> dict:
        """The caller's hub model with every named server, stopped ones too."""
        return await self.hub.find(f"{self.user_path}?include_stopped_servers=1") or {}

    async def sessions(self) -> list[dict]:
        return sessions_of(await self.user_model(), self.catalog.apps, self.api_prefix)

    async def session(self, name: str) -> dict:
        found = next((s for s in await self.sessions() if s["name"] == name), None)
        if found is None:
            raise web.HTTPError(404, f"no session {name[:100]!r}")
        return found

    async def check(self, app_id, values: dict):
        """A launch request → (the app, the complete user_options), or a 400 naming the field."""
        app = self.catalog.apps.get(app_id) if isinstance(app_id, str) else None
        teams = await self.member_teams()
        if app is None or self.view(app, teams) is None:
            raise field_error(LaunchError("app", f"{shown(app_id)} is not an app you may launch"))
        profiles = self.portal_config.profiles
        try:
            launch = validate_launch(app, values, {t.name: t.properties for t in teams}, profiles)
        except LaunchError as e:
            raise field_error(e) from None
        options = {"app": app.id, "team": launch.team, "values": dict(launch.values),
                   **({"profile": launch.profile} if launch.profile else {})}
        return app, options

    async def start(self, name: str, options: dict, new: bool) -> None:
        """Ask the hub to start the named server; a new one it refused is removed again, so
        a refused launch leaves nothing behind."""
        try:
            await self.hub.request("POST", self.server_path(name), options)
        except HubError as e:
            if new and e.status < 500:
                try:
                    await self.hub.request("DELETE", self.server_path(name), {"remove": True})
                except HubError as cleanup:
                    self.log.warning("refused session %s of %s not removed: %s", name, self.caller.name, cleanup)
            if e.status == 400:
                raise web.HTTPError(400, "%s", e.message) from None
            raise


class SessionsHandler(SessionsBase):
    async def get(self):
        self.write_json({"items": await self.sessions()})

    async def post(self):
        body = self.json_object()
        app, options = await self.check(body.get("app"), {k: v for k, v in body.items() if k != "app"})
        user = await self.user_model()
        sessions = sessions_of(user, self.catalog.apps, self.api_prefix)
        running = sum(1 for s in sessions if s["app"] == app.id and s["state"] != "completed")
        if running >= app.max_sessions:
            raise field_error(LaunchError("app", f"you already run {running} session(s) of {app.name}, the most "
                                                 "one user may run at once; stop one first"))
        named = {name: server for name, server in (user.get("servers") or {}).items() if name}
        limit = self.portal_config.raw["hub"]["named_server_limit"]
        if limit:  # the hub counts stopped named servers too: the oldest completed sessions make room
            active = sum(1 for server in named.values() if not server.get("stopped"))
            if active >= limit:
                raise field_error(LaunchError("app", f"you already run {active} servers and sessions, the most "
                                                     "one user may run at once; stop one first"))
            for old in oldest_completed(sessions, len(named) - limit + 1):
                await self.hub.request("DELETE", self.server_path(old), {"remove": True})
        name = new_name(app.id, named)
        await self.start(name, options, new=True)
        self.write_json(await self.session(name), status=202)


class SessionHandler(SessionsBase):
    async def get(self, name):
        self.write_json(await self.session(name))

    async def delete(self, name):
        """Stop a session that runs; remove one that has completed."""
        session = await self.session(name)
        completed = session["state"] == "completed"
        await self.hub.request("DELETE", self.server_path(name), {"remove": completed})
        if completed:
            self.set_status(204)
            self.finish()
        else:
            self.write_json(await self.session(name), status=202)


class RelaunchHandler(SessionsBase):
    async def post(self, name):
        """A completed session again, with the same app, team and values, checked anew (the
        team's profiles or the app may have changed since)."""
        session = await self.session(name)
        if session["state"] != "completed":
            raise web.HTTPError(409, f"session {name!r} is {session['state']}; only a completed one is relaunched")
        _, options = await self.check(session["app"], {"team": session["team"], **session["values"]})
        await self.start(name, options, new=False)
        self.write_json(await self.session(name), status=202)


class ProgressHandler(SessionsBase):
    async def get(self, name):
        """The hub's progress events of the session's start (text/event-stream), relayed: the
        page cannot ask the hub's API itself with the portal's login."""
        await self.session(name)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        hub = self.hub

        def relay(chunk: bytes) -> None:
            if not self.request.connection.stream.closed():
                self.write(chunk)
                self.flush()

        try:
            await AsyncHTTPClient().fetch(
                f"{hub.api_url}{self.server_path(name)}/progress", headers={"Authorization": f"token {hub.token}"},
                streaming_callback=relay, request_timeout=PROGRESS_TIMEOUT)
        except HTTPClientError as e:  # the stream ended early (the hub restarted, the timeout): the page polls on
            self.log.info("progress of session %s of %s ended: %s", name, self.caller.name, e)
        self.finish()


default_handlers = [
    (r"/api/v1/sessions", SessionsHandler),
    (r"/api/v1/sessions/(?P<name>[^/]+)", SessionHandler),
    (r"/api/v1/sessions/(?P<name>[^/]+)/relaunch", RelaunchHandler),
    (r"/api/v1/sessions/(?P<name>[^/]+)/progress", ProgressHandler),
]
