"""The spawn form in Chromium: a team member sees free GPUs, starts JupyterLab in a container,
and is told why a GPU server is refused when the team's quota is used up."""

from tests.browser import approve, chromium, login, signup
from tests.spawners.servers import hub, start, wait_ready
from tests.spawners.test_containers import QUOTA_REFUSAL

PASSWORD = "alice-in-the-lab"


def team_note(page, team):
    return page.locator(f"fieldset[data-team={team}] .team-note").inner_text()


def test_member_starts_a_gpu_lab_from_the_form_and_is_told_when_the_quota_is_full(
        portal, token, artifacts, stop_all):
    url = portal.url
    with chromium() as browser:
        alice = browser.new_context().new_page()
        signup(alice, url, "alice", PASSWORD)
        admin = browser.new_context().new_page()
        login(admin, url, "admin", portal.data.admin_password("admin"))
        approve(admin, url, "alice")
        login(alice, url, "alice", PASSWORD)

        alice.goto(f"{url}hub/spawn/alice/lab")
        assert alice.locator("fieldset[data-team]").count() == 1  # only her team
        assert team_note(alice, "team-a") == "2 of 2 team GPUs free"
        alice.screenshot(path=str(artifacts / "spawn-form.png"), full_page=True)
        alice.check("input[value='team-a/gpu']")
        alice.click("#spawn_form button[type=submit]")
        alice.wait_for_url("**/user/alice/lab/lab**", timeout=90_000)
        alice.wait_for_selector(".jp-Launcher", timeout=60_000)  # JupyterLab is up
        alice.screenshot(path=str(artifacts / "spawn-lab.png"))

        bob = hub(portal, token, "bob")
        assert start(bob, "bob", "g", "team-a", "gpu").status_code in (201, 202)
        wait_ready(bob, "bob", "g")
        alice.goto(f"{url}hub/spawn/alice/lab2")
        assert team_note(alice, "team-a") == "0 of 2 team GPUs free"
        alice.check("input[value='team-a/gpu']")
        alice.click("#spawn_form button[type=submit]")
        alice.wait_for_selector(".spawn-error-msg")
        assert alice.locator(".spawn-error-msg").inner_text() == f"Error: {QUOTA_REFUSAL}"
        alice.screenshot(path=str(artifacts / "spawn-refused.png"), full_page=True)
