"""A session's walltime is enforced: when its time is up the spawner stops it (the hub's
poll), its container is gone, and the session says it completed because of its walltime,
in the API and on its My sessions card, also after the hub restarted. On a portal whose
walltime hour is 20 seconds (AIPORTAL_WALLTIME_HOUR, the knob for tests and demos)."""

from __future__ import annotations

import time
from datetime import datetime

from portal.tokens import new_token
from tests.browser import chromium, signed_in
from tests.http import TimedSession
from tests.spawners.servers import containers

HOUR = 20  # seconds


def test_a_session_is_stopped_when_its_walltime_is_up(portal_factory, artifacts):
    portal = portal_factory(environ={"AIPORTAL_WALLTIME_HOUR": str(HOUR)})
    s = TimedSession()
    s.headers["Authorization"] = f"token {new_token(portal.data.root, 'bob', str(portal.config_path))}"
    base = f"{portal.url}services/portal/api/v1/sessions"
    r = s.post(base, json={"app": "team-a-tool", "hours": 1})
    assert r.status_code == 202, r.text
    name = r.json()["name"]
    deadline = time.monotonic() + 120
    while (session := s.get(f"{base}/{name}").json())["state"] != "running":
        assert time.monotonic() < deadline and session["state"] == "starting", session
        time.sleep(0.5)
    ends = datetime.fromisoformat(session["ends_at"]) - datetime.fromisoformat(session["started"])
    assert ends.total_seconds() == HOUR
    assert len(containers(portal, user="bob")) == 1
    # stopped within the hub's poll interval (10 s) after its end, not before
    while (session := s.get(f"{base}/{name}").json())["state"] != "completed":
        assert time.monotonic() < deadline, session
        time.sleep(0.5)
    ended = datetime.fromisoformat(session["ended"])
    assert datetime.fromisoformat(session["started"]).timestamp() + HOUR <= ended.timestamp()
    assert (session["reason"], session["message"], session["connect_url"]) == (
        "walltime", "Walltime of 1 h reached", None)
    assert containers(portal, user="bob") == []
    with chromium() as browser:  # the card says it
        page = signed_in(browser, portal, "bob")
        page.goto(f"{portal.url}services/portal/sessions")
        card = page.locator(f".session-card[data-session='{name}'][data-state=completed]")
        card.wait_for(timeout=30_000)
        assert card.locator(".session-message").inner_text().strip() == "Walltime of 1 h reached"
        assert card.locator(".session-relaunch").is_visible() and card.locator(".session-connect").count() == 0
        page.screenshot(path=str(artifacts / "sessions-walltime.png"), full_page=True)
    portal.stop()
    portal.start()
    after = s.get(f"{base}/{name}").json()
    assert (after["state"], after["reason"], after["ended"]) == ("completed", "walltime", session["ended"])
