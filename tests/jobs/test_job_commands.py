"""The commands a promoted version declares (`GET /api/v1/teams/{team}/jobs/commands`), read
from `aiportal-jobs.yaml` at the version's tag through the GitLab double, on a portal of this
module's own that promotes through it: a tag with the file, one without, broken files, a tag
that is gone, another team's version (404), and a portal with no GitLab at all; and the Jobs
page's form in Chromium offering a version's commands."""

from __future__ import annotations

import copy

import pytest
import requests

from portal.db import Database
from portal.handlers.job_commands import parse_commands
from portal.launcher import Portal
from portal.promotion.records import Promotions
from portal.tokens import new_token
from tests.browser import chromium, signed_in
from tests.conftest import TEST_CONFIG, free_port, remove_containers, write_config
from tests.gitlab import GitLabDouble

HTTP_TIMEOUT = 30
JOBS_FILE = b"""commands:
  - name: segment
    command: ["python", "/code/segment.py", "--in", "/data/in", "--out", "/data/out"]
    description: Segment every slide of the input folder.
  - name: count
    command: ls -R /data/in | wc -l > /data/out/count.txt
"""


@pytest.fixture(scope="module")
def gitlab(tmp_path_factory):
    double = GitLabDouble(tmp_path_factory.mktemp("commands-gitlab"))
    for user in ("platform", "bob", "carol"):
        double.add_user(user)
    double.add_group("radiology", members={"platform": 40, "bob": 30})
    double.add_group("cardiology", members={"platform": 40, "carol": 30})
    double.platform_token = double.personal_token("platform")
    double.start()
    yield double
    double.close()


class Site:
    def __init__(self, portal: Portal, gitlab: GitLabDouble | None):
        self.portal, self.gitlab = portal, gitlab
        self.api = f"{portal.url}services/portal/api/v1"
        self.promotions = Promotions(Database(portal.data.portal_db_url(portal.config.database_url)))
        self.tokens: dict[str, str] = {}

    def get(self, path: str, user: str = "bob", method: str = "GET", **params) -> requests.Response:
        if user not in self.tokens:
            self.tokens[user] = new_token(self.portal.data.root, user, str(self.portal.config_path))
        return requests.request(method, f"{self.api}{path}", params=params, timeout=HTTP_TIMEOUT,
                                headers={"Authorization": f"token {self.tokens[user]}"})

    def released(self, team: str, project: dict, version: str, status: str = "success") -> str:
        """A promotion of `project` recorded as the follower leaves a finished one → PROJECT:version."""
        made = self.promotions.create(team=team, project_id=project["id"], project_path=project["path_with_namespace"],
                                      commit_sha="a" * 40, version=version, release_notes="", created_by="bob",
                                      base_image=None)
        self.promotions.update(made["id"], status=status, image=f"127.0.0.1:5055/{project['path_with_namespace']}:"
                                                                 f"{version}", digest="sha256:" + "d" * 64)
        return f"{project['path_with_namespace']}:{version}"

    def tagged(self, team: str, project: dict, version: str, files: dict[str, bytes | None] | None = None) -> str:
        """Commit `files` (if any), tag the tip `version` in the double, record it released."""
        path = project["path_with_namespace"]
        if files:
            self.gitlab.commit(path, files)
        self.gitlab.create_tag(self.gitlab.projects[path], version, "main", None, "platform")
        return self.released(team, project, version)


@pytest.fixture(scope="module")
def site(tmp_path_factory, gitlab):
    config = copy.deepcopy(TEST_CONFIG)
    config["gitlab"] = {"url": gitlab.url, "poll_interval": 3, "timeout": 5}
    config["teams"] = [
        {"name": "team-a", "display_name": "Team A", "members": ["bob"], "profiles": ["cpu"],
         "gitlab_group": "radiology"},
        {"name": "team-b", "display_name": "Team B", "members": ["carol"], "profiles": ["cpu"],
         "gitlab_group": "cardiology"},
    ]
    data_dir = tmp_path_factory.mktemp("commands-portal")
    path = write_config(data_dir / "portal.yaml", config)
    portal = Portal(data_dir, str(path), port=free_port(), quiet=True,
                    environ={"AIPORTAL_GITLAB_TOKEN": gitlab.platform_token}).start()
    yield Site(portal, gitlab)
    portal.stop()
    remove_containers(portal)


@pytest.fixture(scope="module")
def segmenter(gitlab):
    return gitlab.add_project("radiology", "segmenter", files={"README.md": b"# Segmenter\n"})


def test_a_version_whose_tag_has_the_file_lists_its_commands(site, segmenter):
    version = site.tagged("team-a", segmenter, "v1.0.0", {"aiportal-jobs.yaml": JOBS_FILE})
    site.gitlab.commit(segmenter["path_with_namespace"], {"aiportal-jobs.yaml": b"commands: []\n"})  # after the tag
    r = site.get("/teams/team-a/jobs/commands", version=version)
    assert r.status_code == 200, r.text
    assert r.json() == {"version": "radiology/segmenter:v1.0.0", "problem": None, "commands": [
        {"name": "segment", "command": ["python", "/code/segment.py", "--in", "/data/in", "--out", "/data/out"],
         "description": "Segment every slide of the input folder."},
        {"name": "count", "command": "ls -R /data/in | wc -l > /data/out/count.txt", "description": ""}]}
    assert ("GET", f"/api/v4/projects/{segmenter['id']}/repository/files/aiportal-jobs.yaml/raw") in [
        (m, p.split("?")[0]) for m, p in site.gitlab.requests]


def test_a_version_without_the_file_has_no_commands_and_no_problem(site, gitlab):
    project = gitlab.add_project("radiology", "plain", files={"README.md": b"# plain\n"})
    version = site.tagged("team-a", project, "v0.1.0")
    r = site.get("/teams/team-a/jobs/commands", version=version)
    assert (r.status_code, r.json()) == (200, {"version": version, "commands": [], "problem": None}), r.text


@pytest.mark.parametrize(("text", "problem"), [
    (b"commands:\n  - name: [unclosed\n", "aiportal-jobs.yaml is not valid YAML (line "),
    (b"commands:\n  - name: seg\n    command: 42\n", "aiportal-jobs.yaml: commands[0].command: 42 is not a command"),
    (b"commands:\n  - command: [run]\n", "aiportal-jobs.yaml: commands[0]: 'name' is a required property"),
    (b"jobs: []\n", "aiportal-jobs.yaml: (top level): unknown key ('jobs' was unexpected)"),
    (b"commands:\n  - {name: a, command: x}\n  - {name: a, command: y}\n",
     "aiportal-jobs.yaml: the name 'a' is given to more than one command"),
])
def test_a_broken_file_gives_no_commands_and_says_why(site, gitlab, text, problem):
    project = gitlab.add_project("radiology", f"broken-{abs(hash(text)) % 10**8}", files={"aiportal-jobs.yaml": text})
    version = site.tagged("team-a", project, "v2.0.0")
    r = site.get("/teams/team-a/jobs/commands", version=version)
    assert r.status_code == 200, r.text
    assert r.json()["commands"] == [] and r.json()["problem"].startswith(problem), r.json()


def test_a_tag_gone_from_the_project_says_so(site, gitlab):
    project = gitlab.add_project("radiology", "untagged", files={"aiportal-jobs.yaml": JOBS_FILE})
    version = site.released("team-a", project, "v3.0.0")  # recorded, but no such tag in GitLab
    r = site.get("/teams/team-a/jobs/commands", version=version)
    assert (r.status_code, r.json()["commands"]) == (200, []), r.text
    assert r.json()["problem"] == "the tag v3.0.0 is no longer in the project"


def test_only_the_teams_successful_promotions_are_versions(site, gitlab, segmenter):
    theirs = gitlab.add_project("cardiology", "ecg", files={"aiportal-jobs.yaml": JOBS_FILE})
    other_team = site.tagged("team-b", theirs, "v1.0.0")
    assert site.get("/teams/team-b/jobs/commands", "carol", version=other_team).status_code == 200
    pending = gitlab.add_project("radiology", "pending", files={"aiportal-jobs.yaml": JOBS_FILE})
    failed = site.released("team-a", pending, "v1.0.0", status="failed")
    answers = {}
    for name, version in (("another team's", other_team), ("failed", failed),
                          ("unknown", "radiology/segmenter:v9.9.9"), ("not a version", "segmenter")):
        r = site.get("/teams/team-a/jobs/commands", version=version)
        answers[name] = r.status_code
        assert "is not a promoted version of team 'team-a'" in r.json()["message"], r.text
    assert answers == {"another team's": 404, "failed": 404, "unknown": 404, "not a version": 404}
    # carol is not in team-a: the team itself is not found, whatever the version
    r = site.get("/teams/team-a/jobs/commands", "carol", version="radiology/segmenter:v1.0.0")
    assert r.status_code == 404 and r.json()["message"] == "no team 'team-a'"
    assert site.get("/teams/team-a/jobs/commands").status_code == 400  # no version at all


def test_without_gitlab_there_are_no_commands_and_the_problem_says_why(portal):
    """The session portal has no GitLab: a released version's commands cannot be read. (The
    version is released for the test only: other tests see team-a's versions, e.g. in spawn forms.)"""
    site = Site(portal, None)
    version = site.released("team-a", {"id": 880_001, "path_with_namespace": "nogitlab/model"}, "v0.0.1")
    try:
        r = site.get("/teams/team-a/jobs/commands", version=version)
        assert r.status_code == 200, r.text
        assert r.json()["commands"] == [] and "no GitLab is configured" in r.json()["problem"], r.json()
    finally:
        record = site.promotions.find(880_001, "v0.0.1")
        site.promotions.update(record["id"], status="failed", message="released for a test only")


def test_parse_commands_refuses_what_a_job_could_not_run():
    assert parse_commands(b"commands: []\n") == ([], None)
    assert parse_commands(b"commands:\n  - {name: a, command: [sh, -c, 'echo \\x00']}\n")[1] is None
    commands, problem = parse_commands(b"commands:\n  - {name: a, command: []}\n")
    assert commands == [] and problem.startswith("aiportal-jobs.yaml: commands[0].command:")
    assert parse_commands(b"commands:\n  - {name: a, command: x, extra: 1}\n") == (
        [], "aiportal-jobs.yaml: commands[0]: unknown key ('extra' was unexpected)")
    assert parse_commands(b"") == ([], "aiportal-jobs.yaml is empty: list the commands under `commands:`")
    assert parse_commands(b"x" * 70_000) == ([], "aiportal-jobs.yaml is larger than 64 KiB")
    assert parse_commands(b"\xff\xfe") == ([], "aiportal-jobs.yaml is not UTF-8 text")


def test_the_jobs_form_offers_the_commands_of_the_chosen_version(site, gitlab, artifacts):
    declared = gitlab.add_project("radiology", "pagecmds", files={"aiportal-jobs.yaml": JOBS_FILE})
    with_commands = site.tagged("team-a", declared, "v1.5.0")
    bare = site.tagged("team-a", gitlab.add_project("radiology", "pagebare", files={"README.md": b"x"}), "v1.6.0")
    with chromium() as browser:
        page = signed_in(browser, site.portal, "bob")
        page.goto(f"{site.portal.url}services/portal/teams/team-a/jobs")
        versions = page.locator("#job-version option").evaluate_all("os => os.map(o => o.value)")
        assert versions[:2] == [bare, with_commands]  # newest first
        assert page.locator("#job-kind-version").is_checked() and page.locator("#dev-note").is_hidden()
        page.select_option("#job-version", with_commands)
        page.wait_for_selector("#job-command-choice option[value='1']", state="attached")
        assert page.locator("#job-command-choice option").all_inner_texts() == ["segment", "count", "Type a command…"]
        assert page.locator("#job-command-preview").inner_text() == \
            "python /code/segment.py --in /data/in --out /data/out"
        assert page.locator("#job-command-note").inner_text() == "Segment every slide of the input folder."
        assert page.locator("#job-command").is_hidden()
        page.screenshot(path=str(artifacts / "jobs-version-commands.png"), full_page=True)
        page.select_option("#job-command-choice", "1")
        assert page.locator("#job-command-preview").inner_text() == "ls -R /data/in | wc -l > /data/out/count.txt"
        page.select_option("#job-command-choice", "")
        assert page.locator("#job-command").is_visible() and page.locator("#job-command-preview").is_hidden()

        page.select_option("#job-version", bare)
        page.locator("#job-command-note").filter(has_text="declares no commands").wait_for()
        assert page.locator("#job-command-choice").is_disabled() and page.locator("#job-command").is_visible()

        page.select_option("#job-version", with_commands)
        page.wait_for_selector("#job-command-choice option[value='1']", state="attached")
        page.fill("#job-outputs", "")
        posted = lambda r: r.url.endswith("/api/v1/teams/team-a/jobs") and r.request.method == "POST"  # noqa: E731
        with page.expect_response(posted) as sent:
            page.click("#job-submit")
        assert sent.value.status == 201, sent.value.text()
        job = sent.value.json()
        assert sent.value.request.post_data_json == {
            "version": with_commands,
            "command": ["python", "/code/segment.py", "--in", "/data/in", "--out", "/data/out"], "inputs": [],
            "resources": {"cpu": 1, "memory": "2Gi", "gpus": 0}, "walltime": "1h"}
        row = page.locator(f"tr.job-row[data-job='{job['id']}']")
        row.wait_for()
        assert row.locator(".job-runs").inner_text() == "radiology/pagecmds v1.5.0"
        assert page.csp_errors == []
        page.context.close()
    site.get(f"/teams/team-a/jobs/{job['id']}", method="DELETE")  # its image is nowhere to pull: not left queued
