"""`aiportal up` as a user runs it: buckets, restart keeps data, Ctrl-C, busy ports."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

from portal.storage import store_from_config
from tests.conftest import TEST_CONFIG, free_port, write_config


def descendants(pid: int) -> set[int]:
    """Every process below pid, from /proc (children of children too)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_every_team_has_a_bucket_and_objects_survive_restart(portal_factory, tmp_path):
    data_dir = tmp_path / "keep"
    data_dir.mkdir()
    p = portal_factory(TEST_CONFIG, data_dir)
    store = store_from_config(p.config, p.data.root)
    client = store.client()
    assert {"team-a", "team-b"} <= {b.name for b in client.list_buckets()}
    import io
    client.put_object("team-a", "scans/ct-001.nii", io.BytesIO(b"voxels"), 6)
    p.stop()
    p2 = portal_factory(TEST_CONFIG, data_dir)
    client = store_from_config(p2.config, p2.data.root).client()
    assert client.get_object("team-a", "scans/ct-001.nii").read() == b"voxels"


def test_ctrl_c_leaves_no_process(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config = write_config(data_dir / "portal.yaml", TEST_CONFIG)
    port = free_port()
    up = subprocess.Popen([sys.executable, "-m", "portal.cli", "up", "--config", str(config),
                           "--data-dir", str(data_dir), "--port", str(port)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner = []
    for line in up.stdout:
        banner.append(line)
        if "Press Ctrl-C" in line:
            break
    text = "".join(banner)
    assert f"http://127.0.0.1:{port}/" in text and "admin user: admin" in text, text
    assert requests.get(f"http://127.0.0.1:{port}/services/portal/health", timeout=30).ok
    children = descendants(up.pid)
    names = {Path(f"/proc/{c}/comm").read_text().strip() for c in children if alive(c)}
    assert {"weed", "node"} <= names, names  # SeaweedFS and the proxy really ran
    up.send_signal(signal.SIGINT)
    assert up.wait(60) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(c) for c in children):
        time.sleep(0.2)
    assert not [c for c in children if alive(c)], "orphaned processes after Ctrl-C"


def test_port_in_use_is_one_line(tmp_path):
    import socket
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config = write_config(data_dir / "portal.yaml", TEST_CONFIG)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "portal.cli", "up", "--config", str(config),
                            "--data-dir", str(data_dir), "--port", str(port)],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"aiportal up: port {port} on 127.0.0.1 is already in use "
                                "(hub.port); stop what uses it or choose another port")


def test_unreachable_database_is_named_and_leaves_no_process(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    dead = f"postgresql://portal:s3cret@127.0.0.1:{free_port()}/portal"
    config = write_config(data_dir / "portal.yaml", dict(TEST_CONFIG, database={"url": dead}))
    port = free_port()
    log = tmp_path / "up.log"  # a file, not a pipe: unread, a pipe fills and blocks the hub's logging
    with log.open("w") as sink:
        up = subprocess.Popen([sys.executable, "-m", "portal.cli", "up", "--config", str(config),
                               "--data-dir", str(data_dir), "--port", str(port)],
                              stdout=sink, stderr=subprocess.STDOUT, text=True)
        children: set[int] = set()
        while up.poll() is None:  # note every process it starts while it fails
            children |= descendants(up.pid)
            time.sleep(0.1)
    out = log.read_text()
    assert up.returncode == 1
    assert "database.url: cannot use postgresql+psycopg://portal:***@127.0.0.1" in out and "Connection refused" in out
    assert "JupyterHub exited with status 1 during start-up" in out
    assert "s3cret" not in out  # the hub and the service log to this terminal
    assert {Path(f"/proc/{c}/comm").read_text().strip() for c in children if alive(c)} == set()


def test_bad_config_at_start_is_reported_not_traced(tmp_path):
    bad = dict(TEST_CONFIG, teams=[{"name": "Bad Team"}])
    path = tmp_path / "portal.yaml"
    path.write_text(yaml.safe_dump(bad))
    r = subprocess.run([sys.executable, "-m", "portal.cli", "up", "--config", str(path),
                        "--data-dir", str(tmp_path / "d")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "teams[0].name: 'Bad Team' is not a valid team name" in r.stderr
    assert "Traceback" not in r.stderr


def test_first_run_writes_default_config_and_private_password(tmp_path):
    from portal.launcher import Portal
    data_dir = tmp_path / "fresh"
    p = Portal(data_dir)
    assert p.config_path == data_dir.resolve() / "portal.yaml"
    assert "# aiportal configuration" in p.config_path.read_text()
    password = p.data.admin_password("admin")
    path = data_dir / "secrets" / "password-admin"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert Portal(data_dir).data.admin_password("admin") == password


def test_token_command(portal):
    r = subprocess.run([sys.executable, "-m", "portal.cli", "token", "bob", "--data-dir",
                        str(portal.data.root), "--config", str(portal.config_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    me = requests.get(f"{portal.url}hub/api/user", headers={"Authorization": f"token {token}"}, timeout=30)
    assert me.json()["name"] == "bob"
    r = subprocess.run([sys.executable, "-m", "portal.cli", "token", "nobody", "--data-dir",
                        str(portal.data.root), "--config", str(portal.config_path)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip() == "aiportal token: no user 'nobody' in the hub database"
