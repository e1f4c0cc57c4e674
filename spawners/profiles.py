"""Profile resolution shared by every spawner backend.

user options {"team", "profile", "promotion"} + the user's teams (hub groups) + declared
profiles + the teams' released versions → a ResolvedProfile. Pure functions: no hub, no
engine, so both backends and the tests use exactly the same rules.

A released version (a successful promotion) runs as a prod-mode server: its image pulled by
digest, with the resources of one of the team's prod-mode profiles, so the team sees exactly
what hospitals run.
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
    promotion: int | None = None  # the released version it runs, if any
    version: str = ""
    session: dict | None = None  # an app session's url, hours, idle_timeout and values (sessions.py)

    @property
    def default_url(self) -> str:
        return self.session["url"] if self.session else APP_URLS.get(self.app, "/")


def allowed(teams: dict[str, dict], profiles: dict[str, dict]) -> dict[str, list[str]]:
    """team → the profile names it may use that are actually defined, in declared order."""
    return {team: [p for p in (props.get("profiles") or []) if p in profiles]
            for team, props in sorted(teams.items())}


def prod_profiles(names: list[str], profiles: dict[str, dict]) -> list[str]:
    """Those of `names` that run in prod mode: the ones a released version may run in."""
    return [name for name in names if profiles[name]["mode"] == "prod"]


def pinned(image: str, digest: str) -> str:
    """`registry/path:tag` → `registry/path@digest`: the exact image that was promoted,
    whatever the tag points at now (a registry port's colon is not a tag's)."""
    repository, _, last = image.split("@")[0].rpartition("/")
    name = last.split(":")[0]
    return f"{repository}/{name}@{digest}" if repository else f"{name}@{digest}"


def short_digest(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def resolve(options, teams: dict[str, dict], profiles: dict[str, dict],
            released: dict[str, list[dict]] | None = None) -> ResolvedProfile:
    """Check options against the user's teams; raise ProfileError saying what is wrong.

    `released`: team → its released versions (portal.promotion.records' `released`).
    """
    if not isinstance(options, dict):
        raise ProfileError("user_options must be a JSON object with 'team' and 'profile'")
    unknown = set(options) - {"team", "profile", "promotion"}
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
    if "promotion" in options:
        return _resolve_release(team, options["promotion"], profile, choices[team], profiles,
                                (released or {}).get(team, []))
    if profile is None and len(choices[team]) == 1:
        profile = choices[team][0]
    if not isinstance(profile, str) or profile not in choices[team]:
        names = ", ".join(choices[team]) or "none"
        raise ProfileError(f"profile: {str(profile)[:64]!r} is not allowed for team {team!r} "
                           f"(allowed: {names})")
    p = profiles[profile]
    return ResolvedProfile(team=team, profile=profile, display_name=p["display_name"], image=p["image"],
                           mode=p["mode"], cpu=p["cpu"], memory=p["memory"], gpus=p["gpus"], app=p["app"])


def _resolve_release(team: str, promotion, profile, allowed_names: list[str], profiles: dict[str, dict],
                     released: list[dict]) -> ResolvedProfile:
    """A released version of `team` in one of its prod-mode profiles.

    Another team's promotion is refused with the words of an unknown one: its id says
    nothing about the other team.
    """
    if isinstance(promotion, bool) or not isinstance(promotion, int):
        raise ProfileError(f"promotion: {str(promotion)[:64]!r} is not a promotion id (a whole number)")
    release = next((r for r in released if r["id"] == promotion and r.get("status") == "success"
                    and r.get("digest") and r.get("image")), None)
    if release is None:
        raise ProfileError(f"promotion: {promotion} is not a promoted version of team {team!r}")
    prod = prod_profiles(allowed_names, profiles)
    if profile is None and len(prod) == 1:
        profile = prod[0]
    if not isinstance(profile, str) or profile not in prod:
        raise ProfileError(f"profile: {str(profile)[:64]!r} is not a prod-mode profile of team {team!r}; "
                           f"a promoted version runs in one of: {', '.join(prod) or 'none (ask an operator)'}")
    p = profiles[profile]
    return ResolvedProfile(
        team=team, profile=profile, display_name=f"{release['project']} {release['version']} ({p['display_name']})",
        image=pinned(release["image"], release["digest"]), mode="prod", cpu=p["cpu"], memory=p["memory"],
        gpus=p["gpus"], app=p["app"], promotion=promotion, version=release["version"])


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


def _radio(value: str, label: str, desc: str, checked: bool) -> str:
    value = html.escape(value)
    return (f'<div class="form-check"><input class="form-check-input" type="radio" '
            f'name="profile" id="p-{value}" value="{value}"{" checked" if checked else ""}>'
            f'<label class="form-check-label" for="p-{value}">{label} <small>({html.escape(desc)})</small>'
            '</label></div>')


def _resources(p: dict) -> str:
    return f"{p['cpu']} CPU, {human_bytes(p['memory'])}, {p['gpus']} GPU"


def _releases(team: str, prod: list[str], profiles: dict[str, dict], released: list[dict]) -> list[str]:
    """The team's "Promoted versions" group: a radio per released version (newest first) and
    prod-mode profile, valued `team/profile@promotion`."""
    if not (prod and released):
        return []
    parts = ['<fieldset class="ms-3 promoted-versions"><legend class="small">Promoted versions</legend>']
    for r in sorted(released, key=lambda r: r["id"], reverse=True):
        for name in prod:
            p = profiles[name]
            label = f'{html.escape(r["project"])} {html.escape(r["version"])}'
            parts.append(_radio(f"{team}/{name}@{r['id']}", label,
                                f"{short_digest(r['digest'])}, {p['display_name']}: {_resources(p)}", False))
    parts.append("</fieldset>")
    return parts


def options_form(teams: dict[str, dict], profiles: dict[str, dict], notes: dict[str, str],
                 notice: str = "", released: dict[str, list[dict]] | None = None) -> str:
    """The spawn form: one radio per (team, profile) the user may start, then the team's
    promoted versions (`released`, where it has a prod-mode profile); `notes` per team.
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
            parts.append(_radio(f"{team}/{name}", html.escape(p["display_name"]),
                                f"{_resources(p)}, {p['mode']} mode", first))
            first = False
        parts += _releases(team, prod_profiles(names, profiles), profiles, (released or {}).get(team, []))
        parts.append("</fieldset>")
    parts.append(PRESELECT_SCRIPT)
    return "\n".join(parts)


def options_from_form(formdata: dict) -> dict:
    """The radio's `team/profile` or `team/profile@promotion` → {"team", "profile"[, "promotion"]}.

    Also the spawn page's query arguments (`?profile=team/profile&promotion=12`, the link
    that starts a promoted version at once).
    """
    value = (formdata.get("profile") or [""])[0]
    team, _, profile = value.partition("/")
    profile, at, promotion = profile.partition("@")
    given = [promotion] if at else []
    given += formdata.get("promotion") or []
    if not given:
        return {"team": team, "profile": profile}
    if len(given) > 1:
        raise ProfileError("promotion: give one promotion id")
    if not (given[0].isascii() and given[0].isdecimal() and len(given[0]) <= 18):
        raise ProfileError(f"promotion: {given[0][:64]!r} is not a promotion id (a whole number)")
    return {"team": team, "profile": profile, "promotion": int(given[0])}
