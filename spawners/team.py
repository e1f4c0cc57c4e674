"""TeamSpawnerMixin: what every backend adds to its JupyterHub spawner.

The form, validation of user_options, the resolved profile, the team's quotas, and the
team's S3 keys in the server's environment; backends read `self.profile` in start(), start
the server inside `reserved()`, say what their running servers hold, and call get_env().
The teams' released versions come from the portal database (`ReleasedVersions`), and a
spawn that fails is written there (`spawn_failures`) for the portal's metrics. An app
session (user_options with `app`, sessions.py) is checked against the app catalog, limited
to the app's `max_sessions` per user, and stopped when its walltime is up.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Any, Callable, Dict, Float, Unicode
from traitlets.config import LoggingConfigurable

from .failures import classify
from .portal_db import PortalRecords
from .profiles import ProfileError, ResolvedProfile, options_form, options_from_form, resolve
from .quotas import Holding, Ledger, QuotaRefused, limits, server_key
from .sessions import SessionRecord, is_session, resolve_session, running_sessions, stop_reason


def refuse(message: str, status: int = 400, failure: str | None = None) -> web.HTTPError:
    """An HTTP error whose message reaches both the API caller and the spawn page.

    The API answers `log_message`; the spawn page shows `jupyterhub_message`, which
    would otherwise be "HTTP 400: Bad Request (…)". `failure` is the reason a failed
    spawn is counted under (failures.REASONS; default "error").
    """
    error = web.HTTPError(status, message)
    error.jupyterhub_message = message
    error.spawn_failure = failure
    return error


class ReleasedVersions(PortalRecords):
    """teams → {team: its successful promotions, newest first}: the hub's
    `Spawner.released_versions`, read from the portal database at every form and every start
    of a released version, so a version promoted a moment ago can be started."""

    def __call__(self, teams: list[str]) -> dict[str, list[dict]]:
        from portal.promotion.records import Promotions

        by_team = {team: [] for team in teams}
        for record in Promotions(self.database()).released(teams):
            by_team[record["team"]].append(record)
        return by_team


class TeamSpawnerMixin(LoggingConfigurable):
    profiles = Dict(config=True, help="Declared profiles by name (from portal.yaml).")
    notice = Unicode("", config=True, help="Shown above the spawn form, e.g. why servers are not containers.")
    profile = Any(None, allow_none=True, help="The ResolvedProfile of the current spawn.")
    holding = Any(None, allow_none=True, help="What the current server holds (a quotas.Holding), "
                  "from its reservation on.")
    team_env = Callable(None, allow_none=True, config=True, help="""(team, may_delete) → environment
        variables giving the team's servers its S3 bucket (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
        AWS_ENDPOINT_URL, S3_BUCKET), with keys that cannot delete objects unless may_delete.
        Blocking; called in a thread at every spawn, so servers started after a key rotation get
        the new keys. None: no storage variables.""")
    released_versions = Callable(None, allow_none=True, config=True, help="""(teams) → {team: its
        released versions} (dicts as portal.promotion.records' `released` gives), which members
        may start as prod-mode servers. Blocking; called in a thread for the form and for each
        start of a released version. None: no released versions.""")
    spawn_failures = Callable(None, allow_none=True, config=True, help="""(team, reason) → records a
        failed spawn of the team (failures.SpawnFailures). Blocking; called in a thread after the
        spawn failed. None: failures are not recorded.""")
    apps = Dict(config=True, help="The interactive apps by id (portal.apps.App), for app sessions.")
    walltime_hour = Float(3600, config=True, help="Seconds in an hour of a session's walltime "
                          "(tests shorten it).")
    session = Any(None, allow_none=True, help="The app session's SessionRecord; kept after a stop.")
    _ending = Unicode("", help="Why the server is being stopped, when the spawner itself stops it.")
    _team_env_values = Dict()
    _ledger: Ledger | None = None
    _recording: set[asyncio.Task] = set()  # failure writes in progress, kept from the garbage collector

    def user_teams(self) -> dict[str, dict]:
        """The user's teams as hub groups: name → properties."""
        return {g.name: dict(g.properties or {}) for g in self.user.groups}

    def new_ledger(self) -> Ledger:
        """The hub process's ledger; a backend that gives out GPUs names them."""
        return Ledger()

    @property
    def ledger(self) -> Ledger:
        """One ledger per hub process, like DockerSpawner's client."""
        cls = type(self)
        if cls._ledger is None:
            cls._ledger = self.new_ledger()
        return cls._ledger

    @property
    def server_key(self) -> str:
        return server_key(self.user.name, self.name)

    async def running_holdings(self) -> dict[str, Holding]:
        """What this backend's running servers hold, by server key: the ledger's record."""
        raise NotImplementedError

    @asynccontextmanager
    async def reserved(self):
        """Reserve what the profile needs within the team's quota (HTTP 400 if it cannot),
        for the start of the server inside this block; quotas are read from the group
        properties now, so a changed quota applies to the next spawn."""
        profile, key = self.profile, self.server_key
        team_limits = limits(self.user_teams().get(profile.team, {}))
        async with self.ledger.lock:
            running = await self.running_holdings()
            try:
                self.holding = self.ledger.reserve(key, profile, team_limits, running)
            except QuotaRefused as e:
                raise refuse(str(e), failure="quota") from None
        try:
            yield self.holding
        finally:
            await self.ledger.settle(key)

    async def answering(self, url: str) -> None:
        """Return once the server answers `url` (its API), polling every 0.1 s.

        The hub's own wait backs off to seconds between tries, which for a server that is
        up in a few seconds can add seconds before the user's first page.
        """
        client = AsyncHTTPClient()
        deadline = time.monotonic() + self.http_timeout
        for attempt in itertools.count():
            try:
                if (await client.fetch(url, raise_error=False, request_timeout=2)).code < 500:
                    return
            except (OSError, HTTPClientError):  # not listening yet
                pass
            if time.monotonic() > deadline:
                return  # the hub waits too, and reports the timeout itself
            if attempt % 10 == 9 and (status := await self.poll()) is not None:
                raise refuse(f"the server exited while starting ({status})", 500)
            await asyncio.sleep(0.1)

    async def team_notes(self, teams: dict[str, dict]) -> dict[str, str]:
        """Per-team remarks for the form: what is free, where a limit or GPUs apply."""
        gpu_profiles = {team: any(self.profiles.get(p, {}).get("gpus") for p in props.get("profiles") or ())
                        for team, props in teams.items()}
        shown = [team for team, props in teams.items()
                 if limits(props) or (gpu_profiles[team] and self.ledger.inventory)]
        if not shown:
            return {}
        running = await self.running_holdings()
        return {team: self.ledger.describe(team, limits(teams[team]), running, gpu_profiles[team])
                for team in shown}

    async def released(self, teams: dict[str, dict]) -> dict[str, list[dict]]:
        """The teams' released versions, now (`released_versions`)."""
        if not self.released_versions:
            return {}
        return await asyncio.to_thread(self.released_versions, sorted(teams))

    async def _options_form(self, spawner=None):
        teams = self.user_teams()
        try:
            released = await self.released(teams)
        except Exception as e:  # the form's profiles do not need them
            self.log.warning("promoted versions are not listed: %s", e)
            released = {}
        return options_form(teams, self.profiles, await self.team_notes(teams), self.notice, released)

    def options_from_form(self, formdata):
        try:
            return options_from_form(formdata)
        except ProfileError as e:
            raise refuse(str(e)) from None

    async def _apply_options(self, spawner, user_options):
        teams = self.user_teams()
        try:
            wanted = isinstance(user_options, dict) and "promotion" in user_options
            released = await self.released(teams) if wanted else {}
        except Exception as e:
            self.log.error("promoted versions unavailable: %s", e)
            raise refuse("promoted versions are unavailable; try again later", 503) from None
        try:
            if is_session(user_options):
                self.profile, chosen = resolve_session(user_options, teams, self.profiles, self.apps)
                self.begin_session()
            else:
                self.profile = resolve(user_options, teams, self.profiles, released)
                chosen = {**user_options, "team": self.profile.team, "profile": self.profile.profile}
        except ProfileError as e:
            raise refuse(str(e)) from None
        self.default_url = self.profile.default_url
        # the resolved choice in the server's options (also when they left it to the defaults):
        # the hub API shows them, and the overview, metrics and idle culler go by them
        if chosen != user_options:
            self.user_options = self.orm_spawner.user_options = chosen
        self.count_failure(self.profile.team)
        self.log.info("%s starts %s of team %s", self._log_name, self.profile.display_name,
                      self.profile.team)
        team = self.profile.team
        props = teams[team]
        may_delete = props.get("delete_policy") != "admins" or self.user.name in props.get("admins", [])
        try:
            self._team_env_values = await self.storage_env(team, props, may_delete)
        except Exception as e:
            self.log.error("no storage keys for team %s: %s", team, e)
            raise web.HTTPError(503, f"the storage of team {team!r} is unavailable; try again later") from None

    def begin_session(self) -> None:
        """Hold the app's per-user limit and start the session's record (walltime from now).

        No await between counting and the start being pending: concurrent launches of one
        user run in the hub's one event loop, so they cannot both see room for one more.
        """
        app = self.apps[self.profile.session["app"]]
        running = running_sessions(self.user.spawners.values(), app.id, besides=self)
        if running >= app.max_sessions:
            raise ProfileError(f"app: you already run {running} session(s) of {app.name}, the most one user "
                               f"may run at once; stop one first")
        self.session = SessionRecord.begin(self.session and self.session.as_state(), self.profile.session,
                                           self.walltime_hour, self.session_host(), datetime.now(UTC))
        spawn = self._spawn_future
        if spawn is not None:
            spawn.add_done_callback(self._session_failed)

    def session_host(self) -> str:
        """Where the session runs, for its card: this machine (a backend may know better)."""
        return socket.gethostname()

    def _session_failed(self, future) -> None:
        """A session that did not start says why on its card (after the hub's stop wrote 'stopped')."""
        if future.cancelled() or future.exception() is None or self.session is None:
            return
        error = future.exception()
        detail = getattr(error, "jupyterhub_message", None) or getattr(error, "log_message", None) or str(error)
        self.session.end("failed", datetime.now(UTC), detail or type(error).__name__)
        try:
            self.orm_spawner.state = self.get_state()
            self.db.commit()
        except Exception as e:  # the failure itself is logged by the hub
            self.log.error("the failed session %s was not recorded: %s", self._log_name, e)

    async def poll(self):
        """The backend's status; a session past its walltime is stopped here (the hub polls
        every poll_interval and, seeing a status, cleans up as for a server that exited)."""
        status = await super().poll()
        if status is None and self.session is not None and self.session.over(datetime.now(UTC)):
            self.log.info("%s reached its walltime of %s h: stopping it", self._log_name, self.session.hours)
            self._ending = "walltime"
            await self.stop()
            return "walltime"
        return status

    async def stop(self, now=False):
        if self.session is not None and self.session.ended is None and not self._ending:
            self._ending = stop_reason(self.session, self.orm_spawner.last_activity, datetime.now(UTC))
        return await super().stop(now=now)

    def count_failure(self, team: str) -> None:
        """Record the spawn in progress if it fails, with the reason its exception gives.

        Watched from here, once the team is known to be one of the user's: the hub's spawn
        future ends with every failure of the spawn, including the hub's own timeouts.
        """
        spawn = self._spawn_future
        if self.spawn_failures is None or spawn is None:
            return

        def ended(future):
            if not future.cancelled() and future.exception() is not None:
                task = asyncio.ensure_future(self._record_failure(team, classify(future.exception())))
                self._recording.add(task)
                task.add_done_callback(self._recording.discard)

        spawn.add_done_callback(ended)

    async def _record_failure(self, team: str, reason: str) -> None:
        try:
            await asyncio.to_thread(self.spawn_failures, team, reason)
        except Exception as e:  # the spawn has failed already; a lost count must not add to it
            self.log.error("the failed spawn of %s (team %s, %s) was not recorded: %s",
                           self._log_name, team, reason, e)

    async def storage_env(self, team: str, properties: dict, may_delete: bool) -> dict:
        """The server's S3 variables (`team_env`'s values; a backend may give references)."""
        return await asyncio.to_thread(self.team_env, team, may_delete) if self.team_env else {}

    def get_env(self):
        env = {**super().get_env(), **self._team_env_values}
        if self.profile is not None and self.profile.session:  # what the app's form asked, for the app
            session = self.profile.session
            env["AIPORTAL_APP"] = session["app"]
            env["AIPORTAL_SESSION_ENDS_AT"] = self.session.ends_at if self.session else ""
            env.update({f"AIPORTAL_FIELD_{key.upper()}": str(value) for key, value in session["values"].items()})
        return env

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.apply_user_options:
            self.apply_user_options = self._apply_options
        if not self.options_form:
            self.options_form = self._options_form

    def get_state(self):
        state = super().get_state()
        if self.profile:
            state["profile"] = self.profile.__dict__
        if self.holding:  # the hub API shows it to the portal: which team holds which GPU
            state["holding"] = asdict(self.holding)
        if self.session is not None:  # kept after a stop: My sessions shows how it ended
            state["session"] = self.session.as_state()
        return state

    def load_state(self, state):
        super().load_state(state)
        if state.get("profile"):
            self.profile = ResolvedProfile(**state["profile"])
        if state.get("holding"):
            self.holding = Holding(**{**state["holding"], "gpus": tuple(state["holding"]["gpus"])})
        if state.get("session"):
            self.session = SessionRecord(**state["session"])

    def clear_state(self):
        """After a stop (and before a start): the server's state goes, the session's record
        stays, ended now for the reason the spawner knows (else: stopped)."""
        super().clear_state()
        self.profile = self.holding = None
        if self.session is not None and self.session.ended is None:
            self.session.end(self._ending or "stopped", datetime.now(UTC))
        self._ending = ""
