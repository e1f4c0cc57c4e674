"""SSH into a server that is a pod of the real cluster: OpenSSH's own `ssh` and `sftp` reach
the user's default server's pod through the Kubernetes API's `exec` (WebSocket, v5 channels):
the command runs as the user (a named account) in /src, its output, stderr and exit status
come back, stdin and its end reach it, a PTY is a PTY, sftp starts in the home and a file it
puts lands in /src on the team's home volume, and another user's token does not log in."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest

from tests.kubernetes.kube_portal import wait_for
from tests.spawners.servers import hub, start, wait_ready
from tests.ssh.conftest import ssh_command

pytestmark = pytest.mark.timeout(900)
USER = "u0"  # his default server; the other tests of the cluster use named servers


@pytest.fixture(scope="module")
def site(kube_portal, kube_token, tmp_path_factory):
    """u0's default server running in team-a (cpu), and how to reach the portal's SSH endpoint;
    stopped after."""
    s = hub(kube_portal, kube_token, USER)
    r = start(s, USER, "", "team-a", "cpu")
    assert r.status_code in (201, 202), r.text
    wait_ready(s, USER, "", timeout=600)
    yield SimpleNamespace(ssh_port=kube_portal.ssh_port, tmp=tmp_path_factory.mktemp("kube-ssh"),
                          token=kube_token, homes=kube_portal.homes)
    assert s.delete(f"{s.base}/users/{USER}/server").status_code in (202, 204)
    wait_for(lambda: not s.get(f"{s.base}/users/{USER}").json()["servers"], timeout=300, what="the server stopped")


def run(site, program: str, user: str, *args, token: str | None = None, input: bytes = b"",
        options=()) -> subprocess.CompletedProcess:
    argv, env = ssh_command(site, program, user, args, token=token or site.token(user), options=options)
    return subprocess.run(argv, env=env, input=input, capture_output=True, timeout=180)


def test_a_command_runs_in_the_users_pod_as_the_user_in_src_and_its_status_comes_back(site, kube_cluster):
    r = run(site, "ssh", USER, 'id -un; id -u; pwd; echo "$HOSTNAME"; echo to-stderr >&2; exit 3')
    assert r.returncode == 3, r
    name, uid, cwd, hostname = r.stdout.decode().split()
    assert (name, cwd, r.stderr.decode()) == (USER, "/src", "to-stderr\n")  # a named account, as sftp needs
    assert uid != "0"
    pods = kube_cluster.kubectl("get", "pods", "-n", "aiportal-team-a", "-l",
                                f"aiportal.org/user={USER},hub.jupyter.org/servername=", "-o", "name").stdout
    assert pods.split() == [f"pod/{hostname}"]


def test_stdin_and_its_end_reach_the_command(site):
    r = run(site, "ssh", USER, "wc -c", input=b"12345")
    assert (r.returncode, r.stdout.decode().strip()) == (0, "5"), r


def test_a_pty_is_asked_for_and_given(site):
    r = run(site, "ssh", USER, "test -t 0 && test -t 1 && echo a-terminal", options=["-tt"])
    assert r.returncode == 0, r
    assert "a-terminal" in r.stdout.decode()


def test_a_file_put_with_sftp_lands_in_src_on_the_teams_home_volume(site, tmp_path):
    local = tmp_path / "scan.txt"
    local.write_text("from my laptop\n")
    r = run(site, "sftp", USER, input=f"put {local} /src/scan.txt\npwd\n".encode())
    assert r.returncode == 0, r
    assert f"Remote working directory: /home/{USER}" in r.stdout.decode()  # sftp starts in the home
    assert (site.homes / "team-a" / USER / "src" / "scan.txt").read_text() == "from my laptop\n"
    r = run(site, "ssh", USER, 'test "$(stat -c %u /src/scan.txt)" = "$(id -u)" && cat /src/scan.txt')
    assert (r.returncode, r.stdout.decode()) == (0, "from my laptop\n"), r


def test_another_users_token_does_not_log_in(site):
    r = run(site, "ssh", USER, "echo in", token=site.token("carol"))
    assert r.returncode == 255 and b"in\n" not in r.stdout, r
    assert b"Permission denied" in r.stderr, r
