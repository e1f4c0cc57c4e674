"""GitLab login (auth.type: gitlab) through the double's OAuth endpoints, in Chromium: the
user's GitLab groups that teams name become their teams at each login; other groups are
ignored; a user in no team's group is refused."""

from __future__ import annotations

import copy

import pytest
import requests

from portal.launcher import Portal
from portal.tokens import new_token
from tests.browser import chromium
from tests.conftest import ARTIFACTS, TEST_CONFIG, free_port, write_config

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def gitlab_portal(tmp_path, gitlab):
    port = free_port()
    gitlab.add_oauth_app("aiportal-login", "s3cret-client", f"http://127.0.0.1:{port}/hub/oauth_callback")
    for user, groups in {"gina": {"radiology": 30, "gina-playground": 50}, "hugo": {"cardiology": 30},
                         "ivan": {"gina-playground": 30}}.items():
        gitlab.add_user(user, password=f"{user}-gitlab-pass")
        for group, level in groups.items():
            if group not in gitlab.groups:
                gitlab.add_group(group)
            gitlab.groups[group].members[user] = level
    config = copy.deepcopy(TEST_CONFIG)
    config["auth"] = {"type": "gitlab", "gitlab": {"url": gitlab.url, "client_id": "aiportal-login",
                                                    "client_secret": "s3cret-client"}}
    config["gitlab"] = {"acts_as": "user", "poll_interval": 0.5, "timeout": 5}  # the URL: auth.gitlab.url
    config["teams"] = [
        {"name": "team-a", "display_name": "Team A", "profiles": ["cpu"], "gitlab_group": "radiology",
         "promoters": "members"},
        {"name": "team-b", "display_name": "Team B", "profiles": ["cpu"], "gitlab_group": "Cardiology"},
        {"name": "team-c", "display_name": "Team C", "profiles": ["cpu"]},
    ]
    path = write_config(tmp_path / "portal.yaml", config)
    portal = Portal(tmp_path / "data", str(path), port=port, quiet=True).start()
    yield portal
    portal.stop()


def gitlab_login(browser, portal, user: str, shot: str):
    page = browser.new_context().new_page()
    page.goto(f"{portal.url}hub/login")
    page.click("a.btn-jupyter, a[href*='oauth_login']")
    page.fill("#user_login", user)
    page.fill("#user_password", f"{user}-gitlab-pass")
    page.screenshot(path=str(ARTIFACTS / f"gitlab-login-{shot}.png"))
    page.click("text=Sign in")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(ARTIFACTS / f"gitlab-login-{shot}-after.png"))
    return page


def groups_of(portal, user: str) -> list[str]:
    token = new_token(portal.data.root, "admin", str(portal.config_path))
    r = requests.get(f"{portal.url}hub/api/users/{user}", headers={"Authorization": f"token {token}"}, timeout=30)
    return sorted(r.json()["groups"]) if r.status_code == 200 else None


def test_gitlab_groups_become_teams_at_each_login(gitlab_portal, gitlab):
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = gitlab_login(browser, gitlab_portal, "gina", "gina")
        assert "/services/portal/" in page.url, page.url
        assert "Team A" in page.content() and "Team B" not in page.content()
        page.context.close()
        assert groups_of(gitlab_portal, "gina") == ["team-a"]  # gina-playground names no team: ignored

        # GitLab membership changed: the next login follows it
        del gitlab.groups["radiology"].members["gina"]
        gitlab.groups["cardiology"].members["gina"] = 30
        gitlab_login(browser, gitlab_portal, "gina", "gina-again").context.close()
        assert groups_of(gitlab_portal, "gina") == ["team-b"]  # paths compare case-insensitively

        page = gitlab_login(browser, gitlab_portal, "ivan", "ivan")
        assert "/services/portal/" not in page.url and "403" in page.content(), page.url
        assert groups_of(gitlab_portal, "ivan") is None
    hub_groups = requests.get(f"{gitlab_portal.url}hub/api/groups", timeout=30, headers={
        "Authorization": f"token {new_token(gitlab_portal.data.root, 'admin', str(gitlab_portal.config_path))}"})
    assert sorted(g["name"] for g in hub_groups.json()) == ["team-a", "team-b", "team-c"]


def test_acting_as_the_user_uses_their_own_gitlab_token(gitlab_portal, gitlab, new_project):
    """gitlab.acts_as: user: the portal reads the user's OAuth token from the hub's encrypted
    auth_state and acts with it; GitLab refusing that user (not the platform) is what shows."""
    project = new_project("acting")
    with chromium() as browser:
        gitlab_login(browser, gitlab_portal, "gina", "gina-acting").context.close()
    token = new_token(gitlab_portal.data.root, "gina", str(gitlab_portal.config_path))
    api = f"{gitlab_portal.url}services/portal/api/v1/teams/team-a/projects"
    headers = {"Authorization": f"token {token}"}
    listed = requests.get(api, headers=headers, timeout=30)
    assert listed.status_code == 200, listed.text
    assert project["id"] in [p["id"] for p in listed.json()["items"]]
    gitlab.faults.forbid("gina")
    try:
        refused = requests.get(api, headers=headers, timeout=30)
        assert refused.status_code == 403 and "GitLab refused" in refused.json()["message"], refused.text
    finally:
        gitlab.faults.clear()
    log = (gitlab_portal.data.root / "logs" / "jupyterhub.log").read_text(errors="replace")
    assert not any(t in log for t, user in gitlab.tokens.items() if user == "gina")  # her tokens stay out of logs
