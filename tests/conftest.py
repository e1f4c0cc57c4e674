"""Fixtures shared by every test package.

- `artifacts`: folder for screenshots and logs kept after the run (test-artifacts/).
- `browser`: a headless Chromium (Debian's, through Playwright) for a module's browser tests.
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
- `slurm`: a real one-node Slurm cluster (munged, slurmctld, slurmd with two fake GPUs) for
  the session, on free ports (tests/slurm.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from portal import ports
from portal.launcher import Portal
from portal.ports import free_port
from portal.tokens import new_token
from tests.browser import chromium
from tests.http import TimedSession
from tests.kube_cluster import kube_cluster  # noqa: F401  (fixture)
from tests.postgres import PostgresServer
from tests.registry import registry  # noqa: F401  (fixture)
from tests.slurm import slurm  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
#: Lines for the "security" section at the end of the run (cell and case counts; tests/security).
SUMMARY = pytest.StashKey[list]()
#: Session fixtures that hold fixed ports or machine-wide state, by the work unit that holds
#: them: one worker runs all of a unit's modules. The cluster and the registry share one (the
#: cluster's tests pull from the registry); Slurm, on free ports, is a unit of its own.
MACHINE_WIDE = {"kube_cluster": "cluster", "registry": "cluster", "slurm": "slurm"}
#: The modules whose tests use them, by unit. pytest-xdist's controller sees only test ids, so
#: they are named here; collection fails if a module that uses one is missing or misplaced.
MACHINE_WIDE_MODULES = {
    **dict.fromkeys([
        "tests/gitlab/test_runner.py", "tests/helm/test_install.py", "tests/kubernetes/test_cluster.py",
        "tests/kubernetes/test_jobs_unavailable.py", "tests/kubernetes/test_servers.py",
        "tests/kubernetes/test_ssh.py",
        "tests/kubernetes/test_team_namespaces.py",
        "tests/promotion/test_gitlab_login.py", "tests/promotion/test_promotion_api.py",
        "tests/promotion/test_promotion_browser.py", "tests/security/test_authz_matrix.py",
        "tests/security/test_hub_api_matrix.py", "tests/security/test_xsrf.py"], "cluster"),
    **dict.fromkeys(["tests/jobs/test_slurm_backend.py", "tests/jobs/test_jobs_slurm.py"], "slurm"),
}
#: Packages whose session fixtures (storage servers of each kind) cost more than their tests.
WHOLE_PACKAGES = {"datasets", "storage"}


def pytest_configure(config):
    """Each pytest-xdist worker takes its own share of the free ports (portal/ports.py)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ...
    if worker:
        os.environ[ports.SHARE_ENV] = f"{worker.removeprefix('gw')}/{os.environ['PYTEST_XDIST_WORKER_COUNT']}"


def work_unit(nodeid: str) -> str:
    """What pytest-xdist (`make test` runs `-n 2`) sends to one worker together: the tests of
    MACHINE_WIDE_MODULES; a package of WHOLE_PACKAGES; else a module, so module fixtures start once."""
    module = nodeid.split("::")[0]
    package = module.split("/")[1] if module.count("/") > 1 else ""
    if module in MACHINE_WIDE_MODULES:
        return f"machine-wide:{MACHINE_WIDE_MODULES[module]}"
    return package if package in WHOLE_PACKAGES else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnits(LoadScopeScheduling):
        """Load scheduling by work unit, largest first (xdist's own loadgroup does not group
        under pytest 9, whose node ids it can no longer rewrite)."""

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnits(config, log)


def pytest_collection_modifyitems(config, items):
    """A module that uses a MACHINE_WIDE fixture must be in MACHINE_WIDE_MODULES, in that
    fixture's unit (see above)."""
    wrong = sorted({f"{module} (unit {unit})" for item in items
                    for fixture, unit in MACHINE_WIDE.items() if fixture in item.fixturenames
                    if MACHINE_WIDE_MODULES.get(module := item.nodeid.split("::")[0]) != unit})
    if wrong:
        raise pytest.UsageError(f"tests/conftest.py: put {', '.join(wrong)} in MACHINE_WIDE_MODULES: "
                                f"their tests use {', '.join(sorted(MACHINE_WIDE))}")


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
    "apps": {"directory": str(ROOT / "tests" / "portal" / "apps")},  # an app for team-a only, a broken file
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


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


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

    def start(config: dict = TEST_CONFIG, data_dir: Path | None = None, environ: dict | None = None) -> Portal:
        data_dir = data_dir or tmp_path / f"data{len(started)}"
        data_dir.mkdir(exist_ok=True)
        path = write_config(data_dir / "test-portal.yaml", config)
        p = Portal(data_dir, str(path), port=free_port(), quiet=True, environ=environ).start()
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
