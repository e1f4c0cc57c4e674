"""App sessions as the portal shows them: a user's named servers that run an app, from the
hub's server models (stopped ones included), as the cards of *My sessions*.

The spawner decides and records (spawners/sessions.py: the launch rules, the walltime, why
a session ended); this module only reads its record, so what a card says is what happened.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from .apps import App

STATES = ("starting", "running", "stopping", "completed")


def server_state(server: dict) -> str:
    if server.get("stopped"):
        return "completed"
    if server.get("ready"):
        return "running"
    return "stopping" if server.get("pending") == "stop" else "starting"


def is_session(server: dict) -> bool:
    return isinstance((server.get("user_options") or {}).get("app"), str)


def session_view(name: str, server: dict, apps: dict[str, App], api_prefix: str) -> dict:
    """One card: a hub server model of an app session → what the API and page show.

    `api_prefix`: the portal API's URL path (…/api/v1/), for the session's progress stream.
    An app no longer in the catalog still shows, under its id.
    """
    options = server["user_options"]
    app = apps.get(options["app"])
    record = (server.get("state") or {}).get("session") or {}
    state = server_state(server)
    values = options.get("values") if isinstance(options.get("values"), dict) else {}
    ended = state == "completed"
    reason = record.get("reason") if ended else None
    return {
        "name": name, "app": options["app"], "app_name": app.name if app else options["app"],
        "icon": app.icon if app and "/" not in app.icon and not app.icon.endswith(".svg") else "app",
        "team": options.get("team"), "profile": options.get("profile"), "image": app.image if app else None,
        "values": values, "hours": record.get("hours", values.get("hours")), "state": state,
        "reason": (reason or "failed") if ended else None,
        "message": (record.get("message") or "Did not start") if ended else "",
        "host": record.get("host"), "created": record.get("created"),
        "started": record.get("started"),
        "ends_at": None if ended else record.get("ends_at"), "ended": record.get("ended") if ended else None,
        "connect_url": f"{server['url']}{app.url.lstrip('/')}" if app and state == "running" else None,
        "progress_url": f"{api_prefix}sessions/{quote(name, safe='')}/progress",
    }


def sessions_of(user: dict, apps: dict[str, App], api_prefix: str) -> list[dict]:
    """A hub user model (with stopped servers) → its sessions, newest first."""
    views = [session_view(name, server, apps, api_prefix)
             for name, server in (user.get("servers") or {}).items() if name and is_session(server)]
    return sorted(views, key=lambda v: (v["created"] or "", v["name"]), reverse=True)


def new_name(app_id: str, taken) -> str:
    """A fresh server name for a session of the app: `desktop-7f3a`."""
    while True:
        name = f"{app_id}-{secrets.token_hex(2)}"
        if name not in taken:
            return name


def oldest_completed(sessions: list[dict], count: int) -> list[str]:
    """The `count` oldest completed sessions: removed to make room under the hub's limit of
    named servers per user, which counts stopped ones too."""
    done = [s["name"] for s in reversed(sessions) if s["state"] == "completed"]
    return done[:max(count, 0)]
