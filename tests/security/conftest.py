"""Fixtures for the security tests: real portals of their own, so that what these tests
change (members, limits, objects, fuzzed requests) never reaches another test.

- ``security_portal`` (package): a ``Site`` for a single-machine portal (hub, proxy,
  portal service, SeaweedFS) with the teams of ``SECURITY_CONFIG``; shared by the authz
  matrix, the hub API and the XSRF tests, each of which restores what it changes. Its
  usage charts read ``security_prometheus`` (package), an empty real Prometheus.
- ``Site``: ``token(user)`` → a hub API token; ``reduced_operator_token`` → a token of the
  operator ``admin`` made through the hub API with fewer scopes (no ``custom:portal:admin``);
  ``call(method, url, token=None, **kw)`` → one HTTP request, always with a timeout;
  ``api`` / ``hub_api`` → base URLs of the portal API and the hub's REST API;
  ``put_object(team, key, data)`` → an object written through the portal's upload API.
- ``REPORT``: tests/conftest.py's SUMMARY stash key; lines appended to ``config.stash[REPORT]`` (cell and case counts)
  are printed in a "security" section at the end of the pytest run.
- ``new_site(tmp_path_factory, name, config)``: starts another such portal (the fuzz test
  uses it for a portal that nothing else touches); stop it with ``site.stop()``.
- ``security_gitlab`` (package): a GitLab double (no runner: pipelines stay created) with
  groups radiology (team-a), cardiology (team-b) and oncology (team-c), a project set up for
  promotion in each (``security_gitlab.matrix_projects[team]``), and the platform token;
  the security portal promotes through it, with the team dev image in the real ``registry``.
"""

from __future__ import annotations

import copy
import os

import pytest
import requests

from portal.launcher import Portal
from portal.promotion import template
from portal.tokens import new_token
from tests.conftest import ARTIFACTS, SUMMARY, TEST_CONFIG, free_port, remove_containers, write_config
from tests.gitlab import GitLabDouble
from tests.ops.prom import Prometheus

REPORT = SUMMARY
HTTP_TIMEOUT = 30  # seconds; every request of these tests carries one

#: Roles of the authz matrix, by user: alice admins team-a and team-c, bob and dave are
#: members of both, carol and erin are in team-b only, admin is the operator (a hub admin,
#: in no team). team-a lets only admins delete objects, team-c every member. team-x is the
#: XSRF tests' own.
SECURITY_CONFIG = copy.deepcopy(TEST_CONFIG)
SECURITY_CONFIG["teams"] = [
    {"name": "team-a", "display_name": "Team A", "admins": ["alice"], "members": ["bob", "dave"],
     "quota": {"gpus": 1, "cpu": 4, "memory": "8Gi"}, "profiles": ["cpu"], "delete_policy": "admins"},
    {"name": "team-b", "display_name": "Team B", "members": ["carol", "erin"], "profiles": ["cpu"]},
    {"name": "team-c", "display_name": "Team C", "admins": ["alice"], "members": ["bob", "dave"],
     "profiles": ["cpu"], "delete_policy": "members"},
    {"name": "team-x", "display_name": "Team X", "admins": ["frank"], "members": ["grace"],
     "quota": {"gpus": 1}, "profiles": ["cpu"]},
]


class Site:
    """One running portal as the security tests use it."""

    def __init__(self, name: str, portal: Portal, data_dir):
        self.name = name
        self.portal = portal
        self.data_dir = data_dir
        self.url = portal.url
        self.api = f"{portal.url}services/portal/api/v1"
        self.hub_api = f"{portal.url}hub/api"
        self._tokens: dict[str, str] = {}
        self._reduced: str | None = None

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = new_token(self.portal.data.root, user, str(self.portal.config_path))
        return self._tokens[user]

    def call(self, method: str, url: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"token {token}"
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, url, headers=headers, timeout=HTTP_TIMEOUT, **kwargs)

    @property
    def reduced_operator_token(self) -> str:
        """The operator's own token, asked of the hub with fewer scopes than the operator has."""
        if self._reduced is None:
            r = self.call("POST", f"{self.hub_api}/users/admin/tokens", self.token("admin"),
                          json={"scopes": ["access:services", "self"], "note": "reduced scopes", "expires_in": 3600})
            assert r.status_code == 201, r.text
            self._reduced = r.json()["token"]
            scopes = self.call("GET", f"{self.hub_api}/user", self._reduced).json()["scopes"]
            assert not any(s.startswith("custom:portal:") for s in scopes), scopes
        return self._reduced

    def put_object(self, team: str, key: str, data: bytes = b"hello", user: str = "admin") -> None:
        """Write an object the way a browser does: start an upload, PUT its part, complete."""
        token = self.token(user)
        r = self.call("POST", f"{self.api}/teams/{team}/uploads", token, json={"key": key, "size": len(data)})
        assert r.status_code == 201, r.text
        upload = r.json()
        put = requests.put(upload["parts"][0]["url"], data=data, timeout=HTTP_TIMEOUT)
        assert put.status_code == 200, put.text
        r = self.call("POST", f"{self.api}/teams/{team}/uploads/{upload['id']}/complete", token)
        assert r.status_code == 200, r.text

    def stop(self) -> None:
        self.portal.stop()
        remove_containers(self.portal)
        log = self.data_dir / "logs" / "jupyterhub.log"
        if log.exists() and os.environ.get("CI"):
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / f"{self.name}-jupyterhub.log").write_bytes(log.read_bytes())


def new_site(tmp_path_factory, name: str, config: dict = SECURITY_CONFIG, environ: dict | None = None) -> Site:
    data_dir = tmp_path_factory.mktemp(name)
    path = write_config(data_dir / "portal.yaml", config)
    portal = Portal(data_dir, str(path), port=free_port(), quiet=True, environ=environ).start()
    return Site(name, portal, data_dir)


GITLAB_GROUPS = {"team-a": "radiology", "team-b": "cardiology", "team-c": "oncology"}


@pytest.fixture(scope="package")
def security_gitlab(tmp_path_factory, registry):
    double = GitLabDouble(tmp_path_factory.mktemp("security-gitlab"), registry=registry.host)
    for user in ("platform", "alice", "bob", "carol", "dave", "erin"):
        double.add_user(user)
    for team, group in GITLAB_GROUPS.items():
        members = {u: 30 for t in SECURITY_CONFIG["teams"] if t["name"] == team for u in t.get("members", [])}
        double.add_group(group, members={"platform": 40, **members})
    double.dev_image = f"{registry.host}/platform/dev:latest"
    pinned = f"{registry.host}/platform/dev@{registry.push('localhost/aiportal-dev:latest', 'platform/dev:latest')}"
    files = {path: (template.TEMPLATE / name).read_bytes() for path, name in template.FILES.items()}
    files[".gitlab-ci.yml"] = template.ci_file(None, pinned).encode()
    double.matrix_projects = {team: double.add_project(group, "matrix", files=files)
                              for team, group in GITLAB_GROUPS.items()}
    double.platform_token = double.personal_token("platform")
    double.start()
    yield double
    double.close()


def with_gitlab(config: dict, double) -> dict:
    """`config` promoting through `double`: each team of GITLAB_GROUPS gets its group and the
    dev image; team-c lets every member promote (team-a only its admins)."""
    config = copy.deepcopy(config)
    config["gitlab"] = {"url": double.url, "poll_interval": 3, "timeout": 10, "registry_insecure": True}
    for team in config["teams"]:
        if team["name"] in GITLAB_GROUPS:
            team.update(gitlab_group=GITLAB_GROUPS[team["name"]], dev_image=double.dev_image,
                        promoters="members" if team["name"] == "team-c" else "admins")
    return config


@pytest.fixture(scope="package")
def security_prometheus(tmp_path_factory):
    """An empty Prometheus, so that the usage charts answer (with no lines) instead of 404."""
    with Prometheus(tmp_path_factory.mktemp("security-prometheus"), {"scrape_configs": []}) as prom:
        yield prom


@pytest.fixture(scope="package")
def security_portal(tmp_path_factory, security_gitlab, security_prometheus):
    config = dict(with_gitlab(SECURITY_CONFIG, security_gitlab), monitoring={"prometheus_url": security_prometheus.url})
    site = new_site(tmp_path_factory, "security", config,
                    environ={"AIPORTAL_GITLAB_TOKEN": security_gitlab.platform_token})
    site.gitlab = security_gitlab
    yield site
    site.stop()
