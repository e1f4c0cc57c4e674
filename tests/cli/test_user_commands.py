"""The developers' `aiportal` commands (portal/usercli.py), run as a user runs them: the
installed console script in a subprocess, with its own HOME and XDG_CONFIG_HOME, against
the session portal (bob in team-a, carol in team-b; real hub, S3 server and Podman)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from portal.ports import free_port
from tests.http import TimedSession

ROOT = Path(__file__).resolve().parents[2]
AIPORTAL = ROOT / ".venv" / "bin" / "aiportal"
if not AIPORTAL.exists():  # a venv elsewhere: the script beside this Python
    AIPORTAL = Path(sys.executable).with_name("aiportal")
RUN_TIMEOUT = 180  # seconds for one command (a server start on a busy machine included)


class CLI:
    """`cli("teams", "--json")` runs the console script as a user with a fresh home."""

    def __init__(self, home: Path, portal):
        self.home = home
        self.portal = portal
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AIPORTAL_")}
        self.env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "xdg"), TMPDIR=str(home / "tmp"),
                        PYTHONUNBUFFERED="1")
        (home / "tmp").mkdir(parents=True, exist_ok=True)

    def __call__(self, *args, input: str | None = None, env: dict | None = None, timeout=RUN_TIMEOUT):
        return subprocess.run([str(AIPORTAL), *map(str, args)], capture_output=True, text=True, input=input,
                              env={**self.env, **(env or {})}, cwd=self.home, timeout=timeout)

    def ok(self, *args, **kwargs) -> str:
        r = self(*args, **kwargs)
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        return r.stdout

    def json(self, *args, **kwargs):
        return json.loads(self.ok(*args, "--json", **kwargs))

    @property
    def config_file(self) -> Path:
        return self.home / "xdg" / "aiportal" / "config.json"


def one_line_error(r, code: int) -> str:
    """The command failed with `code` and said why in one line on stderr, no traceback."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aiportal: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.fixture
def cli(tmp_path, portal):
    return CLI(tmp_path / "home", portal)


@pytest.fixture
def as_user(cli, portal, token):
    """as_user(name) → the CLI logged in as that user (with a token)."""
    def login(user: str) -> CLI:
        cli.ok("login", portal.url, "--token", token(user))
        return cli
    return login


def test_login_with_a_token_keeps_it_private(cli, portal, token):
    out = cli.ok("login", portal.url, "--token", token("bob"))
    assert "as bob" in out
    assert stat.S_IMODE(cli.config_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(cli.config_file.stat().st_mode) == 0o600
    stored = json.loads(cli.config_file.read_text())
    assert stored == {"url": portal.url, "user": "bob", "token": token("bob")}
    assert [t["name"] for t in cli.json("teams")] == ["team-a"]
    assert "logged out" in cli.ok("logout")
    assert not cli.config_file.exists()
    one_line_error(cli("teams"), 3)


def test_login_with_a_token_of_someone_else_or_no_token(cli, portal, token):
    msg = one_line_error(cli("login", portal.url, "--user", "carol", "--token", token("bob")), 3)
    assert "bob" in msg and "carol" in msg
    one_line_error(cli("login", portal.url, "--token", "not-a-token"), 3)
    assert not cli.config_file.exists()


def test_login_with_user_name_and_password(cli, portal):
    """The hub's POST /hub/api/users/NAME/tokens with {"auth": {username, password}} (the
    operator, whose password the portal generated; other users' come from a browser sign-up)."""
    password = portal.data.admin_password("admin")
    cli.ok("login", portal.url, "--user", "admin", "--password-stdin", input=password + "\n")
    stored = json.loads(cli.config_file.read_text())
    assert stored["user"] == "admin" and stored["token"]
    r = requests.get(f"{portal.url}hub/api/user", headers={"Authorization": f"token {stored['token']}"}, timeout=30)
    assert r.status_code == 200 and r.json()["name"] == "admin"
    model = r.json()
    assert model["name"] == "admin"
    msg = one_line_error(cli("login", portal.url, "--user", "admin", "--password-stdin", input="wrong-password\n"), 3)
    assert "password" in msg
    assert json.loads(cli.config_file.read_text())["token"] == stored["token"]  # a failed login keeps the old one


def test_environment_overrides_the_stored_login(cli, portal, token):
    cli.ok("login", portal.url, "--token", token("bob"))
    teams = cli.json("teams", env={"AIPORTAL_TOKEN": token("carol")})
    assert [t["name"] for t in teams] == ["team-b"]
    fresh = CLI(cli.home.parent / "other", portal)  # nothing stored at all
    teams = fresh.json("teams", env={"AIPORTAL_URL": portal.url, "AIPORTAL_TOKEN": token("carol")})
    assert [t["name"] for t in teams] == ["team-b"]


def test_teams_table_and_json(as_user):
    cli = as_user("bob")
    lines = cli.ok("teams").splitlines()
    assert lines[0].split() == ["TEAM", "NAME", "ROLE", "PROFILES", "GPUS", "STORAGE"]
    assert len(lines) == 2 and lines[1].split()[:4] == ["team-a", "Team", "A", "member"]
    assert "cpu,gpu,prod" in lines[1] and "team-b" not in "".join(lines)
    (team,) = cli.json("teams")
    assert team["name"] == "team-a" and team["display_name"] == "Team A" and "bob" in team["members"]


def test_not_logged_in_and_unreachable(cli, portal, token):
    for args in (["teams"], ["data", "ls", "team-a"], ["dev", "status"], ["jobs", "list"]):
        assert "not logged in" in one_line_error(cli(*args), 3)
    dead = f"http://127.0.0.1:{free_port()}/"
    assert "cannot reach" in one_line_error(cli("login", dead, "--token", "x"), 4)
    cli.ok("login", portal.url, "--token", token("bob"))
    msg = one_line_error(cli("teams", env={"AIPORTAL_URL": dead}), 4)
    assert dead in msg
    one_line_error(cli("teams", env={"AIPORTAL_TOKEN": "revoked-or-wrong"}), 3)
    one_line_error(cli("login", "not-a-url", "--token", "x"), 2)
    assert cli("data", "frobnicate").returncode == 2  # argparse: usage


def test_data_round_trip_ls_share_rm(as_user, tmp_path):
    cli = as_user("bob")
    folder = f"cli-{uuid.uuid4().hex[:8]}/"
    local = tmp_path / "scan.svs"
    payload = os.urandom(9 * 2**20 + 12345)  # two parts of the multipart upload
    local.write_bytes(payload)

    out = cli.ok("data", "cp", local, f"team-a:{folder}slides/")
    assert f"team-a:{folder}slides/scan.svs" in out
    listing = cli.json("data", "ls", f"team-a:{folder}slides/")
    assert [(i["key"], i["size"]) for i in listing] == [(f"{folder}slides/scan.svs", len(payload))]
    table = cli.ok("data", "ls", f"team-a:{folder}").splitlines()
    assert table[0].split() == ["SIZE", "MODIFIED", "KEY"] and table[1].strip() == f"{folder}slides/"

    down = tmp_path / "down"
    down.mkdir()
    out = cli.ok("data", "cp", f"team-a:{folder}slides/scan.svs", f"{down}/")
    assert (down / "scan.svs").read_bytes() == payload
    cli.ok("data", "cp", f"team-a:{folder}slides/scan.svs", down / "renamed.svs")
    assert (down / "renamed.svs").read_bytes() == payload
    assert sorted(p.name for p in down.iterdir()) == ["renamed.svs", "scan.svs"]  # no partial file left

    url = cli.ok("data", "share", "--expires", "10m", f"team-a:{folder}slides/scan.svs").strip()
    assert "/services/portal/s/" in url and "\n" not in url
    r = requests.get(url, timeout=60)  # no login
    assert r.status_code == 200 and r.content == payload
    share = cli.json("data", "share", f"team-a:{folder}slides/scan.svs")
    assert share["key"] == f"{folder}slides/scan.svs" and share["state"] == "active"

    small = tmp_path / "notes.txt"
    small.write_text("second object\n")
    cli.ok("data", "cp", small, f"team-a:{folder}slides/")
    msg = one_line_error(cli("data", "rm", f"team-a:{folder}"), 1)  # a folder with content, without -r
    assert folder in msg
    assert "removed" in cli.ok("data", "rm", f"team-a:{folder}slides/scan.svs")
    assert [i["key"] for i in cli.json("data", "ls", f"team-a:{folder}slides/")] == [f"{folder}slides/notes.txt"]
    assert "2 object(s)" not in cli.ok("data", "rm", "-r", f"team-a:{folder}")
    assert cli.json("data", "ls", f"team-a:{folder}") == []
    assert folder not in cli.ok("data", "ls", "team-a")


def test_data_errors_in_one_line(as_user, tmp_path):
    cli = as_user("bob")
    other = one_line_error(cli("data", "ls", "team-b"), 1)  # carol's team
    missing = one_line_error(cli("data", "ls", "team-nope"), 1)
    assert other.replace("team-b", "X") == missing.replace("team-nope", "X")
    local = tmp_path / "f.txt"
    local.write_text("x")
    assert one_line_error(cli("data", "cp", local, "team-b:f.txt"), 1).replace("team-b", "X") == \
        one_line_error(cli("data", "cp", local, "team-nope:f.txt"), 1).replace("team-nope", "X")
    one_line_error(cli("data", "cp", local, tmp_path / "g.txt"), 2)  # two local paths
    one_line_error(cli("data", "cp", tmp_path / "missing.txt", "team-a:x.txt"), 2)
    assert "key" in one_line_error(cli("data", "cp", local, "team-a:../escape.txt"), 1).lower()
    one_line_error(cli("data", "cp", "team-a:no/such/object.bin", tmp_path), 1)
    assert not (tmp_path / "object.bin").exists()


@pytest.fixture
def dev_server_stopped(portal, token):
    """bob's default server is stopped after the test, whatever happened."""
    yield
    s = TimedSession()
    s.headers["Authorization"] = f"token {token('bob')}"
    s.delete(f"{portal.url}hub/api/users/bob/server")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and s.get(f"{portal.url}hub/api/users/bob").json()["servers"]:
        time.sleep(0.5)


def test_dev_start_status_stop(as_user, dev_server_stopped):
    cli = as_user("bob")
    assert cli.ok("dev", "status").strip() == "stopped"
    r = cli("dev", "start", "--team", "team-a", "--profile", "cpu")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.startswith("running in team-a with profile cpu: ")
    assert "%]" in r.stderr  # the hub's progress, followed
    status = cli.json("dev", "status")
    assert status["state"] == "running" and status["team"] == "team-a" and status["profile"] == "cpu"
    stored = json.loads(cli.config_file.read_text())
    r = requests.get(status["url"] + "api/status", headers={"Authorization": f"token {stored['token']}"}, timeout=60)
    assert r.status_code == 200, r.text  # the server answers
    assert cli.ok("dev", "start").startswith("running in team-a")  # already running: left as it is
    assert cli.ok("dev", "stop").strip() == "stopped"
    assert cli.json("dev", "status")["state"] == "stopped"


def test_dev_start_refused_names_the_problem(as_user, dev_server_stopped):
    cli = as_user("bob")
    msg = one_line_error(cli("dev", "start", "--team", "team-a", "--profile", "nope"), 1)
    assert "profile" in msg and "nope" in msg


class FakeSSHServer:
    """An asyncssh server that takes `token` as bob's password and answers an exec request
    with what it saw, standing in for the portal's SSH endpoint."""

    def __init__(self, user: str, token: str):
        import asyncssh

        self.port = free_port()
        self.user, self.token = user, token
        self.passwords: list[str] = []
        self.loop = asyncio.new_event_loop()
        key = asyncssh.generate_private_key("ssh-ed25519")
        server = self

        class Server(asyncssh.SSHServer):
            def begin_auth(self, username):
                return True

            def password_auth_supported(self):
                return True

            def validate_password(self, username, password):
                server.passwords.append(password)
                return username == server.user and password == server.token

        async def handle(process):
            process.stdout.write(f"hello {process.get_extra_info('username')}: {process.command}\n")
            process.exit(7)

        async def start():
            return await asyncssh.create_server(Server, "127.0.0.1", self.port, server_host_keys=[key],
                                                process_factory=handle)

        self.acceptor = self.loop.run_until_complete(start())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.loop.call_soon_threadsafe(self.acceptor.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_dev_shell_gives_the_token_through_askpass(as_user, token, portal):
    cli = as_user("bob")
    server = FakeSSHServer("bob", token("bob"))
    try:
        r = cli("dev", "shell", "--ssh-port", server.port, "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no", "--", "echo", "hi",
                timeout=60)
    finally:
        server.close()
    assert "hello bob: echo hi" in r.stdout, (r.stdout, r.stderr)
    assert r.returncode == 7  # the remote command's status
    assert server.passwords == [token("bob")]
    assert list((cli.home / "tmp").iterdir()) == []  # the askpass script is gone


# --- jobs (the API of portal/handlers/jobs.py) --------------------------------------------------

needs_jobs = pytest.mark.skipif(not (ROOT / "portal" / "handlers" / "jobs.py").exists(), reason="no jobs API yet")


@needs_jobs
def test_jobs_submit_wait_logs_list(as_user, tmp_path):
    cli = as_user("bob")
    folder = f"cli-jobs-{uuid.uuid4().hex[:8]}/"
    spec = tmp_path / "job.yaml"
    spec.write_text(f"""team: team-a
name: cli test
profile: cpu
command: "echo hello from the job; echo result > /data/out/result.txt"
resources: {{cpu: 1, memory: 512Mi}}
walltime: 5m
outputs: {folder}out/
""")
    job = cli.json("jobs", "submit", spec)
    assert job["state"] in ("queued", "staging", "running", "uploading", "succeeded") and job["team"] == "team-a"
    r = cli("jobs", "wait", job["id"], "--json", timeout=240)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert json.loads(r.stdout)["state"] == "succeeded"
    assert "hello from the job" in cli.ok("jobs", "logs", job["id"])
    assert "hello from the job" in cli.ok("jobs", "logs", "-f", job["id"], "--team", "team-a")
    assert "succeeded" in cli.ok("jobs", "status", job["id"])
    listed = cli.json("jobs", "list", "--team", "team-a")
    assert job["id"] in [j["id"] for j in listed]
    table = cli.ok("jobs", "list").splitlines()
    assert table[0].split()[:4] == ["ID", "TEAM", "NAME", "STATE"]
    assert any(line.split()[0] == str(job["id"]) for line in table[1:])
    assert [i["key"] for i in cli.json("data", "ls", f"team-a:{folder}out/")] == [f"{folder}out/result.txt"]
    one_line_error(cli("jobs", "cancel", job["id"]), 1)  # 409: it had finished


@needs_jobs
def test_jobs_failures_and_refusals(as_user, tmp_path):
    cli = as_user("bob")
    bad = tmp_path / "bad.yaml"
    bad.write_text("team: team-a\nprofile: cpu\ncommand: [\"true\"]\nresources: {memory: lots}\n")
    msg = one_line_error(cli("jobs", "submit", bad), 1)
    assert msg.startswith("aiportal: jobs submit: resources.memory: ") and "lots" in msg
    bad.write_text("team: [unclosed\n")
    one_line_error(cli("jobs", "submit", bad), 2)
    failing = tmp_path / "fail.yaml"
    failing.write_text("team: team-a\nprofile: cpu\ncommand: 'echo failing; exit 3'\nwalltime: 5m\n")
    r = cli("jobs", "submit", "--wait", failing, timeout=240)
    assert r.returncode == 1 and "failed" in r.stdout, (r.stdout, r.stderr)
    job_id = next(line.split()[1] for line in r.stdout.splitlines() if line.startswith("job "))
    r = cli("jobs", "status", job_id)
    assert r.returncode == 1 and "exit code:" in r.stdout and "3" in r.stdout
    msg = one_line_error(cli("jobs", "cancel", job_id), 1)  # 409: it had finished
    assert job_id in msg or "finished" in msg
    assert "no job" in one_line_error(cli("jobs", "status", "999999999"), 1)


@needs_jobs
def test_another_teams_job_reads_as_a_missing_team(as_user, token, portal):
    cli = as_user("carol")  # team-b only
    other = one_line_error(cli("jobs", "list", "--team", "team-a"), 1)
    missing = one_line_error(cli("jobs", "list", "--team", "team-nope"), 1)
    assert other.replace("team-a", "X") == missing.replace("team-nope", "X")
