"""The app catalog and My sessions in Chromium, against the session portal with real Podman:
a refused launch shows the portal's message at the field it names and starts nothing; the
built-in JupyterLab launched from its card runs, Connect opens JupyterLab in a new tab, Stop
completes it, Relaunch runs it again with the same choices, Remove takes the card away.

Each test works as a user of its own (signed up, approved, added to teams here), so the
session limits of other tests' users do not meet these."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from tests.browser import desktop_frame, signed_in

START_TIMEOUT_MS = 120_000
HTTP_TIMEOUT = 30


@pytest.fixture
def member(portal, browser, api):
    """A new user's browser page, the user a member of team-a and team-b; at the end, their
    sessions stopped and removed and the memberships gone."""
    name = f"ss{uuid.uuid4().hex[:8]}"
    page = signed_in(browser, portal, name)
    operator = api("admin")
    for team in ("team-a", "team-b"):
        r = operator.put(f"{operator.base}/teams/{team}/members/{name}", timeout=HTTP_TIMEOUT)
        assert r.ok, r.text
    page.user = name
    yield page
    page.context.close()
    s = api(name)
    for item in s.get(f"{s.base}/sessions", timeout=HTTP_TIMEOUT).json()["items"]:
        s.delete(f"{s.base}/sessions/{item['name']}", timeout=HTTP_TIMEOUT)
    deadline = time.monotonic() + 60
    while (items := s.get(f"{s.base}/sessions", timeout=HTTP_TIMEOUT).json()["items"]) and time.monotonic() < deadline:
        for item in items:
            if item["state"] == "completed":
                s.delete(f"{s.base}/sessions/{item['name']}", timeout=HTTP_TIMEOUT)
        time.sleep(1)
    for team in ("team-a", "team-b"):
        operator.delete(f"{operator.base}/teams/{team}/members/{name}", timeout=HTTP_TIMEOUT)
    assert items == [], f"sessions of {name} left: {items}"


def sessions(api, user) -> list[dict]:
    s = api(user)
    return s.get(f"{s.base}/sessions", timeout=HTTP_TIMEOUT).json()["items"]


def options(page, select: str) -> list[str]:
    return page.locator(f"{select} option").evaluate_all("os => os.map(o => o.value)")


def force(page, selector: str, value: str) -> None:
    """A value the browser's own checks would stop (bounds, pattern), set by script: what
    the portal answers is what this test is about."""
    page.locator(selector).evaluate(
        "(input, value) => { for (const a of ['min', 'max', 'pattern', 'maxlength']) input.removeAttribute(a);"
        " input.value = value; }", value)


def follows_progress(page, name: str) -> None:
    """A starting card follows the hub's progress events through the portal's relay (an
    EventSource: the page's XSRF token in its URL). JupyterLab starts within a poll or two,
    so the card is shown starting once, by answering the page's first poll as if it still
    started: the hub then streams its final event for the ready server, the card draws it and
    polls again at once, and shows the session running."""
    answered = []

    def still_starting(route):
        if answered:
            answered.append(True)
            route.continue_()
            return
        response = route.fetch()
        body = response.json()
        for item in body["items"]:
            if item["name"] == name:
                item.update(state="starting", connect_url=None)
        answered.append(True)
        route.fulfill(response=response, json=body)

    sessions_page = page.url
    page.goto("about:blank")  # no poll of the page before is answered so
    page.route(re.compile(r".*/api/v1/sessions$"), still_starting)
    try:
        with page.expect_response(lambda r: f"/sessions/{name}/progress?_xsrf=" in r.url) as progress:
            page.goto(sessions_page)
        stream = progress.value
        # the events themselves are checked in test_sessions_api (Chromium does not keep an
        # EventSource's body for Playwright to read back)
        assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")
        page.locator(f".session-card[data-session='{name}'][data-state=running]").wait_for(timeout=10_000)
        assert len(answered) >= 2  # the ready event made the page ask again
    finally:
        page.unroute(re.compile(r".*/api/v1/sessions$"))


def test_the_launch_form_offers_the_teams_profiles_and_shows_a_refusal_at_its_field(member, portal, api, artifacts):
    page = member
    page.goto(f"{portal.url}services/portal/apps")
    assert page.locator("#nav-apps").is_visible() and page.locator("#nav-sessions").is_visible()
    lab = "form[data-app=jupyterlab]"
    assert options(page, f"{lab} select[name=team]") == ["team-a", "team-b"]
    assert options(page, f"{lab} select[name=profile]") == ["cpu", "gpu"]
    page.select_option(f"{lab} select[name=team]", "team-b")
    assert options(page, f"{lab} select[name=profile]") == ["cpu", "missing", "tiny"]
    assert page.locator(f"{lab} select[name=profile]").input_value() == "cpu"
    page.select_option(f"{lab} select[name=team]", "team-a")
    assert page.locator(f"{lab} input[name=hours]").input_value() == "8"  # the app's default
    page.screenshot(path=str(artifacts / "apps-catalog.png"), full_page=True)

    force(page, f"{lab} input[name=hours]", "100")
    page.click(f"{lab} .launch-button")
    hours = page.locator("#launch-jupyterlab-hours")
    page.wait_for_selector("#launch-jupyterlab-hours.is-invalid")
    error = page.locator(f"{lab} [data-field=hours] .field-error")
    assert error.is_visible()
    assert error.inner_text().startswith("hours: 100 is above the app's maximum walltime of 72 hours")
    assert page.locator("#launch-jupyterlab-profile.is-invalid").count() == 0
    assert page.locator(f"{lab} .launch-alert").is_hidden()
    assert page.evaluate("document.activeElement.id") == "launch-jupyterlab-hours"
    page.screenshot(path=str(artifacts / "apps-launch-refused.png"), full_page=True)
    hours.fill("2")  # typing clears the mark
    assert page.locator("#launch-jupyterlab-hours.is-invalid").count() == 0

    # A text field's pattern is the portal's to check: the message goes under that field.
    tool = "form[data-app=team-a-tool]"
    force(page, f"{tool} input[name=slide]", "../../etc/passwd")
    page.click(f"{tool} .launch-button")
    page.wait_for_selector("#launch-team-a-tool-slide.is-invalid")
    assert page.locator("#launch-team-a-tool-slide-error").inner_text().startswith("slide: '../../etc/passwd' does not")
    assert sessions(api, page.user) == []  # nothing started
    assert page.csp_errors == []


def test_launch_jupyterlab_connect_stop_relaunch_and_remove(member, portal, api, artifacts):
    page = member
    page.goto(f"{portal.url}services/portal/sessions")
    page.wait_for_selector("#no-sessions:not(.d-none)")
    assert page.locator("#no-sessions a").get_attribute("href") == "/services/portal/apps"
    page.screenshot(path=str(artifacts / "sessions-empty.png"), full_page=True)

    page.goto(f"{portal.url}services/portal/apps")
    lab = "form[data-app=jupyterlab]"
    page.select_option(f"{lab} select[name=profile]", "cpu")
    page.fill(f"{lab} input[name=hours]", "1")
    page.click(f"{lab} .launch-button")
    page.wait_for_url("**/services/portal/sessions")
    card = page.locator(".session-card").first
    card.wait_for()
    assert page.locator(".session-card").count() == 1
    name = card.get_attribute("data-session")
    assert name.startswith("jupyterlab-")
    if card.get_attribute("data-state") == "starting":
        assert card.locator(".progress-bar").count() == 1
        page.screenshot(path=str(artifacts / "sessions-starting.png"), full_page=True)
    running = page.locator(f".session-card[data-session='{name}'][data-state=running]")
    running.wait_for(timeout=START_TIMEOUT_MS)
    assert running.locator(".session-app").inner_text() == "JupyterLab"
    assert running.locator(".session-team").inner_text() == "team-a"
    assert running.locator(".session-profile").inner_text() == "cpu"
    assert running.locator(".session-state").inner_text() == "running"
    assert running.locator("svg[data-icon=jupyter]").count() == 1
    assert re.fullmatch(r"ends in (59|60) min|ends in 1 h", running.locator(".session-time-left").inner_text()), \
        running.locator(".session-time-left").inner_text()
    page.screenshot(path=str(artifacts / "sessions-running.png"), full_page=True)
    follows_progress(page, name)

    connect = running.locator(".session-connect")
    assert connect.get_attribute("target") == "_blank"
    with page.context.expect_page() as opened:
        connect.click()
    lab_page = opened.value
    lab_page.wait_for_selector(".jp-Launcher", timeout=60_000)
    assert f"/user/{page.user}/{name}/lab" in lab_page.url
    lab_page.screenshot(path=str(artifacts / "sessions-connect-lab.png"))
    lab_page.close()

    running.locator(".session-stop").click()
    page.wait_for_selector("#stop-modal.show")
    assert name in page.locator("#stop-name").inner_text()
    page.click("#stop-confirm")
    done = page.locator(f".session-card[data-session='{name}'][data-state=completed]")
    done.wait_for(timeout=60_000)
    assert done.locator(".session-message").inner_text().strip() != ""
    assert done.locator(".session-connect").count() == 0
    page.screenshot(path=str(artifacts / "sessions-completed.png"), full_page=True)

    done.locator(".session-relaunch").click()  # the same app, team and values
    page.locator(f".session-card[data-session='{name}'][data-state=running]").wait_for(timeout=START_TIMEOUT_MS)
    assert sessions(api, page.user)[0]["values"] == {"profile": "cpu", "hours": 1}
    page.locator(f".session-card[data-session='{name}'] .session-stop").click()
    page.wait_for_selector("#stop-modal.show")
    page.click("#stop-confirm")
    done.wait_for(timeout=60_000)
    done.locator(".session-remove").click()
    page.wait_for_selector(".session-card", state="detached")
    assert page.locator("#no-sessions").is_visible()
    assert sessions(api, page.user) == []
    assert page.csp_errors == []


def test_launch_the_desktop_from_the_catalog_and_connect_to_a_drawn_desktop(member, portal, api, artifacts):
    """The built-in Desktop (images/desktop): launched from its card, Connect opens noVNC,
    whose canvas shows XFCE (pixels far from uniform), kept as desktop-connected.png."""
    page = member
    page.goto(f"{portal.url}services/portal/apps")
    desktop = "form[data-app=desktop]"
    assert page.locator(f"{desktop} input[name=hours]").input_value() == "4"
    page.click(f"{desktop} .launch-button")
    page.wait_for_url("**/services/portal/sessions")
    running = page.locator(".session-card[data-state=running]")
    running.wait_for(timeout=START_TIMEOUT_MS)
    name = running.get_attribute("data-session")
    assert name.startswith("desktop-") and running.locator(".session-app").inner_text() == "Desktop"
    assert running.locator("svg[data-icon=desktop]").count() == 1
    with page.context.expect_page() as opened:
        running.locator(".session-connect").click()
    desktop_page = opened.value
    desktop_page.set_viewport_size({"width": 1280, "height": 800})
    assert f"/user/{page.user}/{name}/desktop/" in desktop_page.url
    desktop_page.wait_for_selector("canvas", timeout=60_000)
    stats = desktop_frame(desktop_page)
    desktop_page.wait_for_timeout(2000)  # the panels too, for the artifact
    desktop_page.screenshot(path=str(artifacts / "desktop-connected.png"))
    assert stats["colors"] > 100 and stats["std"] > 10, stats
    assert [s["app"] for s in sessions(api, page.user) if s["state"] == "running"] == ["desktop"]
