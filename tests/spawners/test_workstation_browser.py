"""A new user's first server, in Chromium: sign-up → the operator approves and adds them to
teams → "Start a server" on a team's card opens the form with that team chosen → JupyterLab
without the news pop-up → a terminal where bash, the user's name and the team's bucket are."""

import io
import time
import uuid

from portal.storage import store_from_config
from tests.browser import chromium, signed_in
from tests.spawners.servers import hub

TERMINAL_TIMEOUT = 60


def checked_profile(page) -> str:
    page.wait_for_selector("#spawn_form input[name=profile]")
    return page.locator("#spawn_form input[name=profile]:checked").get_attribute("value")


def terminal_text(page) -> str:
    """What the terminal shows, from xterm's DOM (its accessibility tree: JupyterLab draws the
    rows on a canvas)."""
    return page.locator(".jp-Terminal .xterm-accessibility-tree").inner_text()


def wait_for_terminal(page, wanted: str) -> str:
    deadline = time.monotonic() + TERMINAL_TIMEOUT
    while time.monotonic() < deadline:
        text = terminal_text(page)
        if wanted in text:
            return text
        page.wait_for_timeout(300)
    raise AssertionError(f"{wanted!r} not in the terminal:\n{terminal_text(page)}")


def test_new_user_starts_a_server_from_a_team_card_and_works_in_a_terminal(
        portal, token, api, artifacts, stop_all):
    user = f"ws{uuid.uuid4().hex[:8]}"
    key = f"journey/{uuid.uuid4().hex[:8]}.csv"
    store = store_from_config(portal.config, portal.data.root)
    store.ensure_bucket("team-a")
    store.client().put_object("team-a", key, io.BytesIO(b"x,y\n"), 4)
    operator = api("admin")
    with chromium() as browser:
        page = signed_in(browser, portal, user)  # signs up; the operator approves; logs in
        for team in ("team-a", "team-b"):  # two teams, so the chosen one is not just the first
            r = operator.put(f"{operator.base}/teams/{team}/members/{user}")
            assert r.ok, r.text
        try:
            page.goto(f"{portal.url}services/portal/")
            page.screenshot(path=str(artifacts / "workstation-home.png"), full_page=True)

            page.click(".team-card[data-team=team-b] .start-server")
            assert checked_profile(page) == "team-b/cpu"  # not the form's first (team-a/cpu)
            page.goto(f"{portal.url}services/portal/")
            page.click(".team-card[data-team=team-a] .start-server")
            assert checked_profile(page) == "team-a/cpu"
            s = hub(portal, token, user)
            assert s.get(f"{s.base}/users/{user}").json()["servers"] == {}  # the link started nothing
            page.screenshot(path=str(artifacts / "workstation-form.png"), full_page=True)

            page.click("#spawn_form button[type=submit]")
            page.wait_for_url(f"**/user/{user}/lab**", timeout=90_000)
            page.wait_for_selector(".jp-Launcher", timeout=60_000)
            lab = f"{portal.url}user/{user}/lab/api/settings/@jupyterlab"
            news = s.get(f"{lab}/apputils-extension:notification").json()["schema"]["properties"]
            assert (news["fetchNews"]["default"], news["checkForUpdates"]["default"]) == ("false", False)
            # Screen-reader mode: xterm then mirrors its rows in the DOM, where the test reads them.
            r = s.put(f"{lab}/terminal-extension:plugin", json={"raw": '{"screenReaderMode": true}'})
            assert r.status_code == 204, r.text
            page.reload()  # JupyterLab reads settings when it loads
            page.wait_for_selector(".jp-Launcher", timeout=60_000)
            page.wait_for_timeout(3000)  # when JupyterLab would ask about news
            assert page.get_by_text("Jupyter news").count() == 0
            page.screenshot(path=str(artifacts / "workstation-lab.png"))

            page.locator(".jp-LauncherCard", has_text="Terminal").first.click()
            page.wait_for_selector(".jp-Terminal .xterm-accessibility-tree", state="attached",
                                   timeout=TERMINAL_TIMEOUT * 1000)
            try:
                wait_for_terminal(page, f"{user}@")  # the prompt names the user
            except AssertionError:
                page.screenshot(path=str(artifacts / "workstation-terminal.png"))
                raise
            page.locator(".jp-Terminal .xterm-helper-textarea").focus()
            page.keyboard.type("whoami; echo $SHELL; s3ls\n")
            try:
                text = wait_for_terminal(page, key)
            finally:
                page.screenshot(path=str(artifacts / "workstation-terminal.png"))
            lines = [line.strip() for line in text.splitlines()]
            assert user in lines and "/bin/bash" in lines, text
            assert "I have no name!" not in text
        finally:
            operator.delete(f"{operator.base}/teams/team-b/members/{user}")
            operator.delete(f"{operator.base}/teams/team-a/members/{user}")
