"""The SSH endpoint with the real OpenSSH client: logins by token and by registered key,
commands, exit statuses, a PTY, sftp and scp, a server started on demand, and the keys API
and page. Another user's token or key never reaches a container, and a user's session only
ever runs in that user's own container.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import socket
import subprocess
import time
from types import SimpleNamespace

import asyncssh
import pytest

from portal.handlers.ssh_keys import connect_commands, public_endpoint
from portal.ssh.keys import SSHKeyError, parse

pytestmark = pytest.mark.timeout(600)


# --- keys: parsing (no portal) -------------------------------------------------------------


def test_parse_accepts_ed25519_and_refuses_weak_or_malformed_keys():
    key = asyncssh.generate_private_key("ssh-ed25519", comment="me@laptop")
    _, fingerprint, comment = parse(key.export_public_key().decode())
    assert fingerprint == key.get_fingerprint("sha256") and fingerprint.startswith("SHA256:")
    assert comment == "me@laptop"
    weak = asyncssh.generate_private_key("ssh-rsa", key_size=1024).export_public_key().decode()
    for text, words in [(weak, "1024 bits"), ("ssh-ed25519 AAAAnotbase64", "not an OpenSSH public key"),
                        ("", "give one OpenSSH public key line"), (None, "give one"),
                        (key.export_private_key().decode(), "private key"),
                        (key.export_public_key().decode() * 2, "exactly one")]:
        with pytest.raises(SSHKeyError) as e:
            parse(text)
        assert e.value.status == 400 and e.value.field == "key" and words in str(e.value), (text, e.value)


# --- keys API and page ------------------------------------------------------------------------


def test_the_command_names_the_public_host_and_port_when_something_maps_them():
    handler = SimpleNamespace(caller=SimpleNamespace(name="bob"), request=SimpleNamespace(host_name="portal.example"))
    direct = {"port": 2222, "public_host": None, "public_port": None}
    assert public_endpoint(direct) == {"port": 2222}
    assert connect_commands(handler, direct) == ("ssh -p 2222 bob@portal.example", "sftp -P 2222 bob@portal.example")
    mapped = {**direct, "public_host": "ssh.example", "public_port": 22}  # e.g. a Kubernetes Service
    assert public_endpoint(mapped) == {"port": 22, "host": "ssh.example"}
    assert connect_commands(handler, mapped) == ("ssh bob@ssh.example", "sftp bob@ssh.example")


def test_keys_api_is_per_user(ssh_portal, keypair):
    bob, carol = ssh_portal.api("bob"), ssh_portal.api("carol")
    _, line = keypair("api-bob")
    r = bob.post(f"{bob.base}/ssh-keys", json={"key": line})
    assert r.status_code == 201, r.text
    key = r.json()
    assert key["fingerprint"].startswith("SHA256:") and key["comment"] == "api-bob@test"
    assert key["algorithm"] == "ssh-ed25519"
    assert key["id"] in [k["id"] for k in bob.get(f"{bob.base}/ssh-keys").json()["items"]]
    assert key["id"] not in [k["id"] for k in carol.get(f"{carol.base}/ssh-keys").json()["items"]]
    # registered by anyone: 409, also for the same user
    for s in (bob, carol):
        r = s.post(f"{s.base}/ssh-keys", json={"key": line})
        assert r.status_code == 409 and r.json()["field"] == "key", r.text
    weak = asyncssh.generate_private_key("ssh-rsa", key_size=1024).export_public_key().decode()
    for body in ({"key": weak}, {"key": "ssh-ed25519 nope"}, {"key": 3}, {}):
        r = bob.post(f"{bob.base}/ssh-keys", json=body)
        assert r.status_code == 400 and r.json()["field"] == "key", (body, r.text)
    # another user's key: 404, and it stays
    r = carol.delete(f"{carol.base}/ssh-keys/{key['id']}")
    assert r.status_code == 404, r.text
    assert r.json()["message"]
    assert key["id"] in [k["id"] for k in bob.get(f"{bob.base}/ssh-keys").json()["items"]]
    assert carol.delete(f"{carol.base}/ssh-keys/nonsense").status_code == 404
    assert bob.delete(f"{bob.base}/ssh-keys/{key['id']}").status_code == 204
    assert bob.delete(f"{bob.base}/ssh-keys/{key['id']}").status_code == 404
    assert bob.get(f"{bob.base}/ssh-keys").json()["items"] == []
    anonymous = ssh_portal.api("bob")
    anonymous.headers.pop("Authorization")
    assert anonymous.get(f"{bob.base}/ssh-keys").status_code == 401


def test_keys_page_lists_keys_and_the_command(ssh_portal, keypair):
    bob = ssh_portal.api("bob")
    _, line = keypair("page-bob")
    key = bob.post(f"{bob.base}/ssh-keys", json={"key": line}).json()
    try:
        r = bob.get(f"{ssh_portal.portal.url}services/portal/ssh-keys")
        assert r.status_code == 200, r.text
        assert f"ssh -p {ssh_portal.ssh_port} bob@127.0.0.1" in r.text
        assert key["fingerprint"] in r.text and "page-bob@test" in r.text
        assert 'id="ssh-key-form"' in r.text and "ssh-key-delete" in r.text
    finally:
        bob.delete(f"{bob.base}/ssh-keys/{key['id']}")


# --- logins --------------------------------------------------------------------------------------


def test_command_runs_in_the_users_container_as_the_user(ssh_portal, ssh, server):
    container = server("bob")
    started = time.monotonic()
    r = ssh("bob", "echo $USER; id -u; pwd; hostname")
    elapsed = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    user, uid, cwd, hostname = r.stdout.decode().split()
    assert (user, cwd) == ("bob", "/src")
    assert int(uid) == (ssh_portal.data / "homes" / "bob").stat().st_uid
    assert container.startswith(hostname)
    again = []
    for _ in range(4):
        started = time.monotonic()
        assert ssh("bob", "true").returncode == 0
        again.append(time.monotonic() - started)
    print(f"ssh to first output on a running server: {elapsed:.2f} s; then {', '.join(f'{t:.2f}' for t in again)} s")


def test_exit_status_and_stderr_come_back(ssh, server):
    server("bob")
    r = ssh("bob", "echo out; echo err >&2; exit 7")
    assert (r.returncode, r.stdout, r.stderr) == (7, b"out\n", b"err\n")


def test_an_ssh_session_is_activity_the_idle_culler_sees(ssh_portal, ssh, server):
    """Work over SSH passes by the single-user server: the portal tells the hub, so the
    server's last_activity moves while a session runs and the culler does not stop it."""
    server("bob")
    before = ssh_portal.hub("GET", "/users/bob").json()["servers"][""]["last_activity"]
    time.sleep(1.1)
    assert ssh("bob", "sleep 1").returncode == 0
    after = ssh_portal.hub("GET", "/users/bob").json()["servers"][""]["last_activity"]
    assert after > before, (before, after)


def test_stdin_reaches_the_command(ssh, server):
    server("bob")
    data = secrets.token_bytes(300_000)
    r = ssh("bob", "sha256sum", input=data)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split()[0] == hashlib.sha256(data).hexdigest()


def test_wrong_tokens_and_other_users_are_refused(ssh_portal, ssh, server):
    server("bob")
    for token in (secrets.token_hex(16), ssh_portal.token("carol"), ""):
        r = ssh("bob", "echo in", token=token or "x")
        assert r.returncode == 255 and b"in" not in r.stdout, (token[:4], r.stdout, r.stderr)
        assert b"Permission denied" in r.stderr
    r = ssh("nobody", "echo in", token=ssh_portal.token("bob"))
    assert r.returncode == 255


def test_a_token_without_access_to_servers_is_refused(ssh_portal, ssh, server):
    server("bob")
    r = ssh_portal.hub("POST", "/users/bob/tokens", user="bob", json={"scopes": ["read:users:name!user"],
                                                                        "note": "no servers"})
    assert r.status_code == 201, r.text
    assert ssh("bob", "echo in", token=r.json()["token"]).returncode == 255


def test_login_by_registered_key_and_only_as_its_owner(ssh_portal, ssh, server, keypair):
    bob_container, carol_container = server("bob"), server("carol")
    bob_key, bob_line = keypair("bob")
    carol_key, carol_line = keypair("carol")
    stranger, _ = keypair("stranger")
    api = {u: ssh_portal.api(u) for u in ("bob", "carol")}
    ids = {u: api[u].post(f"{api[u].base}/ssh-keys", json={"key": line}).json()["id"]
           for u, line in (("bob", bob_line), ("carol", carol_line))}
    try:
        r = ssh("bob", "echo $USER; hostname", key=bob_key)
        assert r.returncode == 0, r.stderr
        user, hostname = r.stdout.decode().split()
        assert user == "bob" and bob_container.startswith(hostname)
        r = ssh("carol", "echo $USER; hostname", key=carol_key)
        user, hostname = r.stdout.decode().split()
        assert user == "carol" and carol_container.startswith(hostname)
        for user, key in (("bob", carol_key), ("carol", bob_key), ("bob", stranger)):
            r = ssh(user, "echo in", key=key)
            assert r.returncode == 255 and r.stdout == b"", (user, key, r.stderr)
        # a removed key no longer logs in
        assert api["bob"].delete(f"{api['bob'].base}/ssh-keys/{ids['bob']}").status_code == 204
        assert ssh("bob", "echo in", key=bob_key).returncode == 255
    finally:
        for u in ("bob", "carol"):
            api[u].delete(f"{api[u].base}/ssh-keys/{ids[u]}")


def test_interactive_session_with_a_pty(ssh, server):
    server("bob")
    r = ssh("bob", "-tt", input=b"tty; echo hi-$((40+2)); exit 3\n")
    assert r.returncode == 3, (r.stdout, r.stderr)
    out = r.stdout.decode(errors="replace")
    assert "hi-42" in out and "/dev/pts/" in out


def test_window_size_changes_reach_the_pty(ssh_portal, server):
    """With asyncssh as the client: OpenSSH sends a window change only from a real terminal."""
    server("bob")

    async def session() -> list[str]:
        async with asyncssh.connect("127.0.0.1", ssh_portal.ssh_port, username="bob",
                                    password=ssh_portal.token("bob"), known_hosts=None,
                                    client_keys=None) as conn:
            proc = await conn.create_process(term_type="xterm", term_size=(80, 24))
            sizes = []
            for size in ((80, 24), (132, 43)):
                proc.change_terminal_size(*size)
                await asyncio.sleep(0.5)
                proc.stdin.write("echo SIZE=$(stty size | tr ' ' x)\n")
                while True:  # the terminal echoes the command line too: match the output's digits
                    line = await asyncio.wait_for(proc.stdout.readline(), 60)
                    if found := re.search(r"SIZE=([0-9]+x[0-9]+)", line):
                        sizes.append(found.group(0))
                        break
            proc.stdin.write("exit 0\n")
            await asyncio.wait_for(proc.wait(), 60)
            return sizes

    assert asyncio.run(session()) == ["SIZE=24x80", "SIZE=43x132"]


def test_sftp_and_scp_reach_src_and_home(ssh_portal, ssh, server, tmp_path):
    server("bob")
    home = ssh_portal.data / "homes" / "bob"
    for name in ("by-sftp.txt", "by-scp.txt", "by-legacy-scp.txt"):
        (tmp_path / name).write_text(f"content of {name}\n")
    r = ssh("bob", program="sftp", input=(f"put {tmp_path}/by-sftp.txt /src/by-sftp.txt\n"
                                          f"put {tmp_path}/by-sftp.txt home-by-sftp.txt\n"
                                          "pwd\n").encode())
    assert r.returncode == 0, r.stderr
    assert "Remote working directory: /home/bob" in r.stdout.decode()
    r = ssh("bob", f"{tmp_path}/by-scp.txt", "bob@127.0.0.1:/src/by-scp.txt", program="scp")
    assert r.returncode == 0, r.stderr
    r = ssh("bob", "-O", f"{tmp_path}/by-legacy-scp.txt", "bob@127.0.0.1:/src/", program="scp")
    assert r.returncode == 0, r.stderr
    r = ssh("bob", "cat /src/by-sftp.txt /src/by-scp.txt /src/by-legacy-scp.txt ~/home-by-sftp.txt")
    assert r.stdout.decode() == ("content of by-sftp.txt\ncontent of by-scp.txt\n"
                                 "content of by-legacy-scp.txt\ncontent of by-sftp.txt\n"), r.stderr
    for name in ("by-sftp.txt", "by-scp.txt", "by-legacy-scp.txt"):
        assert (home / "src" / name).read_text() == f"content of {name}\n"
        assert (home / "src" / name).stat().st_uid == home.stat().st_uid
    assert (home / "home-by-sftp.txt").read_text() == "content of by-sftp.txt\n"
    # and back
    r = ssh("bob", "bob@127.0.0.1:/src/by-scp.txt", str(tmp_path / "back.txt"), program="scp")
    assert r.returncode == 0 and (tmp_path / "back.txt").read_text() == "content of by-scp.txt\n"


def test_no_server_running_ssh_starts_it_with_progress(ssh_portal, ssh, server):
    server("carol")  # started once with options: a start without options reuses them
    server("carol", running=False)
    started = time.monotonic()
    r = ssh("carol", "echo started-$USER")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"started-carol\n"
    progress = r.stderr.decode()
    assert "Starting your server" in progress and "Server requested" in progress, progress
    print(f"ssh with a server start: {time.monotonic() - started:.1f} s; progress:\n{progress}")
    assert ssh_portal.hub("GET", "/users/carol").json()["servers"][""]["ready"]


def test_a_start_the_hub_refuses_is_reported(ssh_portal, ssh, server):
    """dave is in two teams and never chose one: the hub's 400 comes back on stderr, status 1."""
    server("dave", running=False)
    r = ssh("dave", "echo in")
    assert r.returncode == 1 and r.stdout == b""
    assert "could not start your server" in r.stderr.decode() and "team" in r.stderr.decode(), r.stderr


def test_host_key_is_made_once_and_private(ssh_portal):
    path = ssh_portal.data / "secrets" / "ssh_host_ed25519_key"
    assert path.stat().st_mode & 0o777 == 0o600
    key = asyncssh.read_private_key(str(path))
    scanned = subprocess.run(["ssh-keyscan", "-p", str(ssh_portal.ssh_port), "-t", "ed25519", "127.0.0.1"],
                             capture_output=True, text=True, timeout=60).stdout
    assert key.export_public_key().decode().split()[1] in scanned


def test_a_port_it_cannot_bind_stops_the_start(portal_factory):
    """The SSH port taken: `aiportal up` fails, naming the setting and the cause."""
    from portal.launcher import LaunchError
    from portal.ports import free_port
    from tests.ssh.conftest import CONFIG

    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(LaunchError) as e:
            portal_factory(dict(CONFIG, ssh={"enabled": True, "port": port, "listen": "127.0.0.1"}))
    assert f"ssh: cannot listen on 127.0.0.1 port {port}" in str(e.value)
    assert "Address already in use" in str(e.value)
