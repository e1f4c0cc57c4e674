"""Sign-up, admin approval, team membership and login in a real browser.

The team page and the overview as each role sees them: test_pages_roles.py."""

from tests.browser import approve, login, signup

PASSWORD = "correct-horse-battery"


def test_signup_approval_and_login(portal, browser, api, artifacts):
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
    operator = api("admin")
    try:
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
    finally:
        operator.delete(f"{operator.base}/teams/team-b/members/dave", timeout=30)
