"""The promotion pipeline for real, without the GitLab double: images/prod's template planned by
the mini runner, the prod image built by Kaniko's own executor and pushed to a real registry,
then both verify jobs run in the images a hospital would pull.

Needs root, Podman (scripts/podman-setup.sh), the dev image (scripts/build-images.sh), the
executor (scripts/install-kaniko.sh) and Debian's docker-registry (scripts/system-deps.sh).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import docker
import pytest

from spawners.engine import API_VERSION, resolve
from tests.gitlab.runner import JobPlan, Runner, plan

ROOT = Path(__file__).resolve().parents[2]
DEV_IMAGE = "localhost/aiportal-dev:latest"
KANIKO_ARGS = "--insecure --insecure-pull --skip-tls-verify"
REFERENCE_OUTPUT = b"prediction 0.42\n"
PROJECT_FILES = {
    "model.py": 'print(f"prediction {21 / 50}")\n',
    "aiportal-reference.sh": "python3 model.py\n",
    "data/labels.txt": "benign\nmalignant\n",
    # not part of the tree: neither in the hash nor in /code
    ".git/HEAD": "ref: refs/heads/main\n",
}


def tree_sha256(root: Path) -> str:
    """The tree hash contract of images/prod/README.md, computed in Python."""
    paths = sorted(b"./" + p.relative_to(root).as_posix().encode() for p in root.rglob("*")
                   if p.is_file() and not p.is_symlink() and not p.relative_to(root).as_posix().startswith(".git/"))
    listing = b"".join(hashlib.sha256((root / p[2:].decode()).read_bytes()).hexdigest().encode() + b"  " + p + b"\n"
                       for p in paths)
    return hashlib.sha256(listing).hexdigest()


def make_project(path: Path, dev_image: str) -> Path:
    """A team's repository: a tiny model, the prod template installed as its README says."""
    for name, text in PROJECT_FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    (path / "images/prod").mkdir(parents=True)
    for name in ("Containerfile", "gitlab-ci.yml"):
        shutil.copy(ROOT / "images/prod" / name, path / "images/prod" / name)
    shutil.copy(ROOT / "images/prod/dockerignore", path / ".dockerignore")
    (path / ".gitlab-ci.yml").write_text(
        f'include:\n  - local: images/prod/gitlab-ci.yml\nvariables:\n  AIPORTAL_DEV_IMAGE: "{dev_image}"\n')
    return path


def values(trace: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in trace.splitlines() if line.startswith(f"{key}=")]


@pytest.fixture(scope="module")
def runner(registry):
    executor = subprocess.run([ROOT / "scripts/install-kaniko.sh"], capture_output=True, text=True, check=True)
    return Runner(Path(executor.stdout.strip()), insecure_registries=(registry.host,))


@pytest.mark.timeout(600)
def test_tag_builds_prod_image_that_runs_the_same_tree_as_dev(registry, runner, tmp_path):
    start = time.monotonic()
    dev_digest = registry.push(DEV_IMAGE, "aiportal/dev:latest")
    pushed = time.monotonic()
    dev_image = f"{registry.host}/aiportal/dev@{dev_digest}"
    workspace = make_project(tmp_path / "checkout", dev_image)
    tag, repo = f"v1.0.{uuid.uuid4().int % 100000}", "aiportal-test/model"
    variables = {
        "CI_PROJECT_DIR": "/builds/team-a/model", "CI_COMMIT_SHA": "c0ffee" * 6 + "abcd", "CI_COMMIT_TAG": tag,
        "CI_COMMIT_REF_NAME": tag, "CI_PROJECT_URL": "http://gitlab.test/team-a/model",
        "CI_REGISTRY": registry.host, "CI_REGISTRY_IMAGE": f"{registry.host}/{repo}",
        "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "job-token", "KANIKO_ARGS": KANIKO_ARGS,
    }
    jobs = plan((workspace / ".gitlab-ci.yml").read_text(), lambda p: (workspace / p).read_text(), tag, True,
                variables)
    assert [(j.name, j.stage) for j in jobs] == [
        ("build-prod-image", "build"), ("verify-prod", "verify"), ("verify-dev", "verify")]
    traces = {}
    for job in jobs:
        out: list[str] = []
        job_start = time.monotonic()
        code = runner.run_job(job, workspace, variables, out.append)
        traces[job.name] = "".join(out)
        print(f"{job.name}: {time.monotonic() - job_start:.1f} s")
        assert code == 0, traces[job.name][-3000:]
    print(f"dev image push {pushed - start:.1f} s, pipeline {time.monotonic() - pushed:.1f} s")

    prod = f"{repo}:{tag}"
    digest = registry.digest(prod)
    assert values(traces["build-prod-image"], "AIPORTAL_IMAGE") == [f"{registry.host}/{repo}@{digest}"]
    tree = tree_sha256(workspace)
    labels = registry.config(prod)["config"]["Labels"]
    assert {k: v for k, v in labels.items() if k.startswith(("org.opencontainers.image.", "io.aiportal."))} == {
        "org.opencontainers.image.revision": variables["CI_COMMIT_SHA"],
        "org.opencontainers.image.version": tag,
        "org.opencontainers.image.source": variables["CI_PROJECT_URL"],
        "org.opencontainers.image.base.name": f"{registry.host}/aiportal/dev",
        "org.opencontainers.image.base.digest": dev_digest,
        "io.aiportal.tree.sha256": tree,
    }
    # the dev image's own layers, byte for byte, and one layer with /code on top
    dev_layers = [layer["digest"] for layer in registry.manifest(f"aiportal/dev@{dev_digest}")["layers"]]
    prod_layers = [layer["digest"] for layer in registry.manifest(prod)["layers"]]
    assert prod_layers[:len(dev_layers)] == dev_layers and len(prod_layers) == len(dev_layers) + 1

    reference = hashlib.sha256(REFERENCE_OUTPUT).hexdigest()
    for name in ("verify-prod", "verify-dev"):
        assert values(traces[name], "AIPORTAL_TREE_SHA256") == [tree], traces[name][-3000:]
        assert values(traces[name], "AIPORTAL_REFERENCE_SHA256") == [reference], traces[name][-3000:]

    # /code is the tree without its history (.dockerignore), and it is where the image starts
    listing = subprocess.run(["podman", "run", "--rm", "--entrypoint", "sh", f"{registry.host}/{prod}", "-c",
                              "pwd; find /code -name HEAD"], capture_output=True, text=True, timeout=60)
    assert listing.stdout == "/code\n", listing

    # a prod server spawn pulls by digest through Podman's Docker-compatible API (no TLS switch there)
    subprocess.run(["podman", "rmi", "--ignore", f"{registry.host}/{prod}"], capture_output=True, check=True)
    engine, service = resolve("podman", service_log=tmp_path / "podman.log")
    try:
        client = docker.APIClient(base_url=engine.socket, version=API_VERSION, timeout=120)
        client.pull(f"{registry.host}/{repo}@{digest}")
        assert client.inspect_image(f"{registry.host}/{repo}@{digest}")["Config"]["Labels"]["io.aiportal.tree.sha256"] \
            == tree
    finally:
        subprocess.run(["podman", "rmi", "--ignore", f"{registry.host}/{repo}@{digest}"], capture_output=True)
        registry.delete(prod)
        if service:
            service.stop()


@pytest.mark.timeout(120)
def test_build_refuses_a_dev_image_not_pinned_by_digest(runner, tmp_path):
    workspace = make_project(tmp_path, DEV_IMAGE)
    job = next(j for j in plan((workspace / ".gitlab-ci.yml").read_text(), lambda p: (workspace / p).read_text(),
                               "v1.0.0", True, {}) if j.name == "build-prod-image")
    out: list[str] = []
    assert runner.run_job(job, workspace, {"CI_COMMIT_TAG": "v1.0.0"}, out.append) != 0
    assert f"must name the team's dev image by digest (registry/path@sha256:...), not '{DEV_IMAGE}'" in "".join(out)
    assert "Pushing image" not in "".join(out)


@pytest.mark.timeout(120)
def test_failing_script_fails_the_job_where_it_failed(tmp_path):
    runner = Runner(Path("/nonexistent/executor"))
    job = JobPlan("unit", "test", "localhost/aiportal-base:bookworm", ["echo before", "false", "echo after"], {})
    out: list[str] = []
    assert runner.run_job(job, tmp_path, {}, out.append) != 0
    trace = "".join(out)
    assert "before\n" in trace and "$ false\n" in trace and "after\n" not in trace


@pytest.mark.timeout(120)
def test_image_that_cannot_be_pulled_fails_the_job_with_the_reason(registry, tmp_path):
    runner = Runner(Path("/nonexistent/executor"), insecure_registries=(registry.host,))
    job = JobPlan("unit", "test", f"{registry.host}/aiportal-test/missing:none", ["true"], {})
    out: list[str] = []
    assert runner.run_job(job, tmp_path, {}, out.append) != 0
    assert "aiportal-test/missing" in "".join(out)


def test_template_runs_on_tags_only_and_refuses_bad_yaml():
    template = (ROOT / "images/prod/gitlab-ci.yml").read_text()
    ci = "include:\n  - local: images/prod/gitlab-ci.yml\n"
    assert plan(ci, lambda p: template, "main", False, {}) == []
    with pytest.raises(ValueError, match="invalid YAML"):
        plan("stages: [build\n", lambda p: None, "v1.0.0", True, {})
    with pytest.raises(ValueError, match="does not exist"):
        plan(ci, lambda p: None, "v1.0.0", True, {})
