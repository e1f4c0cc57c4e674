"""Fixtures shared by every test package.

- `artifacts`: folder for screenshots and logs kept after the run (test-artifacts/).
- `portal_factory`: starts a real single-machine portal (hub, proxy, portal service,
  SeaweedFS, servers as Podman containers) on free ports in a fresh data dir; stops it
  and removes its server containers at the end of the test.
- `portal`: one such portal for the whole session, with teams team-a and team-b.
- `token`: token(user) → a hub API token for that user on the session portal.
- `api`: api(user) → a requests.Session for the portal API as that user.
- `postgres`: a real PostgreSQL server for the session (tests/postgres.py);
  ``postgres.create_database(name)`` → its URL.
- `kube_cluster`: a real Kubernetes v1.37.2 cluster for the session, started on first use
  (tests/kube_cluster.py, docs/kubernetes.md).
- `registry`: a real OCI registry (Debian's docker-registry) on 127.0.0.1:5055 for the
  session, its storage in the cache (tests/registry.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from portal.launcher import Portal
from portal.ports import free_port
from portal.tokens import new_token
from tests.http import TimedSession
from tests.kube_cluster import kube_cluster  # noqa: F401  (fixture)
from tests.postgres import PostgresServer
from tests.registry import registry  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
#: Lines for the "security" section at the end of the run (cell and case counts; tests/security).
SUMMARY = pytest.StashKey[list]()
#: Session fixtures that hold fixed ports or machine-wide state: one worker has them all.
MACHINE_WIDE = {"kube_cluster", "registry"}
#: Packages whose session fixtures (storage servers of each kind) cost more than their tests.
WHOLE_PACKAGES = {"datasets", "storage"}


def pytest_collection_modifyitems(config, items):
    """What pytest-xdist (`make test` runs `-n 2 --dist loadgroup`) sends to one worker together.

    The tests that use the cluster or the registry share one group, first in the run (it is
    the longest: the other worker takes everything else meanwhile); the dataset and storage
    tests go by package, every other test with its module, so module fixtures start once.
    """
    for item in items:
        path = Path(item.path).relative_to(ROOT / "tests")
        if MACHINE_WIDE & set(item.fixturenames):
            group = "machine-wide"
        elif path.parts[0] in WHOLE_PACKAGES:
            group = path.parts[0]
        else:
            group = str(path)
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: not (MACHINE_WIDE & set(item.fixturenames)))


def pytest_sessionfinish(session):
    """Under pytest-xdist, a worker hands its summary lines to the controller (below)."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["summary"] = session.config.stash.get(SUMMARY, [])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    node.config.stash.setdefault(SUMMARY, []).extend(getattr(node, "workeroutput", {}).get("summary", []))


def pytest_terminal_summary(terminalreporter, config):
    if lines := config.stash.get(SUMMARY, []):
        terminalreporter.section("security")
        for line in lines:
            terminalreporter.write_line(line)

TEST_CONFIG = {
    "hub": {"admin_users": ["admin"]},
    "auth": {"type": "native", "minimum_password_length": 8},
    "profiles": {
        "cpu": {"display_name": "CPU notebook", "image": "localhost/aiportal-dev:latest",
                "cpu": 1, "memory": "1Gi"},
        "gpu": {"display_name": "GPU notebook", "image": "localhost/aiportal-dev:latest",
                "cpu": 2, "memory": "4Gi", "gpus": 1},
        "prod": {"display_name": "Production model", "image": "localhost/aiportal-dev:latest",
                 "mode": "prod", "cpu": 1, "memory": "1Gi"},
        "missing": {"display_name": "Image never built", "image": "localhost/aiportal-missing:none"},
        "tiny": {"display_name": "Too little memory", "image": "localhost/aiportal-dev:latest", "memory": "24Mi"},
    },
    "gpus": ["0", "1", "2", "3"],  # this machine has none: the inventory is configured
    "teams": [
        {"name": "team-a", "display_name": "Team A", "admins": ["alice"], "members": ["bob"],
         "quota": {"gpus": 2, "cpu": 8, "memory": "32Gi", "storage": "10Gi"},
         "profiles": ["cpu", "gpu", "prod"]},
        {"name": "team-b", "display_name": "Team B", "members": ["carol"],
         "profiles": ["cpu", "missing", "tiny"]},
    ],
}


def write_config(path: Path, data: dict, **storage) -> Path:
    data = dict(data, storage={"port": free_port(), **storage})
    path.write_text(yaml.safe_dump(data))
    return path


def remove_containers(p: Portal) -> None:
    """Server containers outlive their hub by design; a test's end is their end."""
    ids = subprocess.run(["podman", "ps", "-aq", "--filter", f"label=org.aiportal.portal={p.data.instance_id}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["podman", "rm", "-f", "-t", "0", *ids], capture_output=True)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def portal_factory(tmp_path):
    started = []

    def start(config: dict = TEST_CONFIG, data_dir: Path | None = None) -> Portal:
        data_dir = data_dir or tmp_path / f"data{len(started)}"
        data_dir.mkdir(exist_ok=True)
        path = write_config(data_dir / "test-portal.yaml", config)
        p = Portal(data_dir, str(path), port=free_port(), quiet=True).start()
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()
        remove_containers(p)


@pytest.fixture(scope="session")
def portal(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("portal")
    path = write_config(data_dir / "test-portal.yaml", TEST_CONFIG)
    p = Portal(data_dir, str(path), port=free_port(), quiet=True).start()
    yield p
    p.stop()
    remove_containers(p)
    log = data_dir / "logs" / "jupyterhub.log"
    if log.exists() and os.environ.get("CI"):
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "session-jupyterhub.log").write_bytes(log.read_bytes())


def tokens_of(portal: Portal):
    """tokens(user) → a hub API token of that user on `portal`, made once per user."""
    cache: dict[str, str] = {}

    def get(user: str) -> str:
        if user not in cache:
            cache[user] = new_token(portal.data.root, user, str(portal.config_path))
        return cache[user]

    return get


@pytest.fixture(scope="session")
def token(portal):
    return tokens_of(portal)


@pytest.fixture(scope="session")
def api(portal, token):
    def session_for(user: str) -> requests.Session:
        s = TimedSession()
        s.headers["Authorization"] = f"token {token(user)}"
        s.base = f"{portal.url}services/portal/api/v1"
        return s

    return session_for
