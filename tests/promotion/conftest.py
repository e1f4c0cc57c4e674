"""Fixtures of the promotion tests: a GitLab double whose pipelines really build with
Kaniko and push to a real registry, and portals that promote through it.

- ``gitlab`` (package): the double (tests/gitlab), its runner, the registry with the team's
  dev image pushed as ``platform/dev:latest``; users platform (the portal's GitLab account),
  alice and bob in group ``radiology``, carol in ``cardiology``; ``gitlab.platform_token``.
- ``new_project(name, files=None)``: a project of radiology, set up for promotion (images/prod,
  .gitlab-ci.yml pinning the dev image by digest, a reference script) unless ``files``.
- ``promotion_config``: ``config_for(gitlab)``, portal.yaml for team-a (radiology, promoters:
  admins) and team-b (cardiology) with that GitLab and registry.
- ``make_gitlab(root, registry)``: the double as ``gitlab`` makes it (the benchmark uses it too).
- ``promotion_site`` (package): a running portal with that config: ``.portal``, ``.api``,
  ``.hub_api``, ``.token(user)``, ``.call(method, path, user, **kw)``, ``.wait(team, id)``.
- ``start_promotion_portal(data_dir, config)``: another such portal (restart tests).
"""

from __future__ import annotations

import copy
import subprocess
import time
from pathlib import Path

import pytest
import requests

from portal.launcher import Portal
from portal.promotion import template
from portal.tokens import new_token
from tests.conftest import TEST_CONFIG, free_port, remove_containers, write_config
from tests.gitlab import GitLabDouble
from tests.gitlab.runner import Runner
from tests.registry import CACHE

HTTP_TIMEOUT = 30
DEV_IMAGE = "localhost/aiportal-dev:latest"
KANIKO = CACHE / "kaniko-v1.23.2" / "executor"
REFERENCE = b"python3 -c 'import hashlib; print(hashlib.sha256(open(\"segment.py\", \"rb\").read()).hexdigest())'\n"


def set_up_files(dev_pinned: str) -> dict[str, bytes]:
    """A project as the set-up merge request leaves it, with a small app and its reference."""
    files = {path: (template.TEMPLATE / name).read_bytes() for path, name in template.FILES.items()}
    files[".gitlab-ci.yml"] = template.ci_file(None, dev_pinned).encode()
    return {**files, "README.md": b"# Segmenter\n", "segment.py": b"print('segmenting')\n",
            "aiportal-reference.sh": REFERENCE}


def make_gitlab(root: Path, registry) -> GitLabDouble:
    """The double, serving, with its users and groups and the dev image pushed to `registry`."""
    if not KANIKO.exists():
        subprocess.run(["scripts/install-kaniko.sh"], check=True, capture_output=True,
                       cwd=Path(__file__).resolve().parents[2])
    dev_digest = registry.push(DEV_IMAGE, "platform/dev:latest")
    runner = Runner(KANIKO, insecure_registries=(registry.host,))
    double = GitLabDouble(root, registry=registry.host, runner=runner)
    double.set_variable("KANIKO_ARGS", "--insecure --insecure-pull --skip-tls-verify")
    for user in ("platform", "alice", "bob", "carol"):
        double.add_user(user)
    double.add_group("radiology", "Radiology", members={"platform": 40, "alice": 40, "bob": 30})
    double.add_group("cardiology", "Cardiology", members={"platform": 40, "carol": 40})
    double.platform_token = double.personal_token("platform")
    double.dev_image = f"{registry.host}/platform/dev:latest"
    double.dev_pinned = f"{registry.host}/platform/dev@{dev_digest}"
    double.registry_client = registry
    double.start()
    return double


@pytest.fixture(scope="package")
def gitlab(tmp_path_factory, registry):
    double = make_gitlab(tmp_path_factory.mktemp("gitlab"), registry)
    yield double
    double.close()


@pytest.fixture(scope="package")
def new_project(gitlab):
    def make(name: str, files: dict[str, bytes] | None = None) -> dict:
        return gitlab.add_project("radiology", name, files=set_up_files(gitlab.dev_pinned) if files is None else files)

    return make


def config_for(gitlab) -> dict:
    """portal.yaml promoting through `gitlab`: team-a (radiology, only admins promote) and
    team-b (cardiology, every member)."""
    config = copy.deepcopy(TEST_CONFIG)
    config["gitlab"] = {"url": gitlab.url, "poll_interval": 0.5, "timeout": 5, "registry_insecure": True}
    config["teams"] = [
        {"name": "team-a", "display_name": "Team A", "admins": ["alice"], "members": ["bob"],
         "profiles": ["cpu", "prod"], "gitlab_group": "radiology", "dev_image": gitlab.dev_image},
        {"name": "team-b", "display_name": "Team B", "members": ["carol"], "profiles": ["cpu"],
         "gitlab_group": "cardiology", "dev_image": gitlab.dev_image, "promoters": "members"},
    ]
    return config


@pytest.fixture(scope="package")
def promotion_config(gitlab) -> dict:
    return config_for(gitlab)


class PromotionSite:
    def __init__(self, portal: Portal):
        self.portal = portal
        self.url = portal.url
        self.api = f"{portal.url}services/portal/api/v1"
        self.hub_api = f"{portal.url}hub/api"
        self._tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = new_token(self.portal.data.root, user, str(self.portal.config_path))
        return self._tokens[user]

    def call(self, method: str, path: str, user: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.api}{path}", headers={"Authorization": f"token {self.token(user)}"},
                                timeout=HTTP_TIMEOUT, **kwargs)

    def wait(self, team: str, promotion_id: int, user: str = "alice", timeout: float = 240,
             until=lambda record: record["finished_at"] is not None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            record = self.call("GET", f"/teams/{team}/promotions/{promotion_id}", user).json()
            if until(record):
                return record
            assert time.monotonic() < deadline, f"promotion {promotion_id} still {record['status']}: {record}"
            time.sleep(0.3)


def start_promotion_portal(data_dir: Path, config: dict, token: str) -> Portal:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "test-portal.yaml"
    if not path.exists():
        write_config(path, config)
    return Portal(data_dir, str(path), port=free_port(), quiet=True,
                  environ={"AIPORTAL_GITLAB_TOKEN": token}).start()


@pytest.fixture(scope="package")
def promotion_site(tmp_path_factory, gitlab, promotion_config):
    p = start_promotion_portal(tmp_path_factory.mktemp("promotion-portal"), promotion_config, gitlab.platform_token)
    yield PromotionSite(p)
    p.stop()
    remove_containers(p)

