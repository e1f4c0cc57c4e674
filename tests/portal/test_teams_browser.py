"""The operator's first hour with teams, in Chromium: a pending sign-up on the home page,
a team made in the overview (limits in human units, a GPU quota above the machine
refused, "saved"), a team admin made on the team page who then adds the approved sign-up,
and the team deleted with its data kept. Screenshots go to the artifacts folder."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from tests.browser import approve, password, signed_in, signup

TIMEOUT = 60_000  # ms; a 2-core machine shared by several test runs


@pytest.mark.timeout(600)
def test_operator_creates_a_team_makes_an_admin_who_adds_a_member(portal, browser, api, artifacts):
    team, lead, newcomer = (f"{p}-{secrets.token_hex(3)}" for p in ("tl-web", "tllead", "tlnew"))
    portal_url = f"{portal.url}services/portal/"
    try:
        lead_page = signed_in(browser, portal, lead)  # signed up, approved, logged in once
        newcomer_page = browser.new_context().new_page()
        signup(newcomer_page, portal.url, newcomer, password(portal, newcomer))  # never logs in

        admin = signed_in(browser, portal, "admin")
        admin.goto(portal_url)
        expect(admin.locator("#pending-signups")).to_contain_text(newcomer, timeout=TIMEOUT)
        assert admin.locator("#authorize-link").get_attribute("href") == "/hub/authorize"
        admin.screenshot(path=str(artifacts / "teams-home-pending-signups.png"), full_page=True)
        approve(admin, portal.url, newcomer)

        # New team, in the overview
        admin.goto(f"{portal_url}teams")
        admin.click("#new-team")
        form = admin.locator("#new-team-form")
        form.locator("[name=name]").fill(team)
        form.locator("[name=display_name]").fill("Web-made team")
        form.locator("[name=gpus]").fill("1")
        form.locator("[name=memory]").fill("64Gi")
        form.locator("[name=profiles][value=cpu]").check()
        admin.screenshot(path=str(artifacts / "teams-new-team-form.png"), full_page=True)
        form.locator("button[type=submit]").click()
        expect(admin.locator("#overview-alert")).to_have_text(f"Team {team} saved.", timeout=TIMEOUT)
        row = admin.locator(f"tr[data-team='{team}']")
        expect(row.locator(".team-name")).to_have_text("Web-made team")
        expect(row.locator("[data-use=memory]")).to_contain_text("64.0 GiB")

        # Its limits: shown in human units; a GPU quota above the machine's 4 is refused
        row.locator(".edit-limits").click()
        limits = admin.locator("#limits-form")
        expect(limits.locator("[name=memory]")).to_have_value("64Gi", timeout=TIMEOUT)
        limits.locator("[name=gpus]").fill("5")
        limits.locator("button[type=submit]").click()
        expect(admin.locator("#limits-alert")).to_have_text(
            "quota.gpus: 5 is more than the 4 GPUs this machine has", timeout=TIMEOUT)
        limits.locator("[name=gpus]").fill("2")
        limits.locator("[name=storage]").fill("1Ti")
        limits.locator("button[type=submit]").click()
        expect(admin.locator("#overview-alert")).to_have_text(f"Limits of {team} saved.", timeout=TIMEOUT)
        expect(admin.locator(f"tr[data-team='{team}'] [data-use=storage]")).to_contain_text("1.0 TiB")
        admin.screenshot(path=str(artifacts / "teams-overview-saved.png"), full_page=True)

        # The operator adds the lead and makes them the team's admin, on the team page
        admin.goto(f"{portal_url}teams/{team}")
        admin.fill("#member-form [name=user]", lead)
        admin.click("#member-form button[type=submit]")
        member_row = admin.locator(f"li[data-member='{lead}']")
        member_row.locator(".set-admin").click(timeout=TIMEOUT)
        expect(admin.locator(f"li[data-member='{lead}'] .badge")).to_have_text("team admin", timeout=TIMEOUT)
        expect(admin.locator(f"li[data-member='{lead}'] .set-admin")).to_have_text("Unmake admin")
        admin.screenshot(path=str(artifacts / "teams-admin-made.png"), full_page=True)

        # The lead, now a team admin, adds the approved sign-up who never logged in
        lead_page.goto(f"{portal_url}teams/{team}")
        expect(lead_page.locator(".set-admin")).to_have_count(0)  # operators only
        lead_page.fill("#member-form [name=user]", newcomer)
        lead_page.click("#member-form button[type=submit]")
        expect(lead_page.locator(f"li[data-member='{newcomer}']")).to_be_visible(timeout=TIMEOUT)
        lead_page.fill("#member-form [name=user]", "tl-nobody-at-all")
        lead_page.click("#member-form button[type=submit]")
        expect(lead_page.locator("#team-alert")).to_contain_text("no such user 'tl-nobody-at-all'", timeout=TIMEOUT)
        lead_page.screenshot(path=str(artifacts / "teams-admin-adds-member.png"), full_page=True)
        assert lead_page.csp_errors == []

        # The operator deletes the team, keeping its data: the name must be typed first
        admin.goto(f"{portal_url}teams")
        admin.click(f".delete-team[data-team='{team}']")
        confirm = admin.locator("#delete-team-confirm")
        expect(confirm).to_be_disabled(timeout=TIMEOUT)
        admin.fill("#delete-team-typed", team[:-1])
        expect(confirm).to_be_disabled()
        admin.fill("#delete-team-typed", team)
        expect(confirm).to_be_enabled()
        admin.screenshot(path=str(artifacts / "teams-delete-confirm.png"), full_page=True)
        confirm.click()
        expect(admin.locator("#overview-alert")).to_have_text(
            f"Team {team} deleted; its bucket is kept.", timeout=TIMEOUT)
        expect(admin.locator(f"tr[data-team='{team}']")).to_have_count(0)
        admin.screenshot(path=str(artifacts / "teams-deleted.png"), full_page=True)
        assert admin.csp_errors == []
    finally:
        s = api("admin")
        s.post(f"{s.base}/teams", json={"name": team})  # again, to delete its kept data too
        s.delete(f"{s.base}/teams/{team}", params={"delete_data": "true"})
