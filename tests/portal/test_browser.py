"""Sign-up, admin approval, team membership and login in a real browser."""

import pytest

from tests.browser import approve, chromium, login, signup

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_signup_approval_and_login(portal, browser, artifacts):
    url = portal.url
    dave = browser.new_page()
    signup(dave, url, "dave", PASSWORD)
    dave.screenshot(path=str(artifacts / "signup-done.png"))
    assert "admin" in dave.locator("body").inner_text().lower()  # "...sent to the admin..."

    login(dave, url, "dave", PASSWORD)
    assert "/hub/login" in dave.url, "an unapproved sign-up must not log in"

    admin = browser.new_context().new_page()
    login(admin, url, "admin", portal.data.admin_password("admin"))
    assert "/services/portal/" in admin.url, admin.url
    admin.goto(f"{url}hub/authorize")
    assert admin.locator("nav a.nav-link", has_text="Teams").get_attribute("href") == "/services/portal/"
    admin.screenshot(path=str(artifacts / "signup-approval.png"), full_page=True)
    approve(admin, url, "dave")

    dave = browser.new_context().new_page()
    login(dave, url, "dave", PASSWORD)
    assert dave.url.endswith("/services/portal/"), dave.url
    assert dave.locator("#no-teams").is_visible()

    admin.goto(f"{url}services/portal/teams/team-b")
    admin.fill("#member-form input[name=user]", "dave")
    admin.click("#member-form button")
    admin.wait_for_selector("li[data-member=dave]")
    admin.screenshot(path=str(artifacts / "team-page-admin.png"), full_page=True)

    dave.reload()
    cards = dave.locator(".team-card")
    assert cards.count() == 1
    assert cards.first.get_attribute("data-team") == "team-b"
    assert "Team B" in cards.first.inner_text()
    assert dave.locator("#login_widget").inner_text().strip().startswith("dave")
    dave.screenshot(path=str(artifacts / "portal-home.png"), full_page=True)
    dave.goto(f"{url}services/portal/teams/team-a")
    assert "404" in dave.locator("h1").inner_text()


def test_plain_member_sees_no_admin_controls(portal, browser):
    page = browser.new_context().new_page()
    login(page, portal.url, "dave", PASSWORD)
    page.goto(f"{portal.url}services/portal/teams/team-b")
    assert page.locator("li[data-member=dave]").count() == 1
    assert page.locator("#settings-form").count() == 0
    assert page.locator("#member-form").count() == 0


def test_team_admin_edits_settings_and_html_stays_text(portal, browser, api, artifacts):
    page = browser.new_context().new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, portal.url, "admin", portal.data.admin_password("admin"))
    page.goto(f"{portal.url}services/portal/teams/team-b")
    hostile = "<img src=x onerror=alert(1)> Imaging"
    page.fill("#settings-form input[name=display_name]", hostile)
    page.fill("#settings-form input[name=gpus]", "3")
    page.fill("#settings-form input[name=memory]", "8Gi")
    with page.expect_navigation():
        page.click("#settings-form button[type=submit]")
    assert page.locator("#team-title").inner_text() == hostile
    assert page.locator("#portal-main img").count() == 0 and not dialogs
    assert page.locator("[data-quota=gpus]").inner_text() == "3"
    assert page.locator("[data-quota=memory]").inner_text() == "8.0 GiB"
    page.fill("#settings-form input[name=gpus]", "-1")
    page.fill("#settings-form input[name=memory]", "lots")
    page.evaluate("document.querySelector('#settings-form').noValidate = true")
    page.click("#settings-form button[type=submit]")
    page.wait_for_selector("#team-alert.alert-danger")
    assert "quota." in page.locator("#team-alert").inner_text()
    page.screenshot(path=str(artifacts / "team-settings-error.png"), full_page=True)
    admin = api("admin")
    assert admin.get(f"{admin.base}/teams/team-b").json()["quota"]["gpus"] == 3
    admin.patch(f"{admin.base}/teams/team-b", json={"display_name": "Team B"})
