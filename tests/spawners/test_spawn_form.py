"""The spawn form in Chromium: a team member sees what her team has free (GPUs, CPUs, memory),
starts JupyterLab in a container, and is told why a server is refused when a quota is used up."""

from tests.browser import chromium, signed_in
from tests.spawners.servers import hub, start, team_quota, wait_ready
from tests.spawners.test_containers import QUOTA_REFUSAL


def team_note(page, team):
    return page.locator(f"fieldset[data-team={team}] .team-note").inner_text()


def refused(page) -> str:
    page.click("#spawn_form button[type=submit]")
    page.wait_for_selector(".spawn-error-msg")
    return page.locator(".spawn-error-msg").inner_text()


def test_member_starts_a_gpu_lab_from_the_form_and_is_told_when_a_quota_is_full(
        portal, token, artifacts, stop_all):
    url = portal.url
    with chromium() as browser:
        alice = signed_in(browser, portal, "alice")

        alice.goto(f"{url}hub/spawn/alice/lab")
        assert alice.locator("fieldset[data-team]").count() == 1  # only her team
        assert team_note(alice, "team-a") == (  # team-a's quota: 2 GPUs, 8 CPUs, 32 GiB
            "2 of 2 team GPUs free, 8 of 8 team CPUs free, 32 GiB of 32 GiB team memory free")
        alice.screenshot(path=str(artifacts / "spawn-form.png"), full_page=True)
        alice.check("input[value='team-a/gpu']")
        alice.click("#spawn_form button[type=submit]")
        alice.wait_for_url("**/user/alice/lab/lab**", timeout=90_000)
        alice.wait_for_selector(".jp-Launcher", timeout=60_000)  # JupyterLab is up
        alice.screenshot(path=str(artifacts / "spawn-lab.png"))

        bob = hub(portal, token, "bob")
        assert start(bob, "bob", "g", "team-a", "gpu").status_code in (201, 202)
        wait_ready(bob, "bob", "g")
        alice.goto(f"{url}hub/spawn/alice/lab2")  # two GPU servers of 2 CPUs and 4 GiB each run
        assert team_note(alice, "team-a") == (
            "0 of 2 team GPUs free, 4 of 8 team CPUs free, 24 GiB of 32 GiB team memory free")
        alice.check("input[value='team-a/gpu']")
        assert refused(alice) == f"Error: {QUOTA_REFUSAL}"
        alice.screenshot(path=str(artifacts / "spawn-refused.png"), full_page=True)

        with team_quota(portal, token, "team-a", cpu=4):  # an operator lowers the CPU quota
            alice.goto(f"{url}hub/spawn/alice/lab2")
            assert team_note(alice, "team-a") == (
                "0 of 2 team GPUs free, 0 of 4 team CPUs free, 24 GiB of 32 GiB team memory free")
            alice.check("input[value='team-a/cpu']")
            assert refused(alice) == ("Error: team team-a uses 4 of 4 CPUs and this profile needs 1: "
                                      "stop a server or ask an operator")
