"""A whole portal on an external S3 server that the test starts apart, as production runs it:
MinIO, or SeaweedFS with its master and filer in portal.yaml; admin keys from the environment.

The hub (keys for servers) and the service (its own requests) are separate processes: the
keys one hands out must stay valid when the other works, `aiportal storage rotate-keys`
must reach the next spawn, and members of a team whose delete policy is "admins" must get
keys that cannot delete.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import docker
import pytest
import yaml
from minio import Minio
from minio.error import S3Error

from portal import cli
from portal.launcher import LaunchError, Portal
from portal.storage import Credentials, MinioServer, SeaweedServer, free_port
from portal.tokens import new_token
from spawners.container import label
from spawners.engine import API_VERSION
from tests.conftest import TEST_CONFIG, remove_containers
from tests.http import TimedSession

TEAM = "team-h"  # delete_policy admins: alice may delete, bob may not
HTTP = 30  # seconds, for every request


@pytest.fixture(scope="module", params=["minio", "seaweedfs"])
def external(request, tmp_path_factory):
    """The S3 server, a process of its own that the portal did not start."""
    kind = request.param
    if kind == "minio":
        server = MinioServer(tmp_path_factory.mktemp("ext-minio"), free_port())
    else:
        server = SeaweedServer(tmp_path_factory.mktemp("ext-seaweedfs"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def portal(external, tmp_path_factory):
    storage = {"type": external.kind, "endpoint": external.endpoint}
    if external.kind == "seaweedfs":
        storage["seaweedfs"] = {k: external.store_options[k] for k in ("master", "filer")}
    config = {**TEST_CONFIG, "storage": storage, "teams": [
        {"name": TEAM, "admins": ["alice"], "members": ["bob"], "delete_policy": "admins", "profiles": ["cpu"]}]}
    data_dir = tmp_path_factory.mktemp("ext-portal")
    (data_dir / "portal.yaml").write_text(yaml.safe_dump(config))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIPORTAL_S3_ACCESS_KEY", external.admin.access_key)
        env.setenv("AIPORTAL_S3_SECRET_KEY", external.admin.secret_key)
        p = Portal(data_dir, str(data_dir / "portal.yaml"), port=free_port(), quiet=True).start()
        try:
            yield p
        finally:
            p.stop()
            remove_containers(p)


@pytest.fixture
def hub(portal):
    """hub(user) → a requests.Session on the hub API as that user; servers stopped after the test."""
    sessions = {}

    def session_for(user):
        if user not in sessions:
            s = sessions[user] = TimedSession()
            s.headers["Authorization"] = f"token {new_token(portal.data.root, user, str(portal.config_path))}"
        return sessions[user]

    yield session_for
    for user, s in sessions.items():
        for name in s.get(f"{portal.url}hub/api/users/{user}", timeout=HTTP).json()["servers"]:
            s.delete(f"{portal.url}hub/api/users/{user}/servers/{name}", json={"remove": True}, timeout=HTTP)
    remove_containers(portal)


def spawn(portal, hub, user, server="s3") -> Credentials:
    """Start a server of team-h as ``user``; the S3 keys the hub put in its environment."""
    s = hub(user)
    r = s.post(f"{portal.url}hub/api/users/{user}/servers/{server}", json={"team": TEAM, "profile": "cpu"},
               timeout=HTTP)
    assert r.status_code in (201, 202), r.text
    deadline = time.monotonic() + 120
    while True:
        model = s.get(f"{portal.url}hub/api/users/{user}", timeout=HTTP).json()
        assert server in model["servers"], f"{user}/{server} failed to start: {model}"
        if model["servers"][server]["ready"]:
            break
        assert time.monotonic() < deadline, f"{user}/{server} not ready"
        time.sleep(0.3)
    env = container_env(portal, user, server)
    assert env["S3_BUCKET"] == TEAM
    return Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])


def stop(portal, hub, user, server="s3") -> None:
    s = hub(user)
    r = s.delete(f"{portal.url}hub/api/users/{user}/servers/{server}", json={"remove": True}, timeout=HTTP)
    assert r.status_code in (202, 204), r.text
    deadline = time.monotonic() + 60
    while server in s.get(f"{portal.url}hub/api/users/{user}", timeout=HTTP).json()["servers"]:
        assert time.monotonic() < deadline, f"{user}/{server} still listed"
        time.sleep(0.3)


def container_env(portal, user, server) -> dict[str, str]:
    with docker.APIClient(base_url=portal.engine.socket, version=API_VERSION, timeout=HTTP) as engine:
        found = engine.containers(filters={"label": [f"{label('portal')}={portal.data.instance_id}",
                                                     f"{label('user')}={user}", f"{label('server')}={server}"]})
        assert len(found) == 1, found
        return dict(e.split("=", 1) for e in engine.inspect_container(found[0]["Id"])["Config"]["Env"])


def s3(external, creds: Credentials) -> Minio:
    return Minio(external.endpoint.split("://", 1)[1], creds.access_key, creds.secret_key, secure=False)


def refused(call) -> str:
    with pytest.raises(S3Error) as info:
        call()
    return info.value.code


def listed_by_the_service(portal, hub, user) -> list[str]:
    r = hub(user).get(f"{portal.url}services/portal/api/v1/teams/{TEAM}/datasets", timeout=HTTP)
    assert r.status_code == 200, r.text
    return [i["key"] for i in r.json()["items"]]


def test_server_keys_stay_valid_while_the_service_works(portal, external, hub):
    keys = spawn(portal, hub, "alice")
    s3(external, keys).put_object(TEAM, "from-notebook.txt", io.BytesIO(b"n"), 1)
    # The service reads and signs with the team's keys: the same ones, not new ones that
    # would revoke the notebook's.
    assert "from-notebook.txt" in listed_by_the_service(portal, hub, "bob")
    assert s3(external, keys).get_object(TEAM, "from-notebook.txt").read() == b"n"
    again = spawn(portal, hub, "alice", "second")
    assert again == keys
    s3(external, keys).remove_object(TEAM, "from-notebook.txt")


def test_admin_keys_reach_no_server_database_or_log(portal, external, hub):
    spawn(portal, hub, "bob")
    env = json.dumps(container_env(portal, "bob", "s3"))
    admin = external.admin
    kept = [(portal.data.root / "portal.sqlite").read_bytes().decode("latin-1")]
    kept += [p.read_text(errors="replace") for p in (portal.data.root / "logs").iterdir() if p.is_file()]
    for text in (env, *kept):
        assert admin.access_key not in text and admin.secret_key not in text
    assert "AWS_SECRET_ACCESS_KEY" in env


def test_members_keys_cannot_delete_where_only_team_admins_may(portal, external, hub):
    bob, alice = spawn(portal, hub, "bob"), spawn(portal, hub, "alice")
    assert bob != alice
    member = s3(external, bob)
    member.put_object(TEAM, "shared.txt", io.BytesIO(b"v1"), 2)
    member.put_object(TEAM, "shared.txt", io.BytesIO(b"v2"), 2)  # overwrite: see docs/storage.md
    assert refused(lambda: member.remove_object(TEAM, "shared.txt")) == "AccessDenied"
    assert s3(external, alice).get_object(TEAM, "shared.txt").read() == b"v2"
    s3(external, alice).remove_object(TEAM, "shared.txt")
    assert "shared.txt" not in listed_by_the_service(portal, hub, "alice")


def test_rotate_keys_reaches_the_next_spawn(portal, external, hub):
    old = spawn(portal, hub, "alice")
    done = subprocess.run([sys.executable, "-m", "portal.cli", "storage", "rotate-keys", TEAM,
                           "--data-dir", str(portal.data.root), "--config", str(portal.config_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert refused(lambda: list(s3(external, old).list_objects(TEAM))) in ("InvalidAccessKeyId", "AccessDenied")
    listed_by_the_service(portal, hub, "alice")  # the service follows the rotation
    stop(portal, hub, "alice")
    new = spawn(portal, hub, "alice")
    assert new != old and new.access_key in done.stdout
    s3(external, new).put_object(TEAM, "after.txt", io.BytesIO(b"a"), 1)
    s3(external, new).remove_object(TEAM, "after.txt")


def test_external_seaweedfs_without_master_and_filer_is_refused(tmp_path, capsys):
    path = tmp_path / "portal.yaml"
    path.write_text(yaml.safe_dump({"storage": {"type": "seaweedfs", "endpoint": "http://s3.example:8333"}}))
    assert cli.main(["config", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "storage: " in err and "needs storage.seaweedfs.master and storage.seaweedfs.filer" in err
    assert "Traceback" not in err


def test_wrong_admin_keys_stop_the_start_with_their_cause(tmp_path, monkeypatch):
    """An error no waiting can fix (the storage refuses the admin keys) stops `aiportal up`
    at once with that cause, instead of a start that gives up after minutes saying only
    that health did not answer."""
    server = MinioServer(tmp_path / "s3", free_port())
    server.start()
    try:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        config = {**TEST_CONFIG, "storage": {"type": "minio", "endpoint": server.endpoint}}
        (data_dir / "portal.yaml").write_text(yaml.safe_dump(config))
        monkeypatch.setenv("AIPORTAL_S3_ACCESS_KEY", server.admin.access_key)
        monkeypatch.setenv("AIPORTAL_S3_SECRET_KEY", "not-the-secret")
        began = time.monotonic()
        with pytest.raises(LaunchError) as e:
            Portal(data_dir, str(data_dir / "portal.yaml"), port=free_port(), quiet=True).start()
        assert "the portal service could not start" in str(e.value)
        assert "the storage server refused: " in str(e.value), e.value
        assert any(code in str(e.value) for code in ("AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId"))
        assert time.monotonic() - began < 60
        assert "not-the-secret" not in (data_dir / "logs" / "jupyterhub.log").read_text()
    finally:
        server.stop()


def test_missing_admin_keys_are_named_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.delenv("AIPORTAL_S3_ACCESS_KEY", raising=False)
    monkeypatch.delenv("AIPORTAL_S3_SECRET_KEY", raising=False)
    config = {**TEST_CONFIG, "storage": {"type": "minio", "endpoint": "http://127.0.0.1:9"}}
    (tmp_path / "portal.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(LaunchError, match="set its admin keys in AIPORTAL_S3_ACCESS_KEY and AIPORTAL_S3_SECRET_KEY"):
        Portal(tmp_path, str(tmp_path / "portal.yaml"), port=free_port(), quiet=True).start()
