"""`aiportal storage rotate-keys` against an external server: what an operator sees."""

from __future__ import annotations

import pytest
import yaml
from minio.error import S3Error

from portal import cli
from portal.config import load
from portal.storage import free_port, store_from_config


def write_config(tmp_path, server=None, endpoint=None):
    storage = {"type": server.kind if server else "minio", "endpoint": endpoint or server.endpoint}
    if server and server.kind == "seaweedfs":
        storage["seaweedfs"] = {k: server.store_options[k] for k in ("master", "filer")}
    path = tmp_path / "portal.yaml"
    path.write_text(yaml.safe_dump({"storage": storage}))
    return path


def rotate(tmp_path, path, team):
    return cli.main(["storage", "rotate-keys", team, "--data-dir", str(tmp_path), "--config", str(path)])


@pytest.fixture
def admin_env(server, monkeypatch):
    monkeypatch.setenv("AIPORTAL_S3_ACCESS_KEY", server.admin.access_key)
    monkeypatch.setenv("AIPORTAL_S3_SECRET_KEY", server.admin.secret_key)


def test_rotate_keys_replaces_both_identities_keys(server, store, admin_env, tmp_path, capsys):
    path = write_config(tmp_path, server)
    store.ensure_bucket("team-cli")
    shared = store_from_config(load(path), tmp_path)  # the portal's own database, as the hub reads it
    old = shared.team_credentials("team-cli", "team-cli")
    old_members = shared.team_credentials("team-cli", "team-cli", may_delete=False)
    assert rotate(tmp_path, path, "team-cli") == 0
    out = capsys.readouterr().out
    new = shared.team_credentials("team-cli", "team-cli")
    assert new != old and new.access_key in out and new.secret_key not in out
    assert shared.team_credentials("team-cli", "team-cli", may_delete=False) != old_members
    for gone in (old, old_members):
        with pytest.raises(S3Error):
            list(store.client_for(gone).list_objects("team-cli"))


def test_unknown_team_is_refused(server, admin_env, tmp_path, capsys):
    assert rotate(tmp_path, write_config(tmp_path, server), "team-none") == 1
    assert "no team 'team-none' (no bucket 'team-none')" in capsys.readouterr().err


def test_invalid_team_name_is_refused_with_the_rule(tmp_path, capsys):
    assert rotate(tmp_path, write_config(tmp_path, endpoint="http://127.0.0.1:1"), "Team_A") == 1
    assert "'Team_A' is not a valid team name: 3-63 lowercase" in capsys.readouterr().err


def test_missing_admin_keys_are_named(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AIPORTAL_S3_ACCESS_KEY", raising=False)
    assert rotate(tmp_path, write_config(tmp_path, endpoint="http://127.0.0.1:1"), "team-a") == 1
    err = capsys.readouterr().err
    assert "AIPORTAL_S3_ACCESS_KEY must be set for storage.endpoint http://127.0.0.1:1" in err
    assert "Traceback" not in err


def test_unreachable_server_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIPORTAL_S3_ACCESS_KEY", "x")
    monkeypatch.setenv("AIPORTAL_S3_SECRET_KEY", "y")
    endpoint = f"http://127.0.0.1:{free_port()}"
    assert rotate(tmp_path, write_config(tmp_path, endpoint=endpoint), "team-a") == 1
    assert f"the storage server at {endpoint} is not reachable" in capsys.readouterr().err
