"""Servers as local processes (`spawner.backend: local`), in a portal started by an unprivileged
user as an operator without a container engine would: the spawn page and the log say so, GPU
profiles are refused, and the team's CPU quota holds from the hub's own record of its servers.
(As root, `aiportal up` refuses the local backend: test_engine.)"""

import os
import pwd
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from portal import config as portal_config
from portal.ports import free_port
from tests.conftest import TEST_CONFIG, write_config
from tests.http import TimedSession
from tests.spawners.servers import start, start_at_once, stop, wait_ready

BIN = Path(sys.executable).parent
USER = pwd.getpwnam("nobody")
CONFIG = {**TEST_CONFIG, "spawner": {"backend": "local"},
          "teams": [{**TEST_CONFIG["teams"][0], "quota": {"gpus": 2, "cpu": 1, "memory": "32Gi"}},
                    *TEST_CONFIG["teams"][1:]]}
CPU_REFUSAL = "team team-a uses 1 of 1 CPUs and this profile needs 1: stop a server or ask an operator"
NOTICE = ("Servers run as local processes of the portal&#x27;s machine, not in containers (spawner.backend "
          "is local in portal.yaml): no isolation and no GPUs; a profile&#x27;s CPUs and memory count against "
          "the team&#x27;s quota but do not bound the server.")


def as_user(*command) -> list[str]:
    return ["setpriv", f"--reuid={USER.pw_uid}", f"--regid={USER.pw_gid}", "--clear-groups", *command]


def unprivileged_bin(root: Path) -> Path:
    """bin/ of a venv of the system's Python that loads this project's packages, with the
    console scripts the portal runs: the project's own interpreter may sit where the user
    cannot go (under /root, as on these machines)."""
    system = Path("/usr/bin/python3")
    found = subprocess.run([system, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                           text=True, timeout=30).stdout.strip()
    if found != str(sys.version_info[:2]):
        pytest.skip(f"{system} is Python {found}, the project's venv {sys.version_info[:2]}: its packages do not fit")
    venv = root / "venv"
    subprocess.run([system, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
    ours = site.getsitepackages()[0]
    next(venv.glob("lib/python3*/site-packages")).joinpath("aiportal.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n")
    for script in ("aiportal", "jupyterhub-singleuser"):
        body = (BIN / script).read_text().split("\n", 1)[1]
        (venv / "bin" / script).write_text(f"#!{venv / 'bin' / 'python'}\n{body}")
        (venv / "bin" / script).chmod(0o755)
    return venv / "bin"


def wait_banner(proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Until `aiportal up` says where to log in (it is ready then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"aiportal up exited with {proc.returncode}:\n{log.read_text()}"
        if "Press Ctrl-C to stop." in log.read_text():
            return
        time.sleep(0.3)
    raise AssertionError(f"not ready in {timeout} s:\n{log.read_text()}")


@pytest.fixture
def traversable():
    """`nobody` must reach the project's code and venv: a checkout in a private folder (e.g.
    `mktemp -d`, mode 0700) is made passable (o+x, no listing) for the test, then restored."""
    changed = []
    for folder in reversed(Path(site.getsitepackages()[0]).parents):
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod(mode | 0o001)
            changed.append((folder, mode))
    yield
    for folder, mode in changed:
        folder.chmod(mode)


@pytest.fixture
def local_portal(traversable):
    """`aiportal up` as `nobody` in a data dir of its own (under /tmp: pytest's tmp_path is
    private to root); stopped with SIGTERM as Ctrl-C would."""
    root = Path(tempfile.mkdtemp(prefix="aiportal-local-"))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir()
    os.chown(data, USER.pw_uid, USER.pw_gid)
    config = write_config(root / "portal.yaml", CONFIG)
    bin_ = unprivileged_bin(root)
    cfg, port, log = portal_config.load(config), free_port(), root / "aiportal.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")} | {"HOME": str(data)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(as_user(str(bin_ / "aiportal"), "up", "--data-dir", str(data), "--config",
                                        str(config), "--port", str(port)),
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://{cfg.hub_ip}:{port}/"
    try:
        wait_banner(proc, log)

        def token(user):
            return subprocess.run(as_user(str(bin_ / "aiportal"), "token", user, "--data-dir", str(data),
                                          "--config", str(config)),
                                  env=env, capture_output=True, text=True, check=True, timeout=60).stdout.strip()

        yield SimpleNamespace(url=url, data=data, log=log, token=token)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # anything left in its session
            except ProcessLookupError:
                pass
            shutil.rmtree(root, ignore_errors=True)


def admin_session(p) -> TimedSession:
    """The admin logged in through the login form, as in a browser."""
    s = TimedSession()
    s.get(f"{p.url}hub/login")
    password = (p.data / "secrets" / "password-admin").read_text().strip()
    r = s.post(f"{p.url}hub/login", data={"username": "admin", "password": password, "_xsrf": s.cookies["_xsrf"]})
    assert r.ok and "/hub/login" not in r.url, r.url
    return s


def api(p, user) -> TimedSession:
    s = TimedSession()
    s.headers["Authorization"] = f"token {p.token(user)}"
    s.base = f"{p.url}hub/api"
    return s


def test_local_servers_run_unprivileged_and_the_teams_cpu_quota_holds(local_portal):
    p = local_portal
    assert "servers:    local processes (spawner.backend is local in portal.yaml)" in p.log.read_text()
    admin, bob = admin_session(p), api(p, "bob")

    form = admin.get(f"{p.url}hub/spawn/bob/x").text  # an admin starting a server for bob
    assert f'<div class="alert alert-info" id="spawn-notice">{NOTICE}</div>' in form
    assert '<small class="text-body-secondary team-note">1 of 1 team CPUs free, 32 GiB of 32 GiB team memory ' \
           'free</small>' in form  # no GPU count: local servers get none

    r = start(bob, "bob", "gpu", "team-a", "gpu")
    assert r.status_code == 400 and r.json()["message"].startswith(
        "profile 'gpu' needs GPUs, which only containers get. Servers run as local processes")
    assert start(bob, "bob", "cpu", "team-a", "cpu").status_code in (201, 202)
    wait_ready(bob, "bob", "cpu")
    status = bob.get(f"{p.url}user/bob/cpu/api/status", allow_redirects=False)
    assert status.status_code == 200 and "started" in status.json(), status.text
    pid = api(p, "admin").get(f"{p.url}hub/api/users/bob").json()["servers"]["cpu"]["state"]["pid"]
    assert os.stat(f"/proc/{pid}").st_uid == USER.pw_uid  # the server runs as the portal's user, not root

    r = start(bob, "bob", "more", "team-a", "cpu")
    assert (r.status_code, r.json()["message"]) == (400, CPU_REFUSAL)
    assert "0 of 1 team CPUs free, 31 GiB of 32 GiB" in admin.get(f"{p.url}hub/spawn/bob/x").text

    stop(bob, "bob", "cpu")  # its CPU is the team's again; of three at once, one starts
    started, refused = start_at_once(p, p.token, [("bob", name) for name in ("cpu", "more", "race")], "team-a", "cpu")
    assert (len(started), refused) == (1, [CPU_REFUSAL] * 2)
    wait_ready(bob, *started[0])
    stop(bob, *started[0])
    assert "bob:cpu: Servers run as local processes" in p.log.read_text()
