"""Starting, stopping and restarting the local S3 servers."""

from __future__ import annotations

import io
import json
import socket
import stat
from pathlib import Path

import pytest

from portal.storage import MinioServer, SeaweedServer, StorageServerError, free_port

KINDS = ["seaweedfs", "minio"]


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains ``text`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_restart_keeps_objects_admin_and_team_keys(make_server, new_keys, kind):
    srv, keys = make_server(kind), new_keys()
    store = srv.open_store(keys)
    store.ensure_bucket("team-r")
    team = store.team_credentials("team-r", "team-r")
    store.client_for(team).put_object("team-r", "kept.txt", io.BytesIO(b"kept"), 4)
    admin, endpoint = srv.admin, srv.endpoint

    srv.stop()
    srv.start()

    assert srv.admin == admin and srv.endpoint == endpoint
    store = srv.open_store(keys)
    assert store.team_credentials("team-r", "team-r") == team
    assert store.client_for(team).get_object("team-r", "kept.txt").read() == b"kept"


@pytest.mark.parametrize("kind", KINDS)
def test_new_server_object_on_same_dir_reuses_admin_keys(make_server, new_keys, kind, tmp_path):
    srv = make_server(kind, tmp_path / "s3")
    admin = srv.admin
    srv.stop()
    again = make_server(kind, tmp_path / "s3")
    assert again.admin == admin
    assert again.open_store(new_keys()).client().list_buckets() is not None


@pytest.mark.parametrize("kind", KINDS)
def test_key_files_are_private(make_server, new_keys, kind):
    srv = make_server(kind)
    store = srv.open_store(new_keys())
    store.ensure_bucket("team-p")
    store.team_credentials("team-p", "team-p")
    private = [srv.data_dir / "s3-admin.json"]
    if kind == "seaweedfs":
        private.append(srv.data_dir / "s3-identities.json")
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    keys = json.loads((srv.data_dir / "s3-admin.json").read_text())
    assert keys["access_key"] == srv.admin.access_key


@pytest.mark.parametrize("kind", KINDS)
def test_stop_leaves_no_process(make_server, kind):
    srv = make_server(kind)
    pid = srv.pid
    assert processes_mentioning(str(srv.data_dir)) == [pid]
    srv.stop()
    assert processes_mentioning(str(srv.data_dir)) == []
    assert not Path(f"/proc/{pid}").exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
    srv.stop()  # idempotent
    if kind == "seaweedfs":  # weed ignores SIGTERM, and leaves Unix sockets named by port
        ports = {srv.port, *srv.ports.values()}
        assert not [p for p in Path("/tmp").glob("seaweedfs-*.sock")
                    if any(p.name.endswith(f"-{port}.sock") for port in ports)]


def test_busy_port_is_reported(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        srv = SeaweedServer(tmp_path, s.getsockname()[1])
        with pytest.raises(StorageServerError, match="already in use"):
            srv.start()
    assert not srv.running


def test_server_that_dies_at_start_is_reported_with_its_log(tmp_path):
    fake = tmp_path / "weed"
    fake.write_text("#!/bin/sh\necho 'cannot start: broken disk' >&2\nexit 3\n")
    fake.chmod(0o755)
    srv = SeaweedServer(tmp_path / "data", free_port(), binary=fake)
    with pytest.raises(StorageServerError, match="(?s)exited with code 3.*broken disk"):
        srv.start()


def test_missing_minio_binary_says_how_to_install(tmp_path):
    with pytest.raises(StorageServerError, match="scripts/install-minio.sh"):
        MinioServer(tmp_path, free_port(), binary=tmp_path / "no-minio")


def test_configured_cors_origins_are_set_on_team_buckets(make_server, new_keys):
    """storage.cors_origins reaches every bucket (SeaweedFS keeps CORS per bucket; MinIO has one
    global setting, MINIO_API_CORS_ALLOW_ORIGIN, set where it runs)."""
    store = make_server("seaweedfs").open_store(new_keys(), cors_origins=("https://portal.example",))
    store.ensure_bucket("team-cors")
    cors = store.client()._execute("GET", "team-cors", query_params={"cors": ""}).data.decode()
    assert "<AllowedOrigin>https://portal.example</AllowedOrigin>" in cors
    assert "<AllowedOrigin>*</AllowedOrigin>" not in cors
