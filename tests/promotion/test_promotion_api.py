"""Promotion through the API against the GitLab double, whose pipelines really run: what a
team sees of its GitLab group, what it may promote, and each failure mode. The happy path
(a real Kaniko build, the proof, the prod server) is driven in the browser:
test_promotion_browser.py."""

from __future__ import annotations

import asyncio
import threading

import gitlab as python_gitlab
import pytest
import requests

from portal.db import Database
from portal.promotion import gitlab as ops
from portal.promotion.gitlab import GitLabAccess, GitLabError, Settings
from portal.promotion.records import Promotions
from tests.promotion.conftest import PromotionSite, set_up_files, start_promotion_portal

pytestmark = pytest.mark.timeout(420)

QUICK_FAIL = b"""stages: [build]
build-prod-image:
  stage: build
  image: localhost/aiportal-base:bookworm
  rules:
    - if: $CI_COMMIT_TAG
  script:
    - echo "building the prod image"
    - sleep $SLEEP
    - 'echo "error: no space left on device" >&2'
    - exit 3
"""


def quick_fail_files(gitlab, sleep: int = 0) -> dict[str, bytes]:
    """A set-up project whose pipeline fails in its build job after `sleep` seconds."""
    return {**set_up_files(gitlab.dev_pinned), ".gitlab-ci.yml": QUICK_FAIL.replace(b"$SLEEP", str(sleep).encode())}


def newest(site, project: dict) -> str:
    """The sha of the project's newest commit, as team-a's admin sees it."""
    return site.call("GET", f"/teams/team-a/projects/{project['id']}", "alice").json()["commits"][0]["sha"]


def in_gitlab(gitlab, project: dict):
    """The project through python-gitlab with the platform token: acting in GitLab directly."""
    return python_gitlab.Gitlab(gitlab.url, private_token=gitlab.platform_token, timeout=10).projects.get(project["id"])


def tag_names(gitlab, project: dict) -> list[str]:
    return [t.name for t in in_gitlab(gitlab, project).tags.list(get_all=True)]


def promote(site, project: dict, version, user: str = "alice", team: str = "team-a", sha: str | None = None):
    sha = sha or newest(site, project)
    return site.call("POST", f"/teams/{team}/promotions", user,
                     json={"project_id": project["id"], "commit": sha, "version": version, "release_notes": "notes"})


def test_projects_are_those_of_the_teams_group_only(promotion_site, new_project):
    project = new_project("listed")
    listed = promotion_site.call("GET", "/teams/team-a/projects", "bob").json()
    assert project["id"] in [p["id"] for p in listed["items"]]
    assert listed["may_promote"] is False and listed["gitlab_group"] == "radiology"
    assert promotion_site.call("GET", "/teams/team-a/projects", "alice").json()["may_promote"] is True
    # carol (team-b, cardiology) can neither read team-a nor reach radiology's project through her team
    assert promotion_site.call("GET", "/teams/team-a/projects", "carol").status_code == 404
    r = promotion_site.call("GET", f"/teams/team-b/projects/{project['id']}", "carol")
    assert r.status_code == 404 and "group" in r.json()["message"]
    r = promote(promotion_site, project, "v1.0.0", user="carol", team="team-b", sha=newest(promotion_site, project))
    assert r.status_code == 404, r.text


def test_versions_must_be_semver_and_new(promotion_site, gitlab, new_project):
    project = new_project("versions")
    sha = newest(promotion_site, project)
    for bad in ("1.0.0", "v1.0", "v01.0.0", "v1.0.0-rc1", "v1.0.0\n", "<b>v1</b>", 7, None):
        r = promote(promotion_site, project, bad, sha=sha)
        assert r.status_code == 400 and r.json()["message"].startswith("version:"), (bad, r.text)
    in_gitlab(gitlab, project).tags.create({"tag_name": "v2.0.0", "ref": sha})  # made in GitLab directly
    r = promote(promotion_site, project, "v2.0.0", sha=sha)
    assert r.status_code == 409, r.text
    assert r.json()["tag"] == {"name": "v2.0.0", "commit": sha, "message": ""}
    assert promotion_site.call("GET", f"/teams/team-a/projects/{project['id']}", "alice").json()[
        "suggested_version"] == "v2.0.1"
    for body, field in (({"project_id": project["id"], "commit": "zz", "version": "v3.0.0"}, "commit"),
                        ({"project_id": "1", "commit": sha, "version": "v3.0.0"}, "project_id"),
                        ({"project_id": project["id"], "commit": sha, "version": "v3.0.0", "x": 1}, "unknown"),
                        ({"project_id": project["id"], "commit": "0" * 40, "version": "v3.0.0"}, "commit")):
        r = promotion_site.call("POST", "/teams/team-a/promotions", "alice", json=body)
        assert r.status_code == 400 and r.json()["message"].startswith(field), r.text


def test_the_same_promotion_submitted_twice_at_once_makes_one_tag_and_one_record(promotion_site, gitlab, new_project):
    project = new_project("twice", quick_fail_files(gitlab))
    sha = newest(promotion_site, project)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(promote(promotion_site, project, "v1.0.0", sha=sha)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [202, 409], [r.text for r in answers]
    made = next(r for r in answers if r.status_code == 202).json()
    promotion_site.wait("team-a", made["id"])
    assert tag_names(gitlab, project) == ["v1.0.0"]
    assert len(gitlab.projects["radiology/twice"].pipelines) == 1
    items = promotion_site.call("GET", "/teams/team-a/promotions", "alice", params={"project_id": project["id"]}).json()
    assert [p["id"] for p in items["items"]] == [made["id"]]


def test_a_failed_pipeline_shows_the_failing_job_and_its_log(promotion_site, gitlab, new_project):
    project = new_project("failing", quick_fail_files(gitlab))
    r = promote(promotion_site, project, "v0.1.0")
    record = promotion_site.wait("team-a", r.json()["id"])
    assert record["status"] == "failed" and record["message"] == "job build-prod-image failed (script_failure)"
    assert "no space left on device" in record["log_tail"]
    assert record["digest"] is None and record["checks"] == {}


def test_unpinned_dev_image_fails_the_build_with_the_reason(promotion_site, gitlab, new_project):
    files = set_up_files(gitlab.dev_pinned)
    files[".gitlab-ci.yml"] = files[".gitlab-ci.yml"].replace(gitlab.dev_pinned.encode(), gitlab.dev_image.encode())
    project = new_project("unpinned", files)
    record = promotion_site.wait("team-a", promote(promotion_site, project, "v0.1.0").json()["id"])
    assert record["status"] == "failed" and "by digest" in record["log_tail"], record


def test_gitlab_refusing_is_a_clear_403(promotion_site, gitlab, new_project):
    project = new_project("forbidden")
    gitlab.faults.forbid("platform")
    try:
        r = promotion_site.call("GET", f"/teams/team-a/projects/{project['id']}", "alice")
        assert r.status_code == 403 and "GitLab refused (403 Forbidden)" in r.json()["message"], r.text
        r = promotion_site.call("POST", "/teams/team-a/promotions", "alice",
                                json={"project_id": project["id"], "commit": "a" * 40, "version": "v1.0.0"})
        assert r.status_code == 403 and "GitLab refused" in r.json()["message"], r.text
    finally:
        gitlab.faults.clear()


def test_gitlab_unreachable_is_503_and_a_running_promotion_waits_it_out(promotion_site, gitlab, new_project):
    project = new_project("outage", quick_fail_files(gitlab, sleep=4))
    r = promote(promotion_site, project, "v0.1.0")
    promotion_id = r.json()["id"]
    promotion_site.wait("team-a", promotion_id, until=lambda p: p["pipeline_id"] is not None)
    gitlab.stop()
    try:
        r = promotion_site.call("GET", "/teams/team-a/projects", "alice")
        assert r.status_code == 503 and "GitLab is unreachable" in r.json()["message"], r.text
        waiting = promotion_site.wait("team-a", promotion_id, timeout=30,
                                      until=lambda p: "unreachable" in p["message"])
        assert waiting["status"] == "running" and "retrying" in waiting["message"]
    finally:
        gitlab.start()
    record = promotion_site.wait("team-a", promotion_id)
    assert record["status"] == "failed" and "no space left" in record["log_tail"]
    assert len(gitlab.projects["radiology/outage"].pipelines) == 1


def test_transient_gitlab_errors_are_retried_without_duplicates(promotion_site, gitlab, new_project):
    project = new_project("flaky", quick_fail_files(gitlab))
    gitlab.faults.fail_next(2, status=502)
    r = promotion_site.call("GET", f"/teams/team-a/projects/{project['id']}", "alice")
    assert r.status_code == 200, r.text
    # a tag request that GitLab did but whose answer was lost is retried: the same tag, once
    p = in_gitlab(gitlab, project)
    sha = r.json()["commits"][0]["sha"]
    assert ops.create_tag(p, "v9.9.9", sha, "x") == ops.create_tag(p, "v9.9.9", sha, "x")
    with pytest.raises(ops.TagExists):
        ops.create_tag(p, "v9.9.9", "0" * 40, "x")
    assert tag_names(gitlab, project) == ["v9.9.9"]


def test_a_restarted_portal_resumes_a_running_promotion(tmp_path, gitlab, new_project, promotion_config):
    project = new_project("resumed", quick_fail_files(gitlab, sleep=6))
    portal = start_promotion_portal(tmp_path / "data", promotion_config, gitlab.platform_token)
    try:
        site = PromotionSite(portal)
        promotion_id = promote(site, project, "v0.1.0").json()["id"]
        site.wait("team-a", promotion_id, until=lambda p: p["pipeline"].get("status") == "running")
        portal.stop()
        portal = start_promotion_portal(tmp_path / "data", promotion_config, gitlab.platform_token)
        site = PromotionSite(portal)
        record = site.wait("team-a", promotion_id)
        assert record["status"] == "failed" and "no space left" in record["log_tail"], record
        assert len(gitlab.projects["radiology/resumed"].pipelines) == 1
    finally:
        portal.stop()


def test_set_up_opens_a_merge_request_with_the_template(promotion_site, gitlab, new_project):
    project = new_project("fresh", {"README.md": b"# new\n", ".gitlab-ci.yml": b"test:\n  script: [pytest]\n"})
    overview = promotion_site.call("GET", f"/teams/team-a/projects/{project['id']}", "alice").json()
    assert overview["set_up"] is False
    assert promotion_site.call("POST", f"/teams/team-a/projects/{project['id']}/setup", "bob").status_code == 403
    r = promotion_site.call("POST", f"/teams/team-a/projects/{project['id']}/setup", "alice")
    assert r.status_code == 201 and r.json()["created"], r.text
    again = promotion_site.call("POST", f"/teams/team-a/projects/{project['id']}/setup", "alice")
    assert again.status_code == 200 and again.json()["iid"] == r.json()["iid"]
    branch = promotion_site.call("GET", f"/teams/team-a/projects/{project['id']}", "alice",
                                 params={"ref": "aiportal/set-up-promotion"}).json()
    assert branch["set_up"] is True
    ci = in_gitlab(gitlab, project).files.get(".gitlab-ci.yml", ref="aiportal/set-up-promotion").decode().decode()
    assert "test:" in ci and "images/prod/gitlab-ci.yml" in ci and gitlab.dev_pinned in ci


def test_no_token_reaches_answers_or_logs(promotion_site, gitlab):
    token = gitlab.platform_token
    for path in ("/teams/team-a/projects", "/teams/team-a/promotions", "/openapi.json"):
        assert token not in promotion_site.call("GET", path, "alice").text
    page = requests.get(f"{promotion_site.url}services/portal/teams/team-a/promotions", timeout=30,
                        headers={"Authorization": f"token {promotion_site.token('alice')}"})
    assert page.status_code == 200 and "Promotions" in page.text and token not in page.text
    logs = promotion_site.portal.data.root / "logs"
    for log in logs.glob("*.log"):
        assert token not in log.read_text(errors="replace"), log


def test_a_slow_gitlab_is_retried_then_named(gitlab, new_project):
    """Each request that outlasts gitlab.timeout is retried with backoff, then a 503 says so."""
    project = new_project("slow")
    access = GitLabAccess(Settings(url=gitlab.url, ca_bundle=None, acts_as="platform", poll_interval=0.5, timeout=1,
                                   registry_insecure=True), environ={"AIPORTAL_GITLAB_TOKEN": gitlab.platform_token})
    path = f"/api/v4/projects/{project['id']}"

    async def read():
        client = await access.client("alice")
        return await access.call("reading the project", client.projects.get, project["id"])

    gitlab.faults.delay = 1.5
    try:
        seen = len([r for r in gitlab.requests if r[1] == path])
        with pytest.raises(GitLabError) as refused:
            asyncio.run(read())
        assert refused.value.status == 503 and "did not answer in time" in refused.value.message
        assert len([r for r in gitlab.requests if r[1] == path]) - seen == 3  # tried three times
    finally:
        gitlab.faults.clear()
    assert asyncio.run(read()).id == project["id"]


def test_another_teams_released_version_can_be_neither_read_nor_spawned(promotion_site):
    """A released version of team-a (recorded as the follower records one) is invisible to
    carol of team-b: 404 through the portal, and through the hub's own REST API her spawn
    with its id is refused exactly like an id that does not exist."""
    site = promotion_site
    promotions = Promotions(Database(site.portal.data.portal_db_url(site.portal.config.database_url)))
    made = promotions.create(team="team-a", project_id=999_999, project_path="radiology/released",
                             commit_sha="a" * 40, version="v9.0.0", release_notes="", created_by="alice",
                             base_image=None)
    promotions.update(made["id"], status="success", image="127.0.0.1:5055/radiology/released:v9.0.0",
                      digest="sha256:" + "b" * 64)
    assert site.call("GET", f"/teams/team-a/promotions/{made['id']}", "carol").status_code == 404
    assert site.call("GET", f"/teams/team-b/promotions/{made['id']}", "carol").status_code == 404
    headers = {"Authorization": f"token {site.token('carol')}"}
    answers = {}
    for promotion in (made["id"], 987_654):
        for team, profile in (("team-a", "prod"), ("team-b", "cpu")):
            r = requests.post(f"{site.hub_api}/users/carol/servers/p{promotion}{team[-1]}", headers=headers, timeout=60,
                              json={"team": team, "profile": profile, "promotion": promotion})
            assert r.status_code == 400, r.text
            answers[promotion, team] = r.json()["message"].replace(str(promotion), "ID")
    assert answers[made["id"], "team-b"] == answers[987_654, "team-b"]  # a real id of another team says no more
    assert "not a member of team 'team-a'" in answers[made["id"], "team-a"]
