"""NotebookEnv, the hub's `Spawner.team_env`, against an external server: team keys only,
the same ones the service reads, and keys that cannot delete for `may_delete=False`."""

from __future__ import annotations

import io
import re

import pytest
from minio.error import S3Error

from portal import config as portal_config
from portal.notebook_env import NotebookEnv
from portal.storage import Credentials, StorageAdminError, store_from_config


def external_config(server, **storage) -> portal_config.PortalConfig:
    """portal.yaml pointing at ``server`` as an external store."""
    storage = {"type": server.kind, "endpoint": server.endpoint, **storage}
    if server.kind == "seaweedfs":
        storage["seaweedfs"] = {k: server.store_options[k] for k in ("master", "filer")}
    return portal_config.validate({"storage": storage, "teams": [{"name": "team-nb"}]})


@pytest.fixture
def admin_env(server, store, monkeypatch):
    monkeypatch.setenv("AIPORTAL_S3_ACCESS_KEY", server.admin.access_key)
    monkeypatch.setenv("AIPORTAL_S3_SECRET_KEY", server.admin.secret_key)
    store.ensure_bucket("team-nb")


def keys_of(env: dict) -> Credentials:
    return Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])


def test_servers_get_the_keys_the_service_uses_never_the_admin_keys(server, admin_env, tmp_path):
    cfg = external_config(server)
    env = NotebookEnv(cfg, tmp_path)("team-nb", True)
    assert (env["S3_BUCKET"], env["AWS_ENDPOINT_URL"]) == ("team-nb", server.endpoint)
    assert server.admin.access_key not in env.values() and server.admin.secret_key not in env.values()
    service = store_from_config(cfg, tmp_path)  # another process on the same portal database
    assert service.team_credentials("team-nb", "team-nb") == keys_of(env)
    assert NotebookEnv(cfg, tmp_path)("team-nb", True) == env  # the next spawn, or another hub
    client = service.client_for(keys_of(env))
    client.put_object("team-nb", "mine.txt", io.BytesIO(b"x"), 1)
    client.remove_object("team-nb", "mine.txt")


def test_members_who_may_not_delete_get_keys_that_cannot(server, admin_env, tmp_path):
    hub = NotebookEnv(external_config(server), tmp_path)
    members, admins = hub("team-nb", False), hub("team-nb", True)
    assert keys_of(members) != keys_of(admins)
    client = store_from_config(hub.config, tmp_path).client_for(keys_of(members))
    client.put_object("team-nb", "kept.txt", io.BytesIO(b"x"), 1)
    with pytest.raises(S3Error) as refused:
        client.remove_object("team-nb", "kept.txt")
    assert refused.value.code == "AccessDenied"
    assert client.stat_object("team-nb", "kept.txt").size == 1


def test_servers_get_the_public_endpoint(server, admin_env, tmp_path):
    env = NotebookEnv(external_config(server, public_endpoint="https://s3.hospital.example"), tmp_path)(
        "team-nb", True)
    assert env["AWS_ENDPOINT_URL"] == "https://s3.hospital.example"


def test_without_admin_keys_in_the_environment_the_error_names_them(server, store, monkeypatch, tmp_path):
    monkeypatch.delenv("AIPORTAL_S3_ACCESS_KEY", raising=False)
    expected = f"AIPORTAL_S3_ACCESS_KEY must be set for storage.endpoint {server.endpoint}"
    with pytest.raises(StorageAdminError, match=re.escape(expected)):
        NotebookEnv(external_config(server), tmp_path)("team-nb", True)
