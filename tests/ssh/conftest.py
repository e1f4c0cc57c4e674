"""Fixtures of the SSH endpoint's tests (real OpenSSH client, real Podman, the dev image).

- `ssh_portal`: a portal of this module with `ssh: {enabled: true, port: <free port>}`;
  bob (team-a) and carol (team-b) each have one team with one profile, so a start with no
  options resolves; dave is in both teams, so his does not. Its `.ssh_port`, `.token(user)`,
  `.api(user)` (a requests session for the portal API) and `.hub(method, path, user)`.
- `ssh`: ssh(user, *args, token=…, key=…, input=…) → the CompletedProcess of OpenSSH's
  `ssh` logging in with a token (as password, through SSH_ASKPASS) or a key file.
- `server`: server(user, running) → makes the user's default server run (started through
  the hub and waited for) or stop; returns the container id when running.
- `keypair`: keypair(name) → (private key path, public key line), made by ssh-keygen.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from portal.launcher import Portal
from portal.ports import free_port
from tests.conftest import remove_containers, tokens_of, write_config
from tests.http import TimedSession

SSH_TIMEOUT = 180  # seconds for one ssh command: a server start included
CONFIG = {
    "hub": {"admin_users": ["admin"]},
    "auth": {"type": "native", "minimum_password_length": 8},
    "profiles": {"cpu": {"display_name": "CPU notebook", "image": "localhost/aiportal-dev:latest",
                         "cpu": 1, "memory": "1Gi"}},
    "gpus": [],
    "teams": [
        {"name": "team-a", "members": ["bob", "dave"], "profiles": ["cpu"]},
        {"name": "team-b", "members": ["carol", "dave"], "profiles": ["cpu"]},
    ],
}


class SSHPortal:
    def __init__(self, portal: Portal, ssh_port: int, tmp: Path):
        self.portal = portal
        self.ssh_port = ssh_port
        self.tmp = tmp
        self.token = tokens_of(portal)

    @property
    def data(self) -> Path:
        return self.portal.data.root

    def api(self, user: str) -> TimedSession:
        s = TimedSession()
        s.headers["Authorization"] = f"token {self.token(user)}"
        s.base = f"{self.portal.url}services/portal/api/v1"
        return s

    def hub(self, method: str, path: str, user: str = "admin", **kwargs):
        s = TimedSession()
        s.headers["Authorization"] = f"token {self.token(user)}"
        return s.request(method, f"{self.portal.url}hub/api{path}", **kwargs)


@pytest.fixture(scope="module")
def ssh_portal(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("ssh-portal")
    ssh_port = free_port()
    path = write_config(data_dir / "test-portal.yaml", dict(CONFIG, ssh={"enabled": True, "port": ssh_port,
                                                                          "listen": "127.0.0.1"}))
    p = Portal(data_dir, str(path), port=free_port(), quiet=True).start()
    yield SSHPortal(p, ssh_port, tmp_path_factory.mktemp("ssh-client"))
    p.stop()
    remove_containers(p)


def ssh_command(site: SSHPortal, program: str, user: str, args, *, token=None, key=None, options=()):
    """argv and environment of `program` (ssh, sftp or scp) logging in as `user`."""
    known = site.tmp / "known_hosts"
    opts = ["-o", "StrictHostKeyChecking=no", "-o", f"UserKnownHostsFile={known}", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=30", "-F", "/dev/null", *options]
    env = dict(os.environ)
    env.pop("SSH_AUTH_SOCK", None)
    if key is not None:
        opts += ["-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no",
                 "-o", "KbdInteractiveAuthentication=no", "-o", "BatchMode=yes"]
    else:
        askpass = site.tmp / f"askpass-{abs(hash(token))}"
        askpass.write_text(f"#!/bin/sh\necho '{token}'\n")
        askpass.chmod(0o700)
        env.update(SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
        opts += ["-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1",
                 "-o", "PreferredAuthentications=keyboard-interactive,password"]
    port = ["-P" if program in ("sftp", "scp") else "-p", str(site.ssh_port)]
    if program == "scp":
        return [program, *port, *opts, *args], env
    return [program, *port, *opts, f"{user}@127.0.0.1", *args], env


@pytest.fixture
def ssh(ssh_portal):
    def run(user: str, *args, token: str | None = None, key: Path | None = None, input: bytes | None = None,
            program: str = "ssh", options=(), timeout: float = SSH_TIMEOUT) -> subprocess.CompletedProcess:
        if key is None and token is None:
            token = ssh_portal.token(user)
        argv, env = ssh_command(ssh_portal, program, user, args, token=token, key=key, options=options)
        return subprocess.run(argv, env=env, input=input if input is not None else b"", capture_output=True,
                              timeout=timeout)

    return run


def wait_server(site: SSHPortal, user: str, running: bool, timeout: float = 150) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        model = site.hub("GET", f"/users/{user}").json()
        server = (model.get("servers") or {}).get("")
        if (bool(server and server.get("ready")) if running else not server):
            return model
        assert time.monotonic() < deadline, f"{user}'s server never {'ran' if running else 'stopped'}: {model}"
        time.sleep(0.5)


def container_of(site: SSHPortal, user: str) -> str:
    """The id of the user's running default server's container, by this portal's labels."""
    out = subprocess.run(["podman", "ps", "--no-trunc", "--format", "json", "--filter",
                          f"label=org.aiportal.portal={site.portal.data.instance_id}", "--filter",
                          f"label=org.aiportal.user={user}"], capture_output=True, text=True, timeout=60).stdout
    ids = [c["Id"] for c in json.loads(out or "[]") if (c.get("Labels") or {}).get("org.aiportal.server") == ""]
    assert len(ids) == 1, out
    return ids[0]


@pytest.fixture
def server(ssh_portal):
    def ensure(user: str, running: bool = True) -> str | None:
        model = ssh_portal.hub("GET", f"/users/{user}").json()
        current = (model.get("servers") or {}).get("")
        if running:
            if not current:
                r = ssh_portal.hub("POST", f"/users/{user}/server", json={"profile": "cpu"})
                assert r.status_code in (201, 202), r.text
            wait_server(ssh_portal, user, True)
            return container_of(ssh_portal, user)
        if current:
            r = ssh_portal.hub("DELETE", f"/users/{user}/server")
            assert r.status_code in (202, 204), r.text
        wait_server(ssh_portal, user, False)
        return None

    return ensure


@pytest.fixture
def keypair(tmp_path):
    def make(name: str) -> tuple[Path, str]:
        path = tmp_path / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test", "-f", str(path)],
                       check=True, timeout=30)
        return path, Path(f"{path}.pub").read_text().strip()

    return make
