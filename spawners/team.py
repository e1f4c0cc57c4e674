"""TeamSpawnerMixin: what every backend adds to its JupyterHub spawner.

The form, validation of user_options, and the resolved profile; backends read
`self.profile` in start().
"""

from __future__ import annotations

from tornado import web
from traitlets import Any, Dict, Unicode
from traitlets.config import LoggingConfigurable

from .profiles import ProfileError, ResolvedProfile, options_form, options_from_form, resolve


def refuse(message: str, status: int = 400) -> web.HTTPError:
    """An HTTP error whose message reaches both the API caller and the spawn page.

    The API answers `log_message`; the spawn page shows `jupyterhub_message`, which
    would otherwise be "HTTP 400: Bad Request (…)".
    """
    error = web.HTTPError(status, message)
    error.jupyterhub_message = message
    return error


class TeamSpawnerMixin(LoggingConfigurable):
    profiles = Dict(config=True, help="Declared profiles by name (from portal.yaml).")
    notice = Unicode("", config=True, help="Shown above the spawn form, e.g. why servers are not containers.")
    profile = Any(None, allow_none=True, help="The ResolvedProfile of the current spawn.")

    def user_teams(self) -> dict[str, dict]:
        """The user's teams as hub groups: name → properties."""
        return {g.name: dict(g.properties or {}) for g in self.user.groups}

    async def team_notes(self, teams: dict[str, dict]) -> dict[str, str]:
        """Per-team remarks for the form; backends add GPU availability."""
        return {}

    async def team_env(self) -> dict[str, str]:
        """Environment for a server of `self.profile.team` (e.g. team-scoped storage keys).

        The hub's own environment never reaches a server: add here what the team's
        servers should see.
        """
        return {}

    async def _options_form(self, spawner=None):
        teams = self.user_teams()
        return options_form(teams, self.profiles, await self.team_notes(teams), self.notice)

    def options_from_form(self, formdata):
        return options_from_form(formdata)

    def _apply_options(self, spawner, user_options):
        try:
            self.profile = resolve(user_options, self.user_teams(), self.profiles)
        except ProfileError as e:
            raise refuse(str(e)) from None
        self.default_url = self.profile.default_url
        self.log.info("%s starts %s of team %s", self._log_name, self.profile.profile,
                      self.profile.team)

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
        return state

    def load_state(self, state):
        super().load_state(state)
        if state.get("profile"):
            self.profile = ResolvedProfile(**state["profile"])

    def clear_state(self):
        super().clear_state()
        self.profile = None
