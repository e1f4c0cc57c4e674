"""The team page and the operators' overview in Chromium, as each role sees them.

Team admins manage members and the display name and see the limits read-only; members
see the team read-only; operators see every team's use against its limits and edit them.
Every journey also checks that the pages work under their Content-Security-Policy.
"""

from __future__ import annotations

import re

import requests

from tests.browser import signed_in
from tests.http import TimedSession
from tests.spawners.servers import hub, start, stop, wait_ready

HOSTILE = "<img src=x onerror=alert(1)> Imaging"
HTTP_TIMEOUT = 30
LIMIT_CONTROLS = "#limits input, #limits select, #limits textarea, #limits button, .edit-limits, #limits-form"


def operator_api(portal, token) -> requests.Session:
    s = TimedSession()
    s.headers["Authorization"] = f"token {token('admin')}"
    s.base = f"{portal.url}services/portal/api/v1/teams"
    return s


def use(page, team: str, resource: str) -> str:
    """What the overview shows in a team's row for `resource`."""
    return page.locator(f"tr[data-team={team}] [data-use={resource}]").inner_text().strip()


def test_team_admin_manages_members_and_the_name_and_sees_limits_read_only(portal, browser, token, artifacts):
    page = signed_in(browser, portal, "alice")
    operator = operator_api(portal, token)
    page.goto(f"{portal.url}services/portal/teams/team-a")
    try:
        assert page.locator("li[data-member=alice] .badge").inner_text() == "team admin"
        assert page.locator("li[data-member=bob] .badge").count() == 0
        assert page.locator("[data-quota=gpus]").inner_text() == "2"
        assert page.locator("[data-quota=memory]").inner_text() == "32.0 GiB"
        assert page.locator("#profiles [data-profile]").evaluate_all("e => e.map(x => x.dataset.profile)") == \
            ["cpu", "gpu", "prod"]
        assert page.locator("#delete-policy").inner_text() == "Every member"
        assert page.locator(LIMIT_CONTROLS).count() == 0

        page.fill("#member-form input[name=user]", "carol")
        page.click("#member-form button[type=submit]")
        page.wait_for_selector("li[data-member=carol]")
        page.fill("#member-form input[name=user]", "nobody-signed-up")
        page.click("#member-form button[type=submit]")
        page.wait_for_selector("#team-alert.alert-danger")
        assert "no such user 'nobody-signed-up'" in page.locator("#team-alert").inner_text()

        page.click("li[data-member=carol] .remove-member")
        page.wait_for_selector("#remove-modal.show")
        assert page.locator("#remove-user").inner_text() == "carol"
        page.screenshot(path=str(artifacts / "team-admin-remove-confirmation.png"), animations="disabled")
        page.click("#remove-modal .btn-secondary")  # cancel: nothing happens
        page.wait_for_selector("#remove-modal", state="hidden")
        assert page.locator("li[data-member=carol]").count() == 1
        page.click("li[data-member=carol] .remove-member")
        page.wait_for_selector("#remove-modal.show")
        page.click("#remove-confirm")
        page.wait_for_selector("li[data-member=carol]", state="detached")
        members = operator.get(f"{operator.base}/team-a", timeout=HTTP_TIMEOUT).json()["members"]
        assert "carol" not in members and {"alice", "bob"} <= set(members)

        page.fill("#name-form input[name=display_name]", HOSTILE)
        with page.expect_navigation():
            page.click("#name-form button[type=submit]")
        assert page.locator("#team-title").inner_text() == HOSTILE
        assert page.locator("#portal-main img").count() == 0 and page.dialogs == []
        page.screenshot(path=str(artifacts / "team-page-team-admin.png"), full_page=True)

        r = requests.get(f"{portal.url}services/portal/teams", timeout=HTTP_TIMEOUT,
                         headers={"Authorization": f"token {token('alice')}"})
        assert r.status_code == 403 and "for operators" in r.text
        assert page.csp_errors == []
    finally:
        operator.delete(f"{operator.base}/team-a/members/carol", timeout=HTTP_TIMEOUT)
        assert operator.patch(f"{operator.base}/team-a", json={"display_name": "Team A"}, timeout=HTTP_TIMEOUT).ok


def test_member_sees_the_team_read_only(portal, browser, artifacts):
    page = signed_in(browser, portal, "bob")
    page.goto(f"{portal.url}services/portal/teams/team-a")
    assert page.locator("#members [data-member]").evaluate_all("e => e.map(x => x.dataset.member)") == \
        ["alice", "bob"]
    assert page.locator("li[data-member=alice] .badge").inner_text() == "team admin"
    assert page.locator("[data-quota=gpus]").inner_text() == "2"
    assert page.locator("#profiles [data-profile]").count() == 3
    for controls in ("#name-form", "#member-form", ".remove-member", "#remove-modal", LIMIT_CONTROLS):
        assert page.locator(controls).count() == 0, controls
    page.screenshot(path=str(artifacts / "team-page-member.png"), full_page=True)
    r = page.goto(f"{portal.url}services/portal/teams")
    assert r.status == 403
    assert page.csp_errors == []


def test_operator_overview_shows_every_team_with_usage_and_edits_limits(portal, browser, token, artifacts):
    operator = operator_api(portal, token)
    listed = operator.get(operator.base, params={"limit": 1000}, timeout=HTTP_TIMEOUT).json()
    assert listed["_pagination"]["next"] is None
    before = operator.get(f"{operator.base}/team-a", timeout=HTTP_TIMEOUT).json()
    bob = hub(portal, token, "bob")
    assert start(bob, "bob", "overview", "team-a", "cpu").status_code in (201, 202)
    try:
        wait_ready(bob, "bob", "overview")
        page = signed_in(browser, portal, "admin")
        page.click("#overview-link")
        page.wait_for_selector("#overview")
        rows = page.locator("#overview tbody tr")
        assert rows.evaluate_all("e => e.map(x => x.dataset.team)") == sorted(t["name"] for t in listed["items"])
        assert use(page, "team-a", "servers") == "1"  # bob's server of profile cpu: 1 CPU, 1 GiB
        assert use(page, "team-a", "gpus") == "0 of 2"
        assert use(page, "team-a", "cpu") == "1 of 8"
        assert use(page, "team-a", "memory") == "1.0 GiB of 32.0 GiB"
        storage = use(page, "team-a", "storage")
        assert re.fullmatch(r"being counted|[\d.]+ (Bytes?|KiB|MiB|GiB) of 10\.0 GiB", storage), storage
        assert use(page, "team-b", "gpus") == "0 · no limit"
        page.screenshot(path=str(artifacts / "overview-operator.png"), full_page=True)

        page.click("tr[data-team=team-a] .edit-limits")
        page.wait_for_selector("#limits-modal.show")
        form = page.locator("#limits-form")
        assert form.locator("[name=gpus]").input_value() == "2"
        assert form.locator("[name=memory]").input_value() == "32Gi"
        assert form.locator("[name=storage]").input_value() == "10Gi"
        checked = form.locator("[name=profiles]:checked").evaluate_all("e => e.map(x => x.value)")
        assert checked == ["cpu", "gpu", "prod"]
        form.locator("[name=gpus]").fill("3")
        form.locator("#profile-prod").uncheck()
        form.locator("#profile-tiny").check()
        form.locator("[name=delete_policy]").select_option("admins")
        page.screenshot(path=str(artifacts / "overview-edit-limits.png"), animations="disabled")
        with page.expect_navigation():
            form.locator("button[type=submit]").click()
        page.wait_for_selector("#overview-alert.alert-success")
        assert page.locator("#overview-alert").inner_text() == "Limits of team-a saved."
        assert use(page, "team-a", "gpus") == "0 of 3"
        row = page.locator("tr[data-team=team-a]")
        assert row.locator("[data-limit=profiles] [data-profile]").evaluate_all(
            "e => e.map(x => x.dataset.profile)") == ["cpu", "gpu", "tiny"]
        assert row.locator("[data-limit=delete_policy]").inner_text() == "admins only"
        after = operator.get(f"{operator.base}/team-a", timeout=HTTP_TIMEOUT).json()
        assert after["quota"] == {**before["quota"], "gpus": 3}
        assert (after["profiles"], after["delete_policy"]) == (["cpu", "gpu", "tiny"], "admins")

        page.goto(f"{portal.url}services/portal/teams/team-a")  # the team page: read-only, with a way back
        assert page.locator("[data-quota=gpus]").inner_text() == "3"
        assert page.locator("#limits input").count() == 0
        page.click("#edit-limits-link")
        page.wait_for_selector("#overview")
        assert page.csp_errors == []
    finally:
        stop(bob, "bob", "overview")
        restore = {k: before[k] for k in ("quota", "profiles", "delete_policy")}
        assert operator.patch(f"{operator.base}/team-a", json=restore, timeout=HTTP_TIMEOUT).ok
