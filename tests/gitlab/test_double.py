"""Tests of the GitLab double, through python-gitlab and requests as the portal uses it."""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import gitlab
import pytest
import requests

from portal.ports import free_port
from tests.gitlab import GitLabDouble
from tests.registry import Registry

TIMEOUT = 10
CI = b"""stages: [test, build]
unit:
  stage: test
  image: busybox
  script:
    - echo unit ok
build:
  stage: build
  image: busybox
  script:
    - echo building
"""


class FakeRunner:
    """Runs a job's script lines as words: `fail` exits 1, `block` waits for `gate`,
    anything else is echoed to the trace. Remembers each job's variables and workspace files."""

    def __init__(self):
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()
        self.seen: dict[str, dict] = {}

    def run_job(self, job, workspace: Path, variables: dict, on_output) -> int:
        self.seen[job.name] = {"variables": variables, "files": sorted(p.name for p in workspace.iterdir())}
        for line in job.script:
            words = line.split()
            if "fail" in words:
                on_output("failing\n")
                return 1
            if "block" in words:
                on_output("waiting\n")
                self.started.set()
                assert self.gate.wait(30)
            on_output(line + "\n")
        return 0


@pytest.fixture
def runner():
    """A FakeRunner: pipelines are planned by tests/gitlab/runner.py, their jobs run here."""
    return FakeRunner()


@pytest.fixture
def double(tmp_path, runner):
    """Radiology (alice maintainer, bob reporter) with subgroup seg; pathology (carol)."""
    d = GitLabDouble(tmp_path, runner=runner)
    d.add_user("alice", name="Alice A", password="alice-secret")
    d.add_user("bob")
    d.add_user("carol")
    d.add_group("radiology", name="Radiology", members={"alice": 40, "bob": 20})
    d.add_group("radiology/seg", name="Segmentation")
    d.add_group("pathology", name="Pathology", members={"carol": 50})
    d.add_project("radiology", "segmenter", files={"README.md": b"# seg\n", "src/train.py": b"print(1)\n"})
    d.add_project("radiology/seg", "unet", files={"README.md": b"unet\n"})
    d.add_project("pathology", "slides", files={"README.md": b"slides\n"})
    d.start()
    yield d
    d.close()


def client(double, username) -> gitlab.Gitlab:
    return gitlab.Gitlab(double.url, private_token=double.personal_token(username), timeout=TIMEOUT)


def wait_for(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.mark.timeout(60)
def test_members_see_their_groups_and_projects_others_get_404(double):
    alice, carol = client(double, "alice"), client(double, "carol")
    assert [g.full_path for g in alice.groups.list(get_all=True)] == ["radiology", "radiology/seg"]
    assert [g.full_path for g in alice.groups.list(min_access_level=40, get_all=True)] == ["radiology", "radiology/seg"]
    assert [g.full_path for g in client(double, "bob").groups.list(min_access_level=30, get_all=True)] == []
    assert {p.path_with_namespace for p in alice.projects.list(membership=True, get_all=True)} == {
        "radiology/segmenter", "radiology/seg/unet"}
    nested = alice.groups.get("radiology").projects.list(include_subgroups=True, get_all=True)
    assert {p.path_with_namespace for p in nested} == {"radiology/segmenter", "radiology/seg/unet"}
    alice.auth()
    assert alice.user.name == "Alice A"

    assert [p.path_with_namespace for p in carol.projects.list(get_all=True)] == ["pathology/slides"]
    with pytest.raises(gitlab.GitlabGetError) as error:
        carol.projects.get("radiology/segmenter")
    assert error.value.response_code == 404 and "404 Project Not Found" in str(error.value)
    with pytest.raises(gitlab.GitlabGetError) as error:
        carol.groups.get("radiology")
    assert error.value.response_code == 404 and "404 Group Not Found" in str(error.value)
    project = alice.projects.get("radiology/segmenter")
    assert alice.projects.get(project.id).path_with_namespace == "radiology/segmenter"


@pytest.mark.timeout(60)
def test_unauthenticated_and_unknown_routes(double):
    answer = requests.get(f"{double.url}/api/v4/projects", timeout=TIMEOUT)
    assert (answer.status_code, answer.json()) == (401, {"message": "401 Unauthorized"})
    answer = requests.get(f"{double.url}/api/v4/user", headers={"PRIVATE-TOKEN": "nope"}, timeout=TIMEOUT)
    assert answer.status_code == 401
    answer = requests.get(f"{double.url}/api/v4/nothing/here", timeout=TIMEOUT)
    assert (answer.status_code, answer.json()) == (404, {"error": "404 Not Found"})


@pytest.mark.timeout(90)
def test_commits_paginate_with_gitlab_headers(double):
    for n in range(4):
        double.commit("radiology/segmenter", {f"n{n}.txt": b"x"}, message=f"change {n}", author="alice")
    token = double.personal_token("alice")
    url = f"{double.url}/api/v4/projects/radiology%2Fsegmenter/repository/commits"
    first = requests.get(url, params={"per_page": 2}, headers={"PRIVATE-TOKEN": token}, timeout=TIMEOUT)
    assert [c["title"] for c in first.json()] == ["change 3", "change 2"]
    assert first.headers["X-Total"] == "5" and first.headers["X-Total-Pages"] == "3"
    assert first.headers["X-Next-Page"] == "2" and first.headers["X-Prev-Page"] == ""
    assert first.links["next"]["url"].startswith(double.url) and "page=2" in first.links["next"]["url"]
    assert "prev" not in first.links and "page=3" in first.links["last"]["url"]
    last = requests.get(first.links["last"]["url"], headers={"PRIVATE-TOKEN": token}, timeout=TIMEOUT)
    assert [c["title"] for c in last.json()] == ["Initial commit"]
    assert last.headers["X-Next-Page"] == "" and last.headers["X-Prev-Page"] == "2" and "next" not in last.links

    project = client(double, "alice").projects.get("radiology/segmenter")
    walked = project.commits.list(per_page=2, get_all=True)
    assert [c.title for c in walked] == ["change 3", "change 2", "change 1", "change 0", "Initial commit"]
    assert len(list(project.commits.list(per_page=2, iterator=True))) == 5
    assert walked[0].author_name == "Alice A" and walked[0].parent_ids == [walked[1].id]
    assert project.commits.get(walked[-1].id).message == "Initial commit\n"
    assert project.commits.list(since="2099-01-01T00:00:00Z", get_all=True) == []


@pytest.mark.timeout(60)
def test_branches_tree_files_and_archive(double, tmp_path):
    sha = double.commit("radiology/segmenter", {"src/model.py": b"m\n", "README.md": None}, author="alice",
                        branch="main")
    project = client(double, "alice").projects.get("radiology/segmenter")
    assert [(b.name, b.commit["id"], b.default) for b in project.branches.list(get_all=True)] == [("main", sha, True)]
    assert project.branches.get("main").commit["id"] == sha
    assert {(e["path"], e["type"]) for e in project.repository_tree(recursive=True, get_all=True)} == {
        ("src", "tree"), ("src/train.py", "blob"), ("src/model.py", "blob")}
    assert [e["name"] for e in project.repository_tree(path="src", get_all=True)] == ["model.py", "train.py"]
    file = project.files.get("src/train.py", ref="main")
    assert file.decode() == b"print(1)\n" and file.last_commit_id != sha and file.blob_id
    assert project.files.raw("src/model.py", ref=sha) == b"m\n"
    with pytest.raises(gitlab.GitlabGetError):
        project.files.get("README.md", ref="main")
    first = project.commits.list(get_all=True)[-1].id
    assert project.files.raw("README.md", ref=first) == b"# seg\n"

    archive = tmp_path / "code.tar"
    archive.write_bytes(project.repository_archive(sha=sha, format="tar"))
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert f"segmenter-{sha}/src/model.py" in names and not any(n.endswith("README.md") for n in names)
    assert project.repository_archive(sha=sha)[:2] == b"\x1f\x8b"  # tar.gz by default


@pytest.mark.timeout(60)
def test_tags_need_developer_and_unique_names(double):
    alice = client(double, "alice").projects.get("radiology/segmenter")
    tag = alice.tags.create({"tag_name": "v1.0.0", "ref": "main", "message": "First release"})
    assert tag.name == "v1.0.0" and tag.message == "First release" and tag.target != tag.commit["id"]
    assert tag.commit["id"] == alice.branches.get("main").commit["id"] and tag.commit["title"] == "Initial commit"
    light = alice.tags.create({"tag_name": "light", "ref": tag.commit["id"]})
    assert light.message == "" and light.target == light.commit["id"]
    assert alice.tags.get("v1.0.0").message == "First release"
    assert {t.name for t in alice.tags.list(get_all=True)} == {"v1.0.0", "light"}

    with pytest.raises(gitlab.GitlabCreateError) as error:
        alice.tags.create({"tag_name": "v1.0.0", "ref": "main"})
    assert error.value.response_code == 400 and "Tag v1.0.0 already exists" in str(error.value)
    with pytest.raises(gitlab.GitlabCreateError) as error:
        alice.tags.create({"tag_name": "v2", "ref": "nowhere"})
    assert error.value.response_code == 400 and "Target nowhere is invalid" in str(error.value)

    bob = client(double, "bob").projects.get("radiology/segmenter")
    assert [t.name for t in bob.tags.list(search="v1", get_all=True)] == ["v1.0.0"]
    with pytest.raises(gitlab.GitlabCreateError) as error:
        bob.tags.create({"tag_name": "v9", "ref": "main"})
    assert error.value.response_code == 403 and "403 Forbidden" in str(error.value)
    carol = client(double, "carol")
    with pytest.raises(gitlab.GitlabCreateError) as error:
        carol.projects.get("radiology/segmenter", lazy=True).tags.create({"tag_name": "v9", "ref": "main"})
    assert error.value.response_code == 404


@pytest.mark.timeout(90)
def test_tag_pipeline_runs_live_to_success(double, runner):
    ci = CI.replace(b"echo building", b"block")
    sha = double.commit("radiology/segmenter", {".gitlab-ci.yml": ci}, message="ci", author="alice")
    double.set_variable("KANIKO_ARGS", "--reproducible")
    runner.gate.clear()
    project = client(double, "alice").projects.get("radiology/segmenter")
    project.tags.create({"tag_name": "v0.1.0", "ref": "main"})
    assert runner.started.wait(20)

    [pipeline] = project.pipelines.list(get_all=True)
    assert (pipeline.ref, pipeline.tag, pipeline.sha, pipeline.source) == ("v0.1.0", True, sha, "push")
    assert pipeline.status == "running" and pipeline.user["username"] == "alice"
    assert project.pipelines.list(ref="v0.1.0", status="running", get_all=True)[0].id == pipeline.id
    jobs = {j.name: j for j in pipeline.jobs.list(get_all=True)}
    assert (jobs["unit"].status, jobs["build"].status) == ("success", "running")
    build = project.jobs.get(jobs["build"].id)
    assert build.pipeline["id"] == pipeline.id and build.tag and build.started_at and not build.finished_at
    before = build.trace().decode()
    assert "waiting" in before and "block" not in before

    runner.gate.set()
    wait_for(lambda: project.pipelines.get(pipeline.id).status == "success")
    pipeline.refresh()
    assert pipeline.finished_at and pipeline.duration is not None and pipeline.started_at
    after = project.jobs.get(build.id).trace().decode()
    assert after.startswith(before) and after.endswith("Job succeeded\n")
    assert double.pipeline("radiology/segmenter", pipeline.id).history == ["created", "pending", "running", "success"]

    variables = runner.seen["build"]["variables"]
    assert variables["CI_COMMIT_TAG"] == "v0.1.0" and variables["CI_COMMIT_SHA"] == sha
    assert variables["CI_PROJECT_PATH"] == "radiology/segmenter" and variables["KANIKO_ARGS"] == "--reproducible"
    assert variables["CI_JOB_NAME"] == "build" and variables["CI_REGISTRY_USER"] == "gitlab-ci-token"
    assert runner.seen["build"]["files"] == [".gitlab-ci.yml", "README.md", "src"]


@pytest.mark.timeout(90)
def test_failed_job_fails_pipeline_and_skips_later_stages(double):
    double.commit("radiology/segmenter", {".gitlab-ci.yml": CI.replace(b"echo unit ok", b"fail")}, author="alice")
    project = client(double, "alice").projects.get("radiology/segmenter")
    project.tags.create({"tag_name": "v0.2.0", "ref": "main"})
    pipeline = wait_for(lambda: next((p for p in project.pipelines.list(get_all=True) if p.status == "failed"), None))
    jobs = {j.name: j for j in pipeline.jobs.list(get_all=True)}
    assert (jobs["unit"].status, jobs["unit"].failure_reason) == ("failed", "script_failure")
    assert jobs["build"].status == "skipped"
    assert "exit code 1" in project.jobs.get(jobs["unit"].id).trace().decode()

    double.commit("radiology/segmenter", {".gitlab-ci.yml": b"stages: [build\n"}, author="alice")
    project.tags.create({"tag_name": "v0.3.0", "ref": "main"})
    [broken] = project.pipelines.list(ref="v0.3.0", get_all=True)
    assert broken.status == "failed" and "invalid YAML" in broken.yaml_errors
    assert broken.jobs.list(get_all=True) == []


@pytest.mark.timeout(60)
def test_without_runner_a_pipeline_stays_created_and_no_ci_file_means_no_pipeline(tmp_path):
    double = GitLabDouble(tmp_path)
    double.add_user("alice")
    double.add_group("radiology", members={"alice": 40})
    double.add_project("radiology", "segmenter", files={".gitlab-ci.yml": CI})
    double.add_project("radiology", "docs", files={"README.md": b"docs"})
    double.start()
    try:
        gl = client(double, "alice")
        project = gl.projects.get("radiology/segmenter")
        project.tags.create({"tag_name": "v1", "ref": "main"})
        [pipeline] = project.pipelines.list(get_all=True)
        assert pipeline.status == "created"
        jobs = [(j.name, j.status) for j in pipeline.jobs.list(get_all=True)]
        assert jobs == [("unit", "created"), ("build", "created")]
        docs = gl.projects.get("radiology/docs")
        docs.tags.create({"tag_name": "v1", "ref": "main"})
        assert docs.pipelines.list(get_all=True) == []
        assert docs.repositories.list(get_all=True) == []  # registry=None: no images
    finally:
        double.close()


@pytest.mark.timeout(60)
def test_merge_request_from_a_branch_made_by_a_commit(double):
    project = client(double, "alice").projects.get("radiology/segmenter")
    commit = project.commits.create({
        "branch": "feature", "start_branch": "main", "commit_message": "Add eval",
        "actions": [{"action": "create", "file_path": "eval.py", "content": "print(2)\n"},
                    {"action": "update", "file_path": "README.md", "content": "IyBuZXcK", "encoding": "base64"}],
    })
    assert project.files.raw("README.md", ref="feature") == b"# new\n"
    assert project.branches.get("feature").commit["id"] == commit.id
    request = project.mergerequests.create({"source_branch": "feature", "target_branch": "main",
                                            "title": "Evaluation", "description": "adds eval"})
    assert (request.iid, request.state, request.sha, request.author["username"]) == (1, "opened", commit.id, "alice")
    assert project.mergerequests.get(1).title == "Evaluation"
    assert [m.iid for m in project.mergerequests.list(get_all=True)] == [1]
    with pytest.raises(gitlab.GitlabCreateError) as error:
        project.commits.create({"branch": "main", "commit_message": "dup",
                                "actions": [{"action": "create", "file_path": "README.md", "content": "x"}]})
    assert error.value.response_code == 400
    bob = client(double, "bob").projects.get("radiology/segmenter")
    with pytest.raises(gitlab.GitlabCreateError) as error:
        bob.mergerequests.create({"source_branch": "feature", "target_branch": "main", "title": "x"})
    assert error.value.response_code == 403


@pytest.mark.timeout(60)
def test_faults_delay_failures_and_forbidden_users(double):
    gl = client(double, "alice")
    double.faults.delay = 0.3
    started = time.monotonic()
    gl.projects.get("radiology/segmenter")
    assert time.monotonic() - started >= 0.3
    double.faults.delay = 0.0

    double.faults.fail_next(2, status=503)
    for _ in range(2):
        with pytest.raises(gitlab.GitlabGetError) as error:
            gl.projects.get("radiology/segmenter")
        assert error.value.response_code == 503
    assert gl.projects.get("radiology/segmenter").path == "segmenter"

    double.faults.forbid("alice")
    with pytest.raises(gitlab.GitlabListError) as error:
        gl.groups.list(get_all=True)
    assert error.value.response_code == 403 and "403 Forbidden" in str(error.value)
    assert client(double, "bob").groups.list(get_all=True)
    double.faults.clear()
    assert gl.groups.list(get_all=True)
    assert double.requests.count(("GET", "/api/v4/projects/radiology/segmenter")) == 4


@pytest.mark.timeout(60)
def test_stop_makes_gitlab_unreachable_and_start_serves_same_port_and_state(double):
    gl = client(double, "alice")
    gl.projects.get("radiology/segmenter").tags.create({"tag_name": "kept", "ref": "main"})
    url = double.url
    double.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/api/v4/version", timeout=TIMEOUT)
    double.start()
    assert double.url == url
    assert [t.name for t in gl.projects.get("radiology/segmenter").tags.list(get_all=True)] == ["kept"]


@pytest.mark.timeout(60)
def test_oauth_code_flow_gives_a_bearer_token_for_the_api(double):
    redirect = "http://127.0.0.1:1/hub/oauth_callback"
    double.add_oauth_app("hub-client", "hub-secret", redirect)
    params = {"client_id": "hub-client", "redirect_uri": redirect, "response_type": "code", "state": "xyz",
              "scope": "read_user api"}
    browser = requests.Session()
    page = browser.get(f"{double.url}/oauth/authorize", params=params, timeout=TIMEOUT)
    assert page.status_code == 200 and 'id="user_login"' in page.text and "Sign in" in page.text
    wrong = browser.post(page.url, data={"user[login]": "alice", "user[password]": "nope"}, timeout=TIMEOUT)
    assert "Invalid login or password." in wrong.text
    signed = browser.post(page.url, data={"user[login]": "alice", "user[password]": "alice-secret"},
                          allow_redirects=False, timeout=TIMEOUT)
    assert signed.status_code == 302 and signed.headers["Location"].startswith(redirect + "?")
    query = parse_qs(urlsplit(signed.headers["Location"]).query)
    assert query["state"] == ["xyz"]

    form = {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect}
    token = requests.post(f"{double.url}/oauth/token", data=form, auth=("hub-client", "hub-secret"), timeout=TIMEOUT)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"] and body["expires_in"] > 0
    again = requests.post(f"{double.url}/oauth/token", timeout=TIMEOUT,
                          data={**form, "client_id": "hub-client", "client_secret": "hub-secret"})
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")

    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    me = requests.get(f"{double.url}/api/v4/user", headers=bearer, timeout=TIMEOUT).json()
    assert me["username"] == "alice" and me["email"] == "alice@example.org"
    groups = requests.get(f"{double.url}/api/v4/groups", params={"min_access_level": 10}, headers=bearer,
                          timeout=TIMEOUT).json()
    assert [g["full_path"] for g in groups] == ["radiology", "radiology/seg"]

    bad = browser.get(f"{double.url}/oauth/authorize", params={**params, "redirect_uri": "http://evil/"},
                      timeout=TIMEOUT)
    assert bad.status_code == 400
    remembered = browser.get(f"{double.url}/oauth/authorize", params=params, allow_redirects=False, timeout=TIMEOUT)
    assert remembered.status_code == 302 and "code=" in remembered.headers["Location"]


def push_image(registry: Registry, repository: str, tag: str) -> tuple[str, str, int]:
    """Push a one-layer OCI image over the registry's HTTP API; (manifest digest, config digest, size)."""
    def upload(blob: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        start = requests.post(f"{registry.url}/v2/{repository}/blobs/uploads/", timeout=TIMEOUT)
        location = start.headers["Location"]
        location = location if location.startswith("http") else registry.url + location
        separator = "&" if "?" in location else "?"
        done = requests.put(f"{location}{separator}digest={digest}", data=blob, timeout=TIMEOUT,
                            headers={"Content-Type": "application/octet-stream"})
        assert done.status_code == 201, done.text
        return {"digest": digest, "size": len(blob)}

    config = upload(json.dumps({"created": "2026-11-02T10:00:00Z", "architecture": "amd64", "os": "linux",
                                "rootfs": {"type": "layers", "diff_ids": []}}).encode())
    config["mediaType"] = "application/vnd.oci.image.config.v1+json"
    layer = {**upload(b"layer bytes"), "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": config, "layers": [layer]}).encode()
    put = requests.put(f"{registry.url}/v2/{repository}/manifests/{tag}", data=manifest, timeout=TIMEOUT,
                       headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert put.status_code == 201, put.text
    return put.headers["Docker-Content-Digest"], config["digest"], config["size"] + layer["size"]


@pytest.mark.timeout(90)
def test_registry_endpoints_read_the_real_registry(tmp_path, runner):
    registry = Registry(f"127.0.0.1:{free_port()}", tmp_path / "registry").start()
    double = GitLabDouble(tmp_path / "gitlab", registry=registry.host, runner=runner)
    try:
        double.add_user("alice")
        double.add_group("radiology", members={"alice": 30})
        double.add_project("radiology", "segmenter", files={"README.md": b"x"})
        double.start()
        digest, config, size = push_image(registry, "radiology/segmenter", "v1.0.0")
        push_image(registry, "radiology/segmenter/tools", "latest")
        push_image(registry, "radiology/segmenter-other", "v9")  # another project's path

        project = client(double, "alice").projects.get("radiology/segmenter")
        assert project.container_registry_image_prefix == f"{registry.host}/radiology/segmenter"
        repos = project.repositories.list(tags=True, tags_count=True, get_all=True)
        assert [(r.path, r.name, r.tags_count) for r in repos] == [
            ("radiology/segmenter", "", 1), ("radiology/segmenter/tools", "tools", 1)]
        assert repos[0].attributes["tags"] == [{"name": "v1.0.0", "path": "radiology/segmenter:v1.0.0",
                                  "location": f"{registry.host}/radiology/segmenter:v1.0.0"}]
        assert [t.name for t in repos[0].tags.list(get_all=True)] == ["v1.0.0"]
        tag = repos[0].tags.get("v1.0.0")
        assert (tag.digest, tag.revision, tag.short_revision) == (digest, config[7:], config[7:16])
        assert (tag.total_size, tag.created_at) == (size, "2026-11-02T10:00:00Z")
        with pytest.raises(gitlab.GitlabGetError) as error:
            repos[0].tags.get("v0")
        assert error.value.response_code == 404
    finally:
        double.close()
        registry.close()


@pytest.mark.timeout(60)
async def test_gitlab_oauthenticator_signs_in_with_pkce(double):
    from oauthenticator.gitlab import GitLabOAuthenticator

    redirect = "http://127.0.0.1:1/hub/oauth_callback"
    double.add_oauth_app("hub-client", "hub-secret", redirect)
    auth = GitLabOAuthenticator(gitlab_url=double.url, client_id="hub-client", client_secret="hub-secret",
                                oauth_callback_url=redirect, allowed_gitlab_groups={"radiology"})
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    signed = requests.post(f"{auth.authorize_url}", timeout=TIMEOUT, allow_redirects=False,
                           params={"client_id": "hub-client", "redirect_uri": redirect, "response_type": "code",
                                   "code_challenge": challenge, "code_challenge_method": "S256"},
                           data={"user[login]": "alice@example.org", "user[password]": "alice-secret"})
    code = parse_qs(urlsplit(signed.headers["Location"]).query)["code"][0]
    params = {"code": code, "grant_type": "authorization_code", "redirect_uri": redirect, "code_verifier": verifier,
              "client_id": "hub-client", "client_secret": "hub-secret"}
    info = await auth.get_token_info(None, params)
    user = await auth.token_to_user(info)
    assert user["username"] == "alice"
    assert await auth._check_membership_allowed_groups(user["id"], info["access_token"])
    assert not await auth._check_membership_allowed_groups(double.users["carol"].id, info["access_token"])
