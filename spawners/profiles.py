"""Profile resolution shared by every spawner backend.

user options {"team", "profile"} + the user's teams (hub groups) + declared profiles
→ a ResolvedProfile. Pure functions: no hub, no engine, so both backends and the tests
use exactly the same rules.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from portal.names import is_team_name

from .quotas import human_bytes

#: Where each app opens, relative to the server's URL. Apps as data; more come with apps.yaml.
APP_URLS = {"jupyter": "/lab", "desktop": "/desktop/"}


class ProfileError(ValueError):
    """user_options that cannot be honoured; the message is shown to the user."""


@dataclass(frozen=True)
class ResolvedProfile:
    team: str
    profile: str
    display_name: str
    image: str
    mode: str
    cpu: float
    memory: int
    gpus: int
    app: str

    @property
    def default_url(self) -> str:
        return APP_URLS.get(self.app, "/")


def allowed(teams: dict[str, dict], profiles: dict[str, dict]) -> dict[str, list[str]]:
    """team → the profile names it may use that are actually defined, in declared order."""
    return {team: [p for p in (props.get("profiles") or []) if p in profiles]
            for team, props in sorted(teams.items())}


def resolve(options, teams: dict[str, dict], profiles: dict[str, dict]) -> ResolvedProfile:
    """Check options against the user's teams; raise ProfileError saying what is wrong."""
    if not isinstance(options, dict):
        raise ProfileError("user_options must be a JSON object with 'team' and 'profile'")
    unknown = set(options) - {"team", "profile"}
    if unknown:
        raise ProfileError(f"unknown user option(s): {', '.join(sorted(map(str, unknown)))}")
    choices = allowed(teams, profiles)
    team, profile = options.get("team"), options.get("profile")
    if team is None and len(choices) == 1:
        team = next(iter(choices))
    if not is_team_name(team):
        raise ProfileError("team: give the name of one of your teams"
                           + (f" ({', '.join(choices)})" if choices else ": you are in no team"))
    if team not in choices:
        raise ProfileError(f"team: you are not a member of team {team!r}")
    if profile is None and len(choices[team]) == 1:
        profile = choices[team][0]
    if not isinstance(profile, str) or profile not in choices[team]:
        names = ", ".join(choices[team]) or "none"
        raise ProfileError(f"profile: {str(profile)[:64]!r} is not allowed for team {team!r} "
                           f"(allowed: {names})")
    p = profiles[profile]
    return ResolvedProfile(team=team, profile=profile, display_name=p["display_name"], image=p["image"],
                           mode=p["mode"], cpu=p["cpu"], memory=p["memory"], gpus=p["gpus"], app=p["app"])


#: Chooses the first profile of the team named in the page's fragment (`/hub/spawn#team=NAME`,
#: the link on a team's card). A fragment, not a query: JupyterHub starts a server at once
#: when the spawn page gets query arguments, and a link must only open the form.
PRESELECT_SCRIPT = """<script>
(function () {
  var team = new URLSearchParams(location.hash.slice(1)).get("team");
  document.querySelectorAll("fieldset[data-team]").forEach(function (set) {
    var first = set.querySelector("input[type=radio]");
    if (team && set.dataset.team === team && first) { first.checked = true; set.scrollIntoView(); }
  });
})();
</script>"""


def options_form(teams: dict[str, dict], profiles: dict[str, dict], notes: dict[str, str],
                 notice: str = "") -> str:
    """The spawn form: one radio per (team, profile) the user may start; `notes` per team.
    The first profile is chosen, or the first of the team named in the URL's fragment."""
    choices = allowed(teams, profiles)
    banner = f'<div class="alert alert-info" id="spawn-notice">{html.escape(notice)}</div>' if notice else ""
    if not any(choices.values()):
        return banner + ('<div class="alert alert-warning" id="no-profiles">You are in no team with a '
                         'profile to start. Ask a team admin.</div>')
    parts, first = [banner], True
    for team, names in choices.items():
        label = html.escape(teams[team].get("display_name") or team)
        note = html.escape(notes.get(team, ""))
        parts.append(f'<fieldset class="mb-3" data-team="{html.escape(team)}"><legend class="h6">{label} '
                     f'<small class="text-body-secondary team-note">{note}</small></legend>')
        for name in names:
            p = profiles[name]
            value = html.escape(f"{team}/{name}")
            desc = html.escape(f"{p['cpu']} CPU, {human_bytes(p['memory'])}, {p['gpus']} GPU, {p['mode']} mode")
            parts.append(
                f'<div class="form-check"><input class="form-check-input" type="radio" '
                f'name="profile" id="p-{value}" value="{value}"{" checked" if first else ""}>'
                f'<label class="form-check-label" for="p-{value}">'
                f'{html.escape(p["display_name"])} <small>({desc})</small></label></div>')
            first = False
        parts.append("</fieldset>")
    parts.append(PRESELECT_SCRIPT)
    return "\n".join(parts)


def options_from_form(formdata: dict) -> dict:
    """'team/profile' from the radio button → {"team", "profile"}."""
    value = (formdata.get("profile") or [""])[0]
    team, _, profile = value.partition("/")
    return {"team": team, "profile": profile}
