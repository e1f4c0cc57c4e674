"""Team keys recorded in the portal database: shared by processes, never the admin keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from minio.error import S3Error
from sqlalchemy import update

from portal.config import sqlalchemy_url
from portal.db import Database, TeamKey, utcnow
from portal.storage import Credentials, TeamKeys, open_store

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: A separate process of the portal (the hub, the service, `aiportal storage rotate-keys`):
#: it opens the store on the same database and asks for the team's keys once told to go.
RACER = """
import json, os, sys, time
from pathlib import Path
from portal.db import Database
from portal.storage import Credentials, TeamKeys, open_store
kind, endpoint, url, ready, go, options = sys.argv[1:]
admin = Credentials(os.environ["AIPORTAL_S3_ACCESS_KEY"], os.environ["AIPORTAL_S3_SECRET_KEY"])
store = open_store(kind, endpoint, admin, keys=TeamKeys(Database(url)), **json.loads(options))
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.002)
print(json.dumps(store.team_credentials("team-race", "team-race", may_delete=False).as_dict()))
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/portal.sqlite"
    return sqlalchemy_url(request.getfixturevalue("postgres").create_database(f"k{uuid.uuid4().hex[:8]}"))


def test_processes_asking_for_first_keys_at_once_get_the_same_keys(server, store, db_url, tmp_path):
    store.ensure_bucket("team-race")
    Database(db_url).engine.dispose()  # migrated once, as the service does before the hub asks
    env = {**os.environ, "PYTHONPATH": ROOT, "AIPORTAL_S3_ACCESS_KEY": server.admin.access_key,
           "AIPORTAL_S3_SECRET_KEY": server.admin.secret_key}
    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-c", RACER, server.kind, server.endpoint, db_url,
                                str(tmp_path / f"ready{i}"), str(go), json.dumps(server.store_options)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for i in range(3)]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{i}").exists() for i in range(3)):
        assert time.monotonic() < deadline and all(r.poll() is None for r in racers), [
            r.communicate() for r in racers if r.poll() is not None]
        time.sleep(0.05)
    go.touch()
    outputs = [r.communicate(timeout=120) for r in racers]
    assert [r.returncode for r in racers] == [0, 0, 0], [err for _, err in outputs]
    got = {out for out, _ in outputs}
    assert len(got) == 1, "each process issued keys of its own"
    creds = Credentials.from_dict(json.loads(got.pop()))
    # Nobody revoked them afterwards: the server takes them, and every process reads them.
    assert list(store.client_for(creds).list_objects("team-race")) == []
    again = open_store(server.kind, server.endpoint, server.admin, keys=TeamKeys(Database(db_url)),
                       **server.store_options)
    assert again.team_credentials("team-race", "team-race", may_delete=False) == creds


def test_database_holds_team_keys_but_never_the_admin_keys(server, store, keys, team_a):
    members = store.team_credentials("team-a", "team-a", may_delete=False)
    with keys.db.session() as session:
        rows = {r.identity: (r.access_key, r.secret_key, r.installed) for r in session.query(TeamKey)}
    assert rows[store.identity_name("team-a", True)] == (team_a.access_key, team_a.secret_key, True)
    assert rows[store.identity_name("team-a", False)] == (members.access_key, members.secret_key, True)
    dump = "\n".join(keys.db.engine.raw_connection().driver_connection.iterdump())
    assert team_a.secret_key in dump
    assert server.admin.access_key not in dump and server.admin.secret_key not in dump


def test_another_store_on_the_same_database_follows_a_rotation(server, store, keys):
    store.ensure_bucket("team-follow")
    other = open_store(server.kind, server.endpoint, server.admin, keys=TeamKeys(Database(keys.db.url)),
                       **server.store_options)
    first = other.team_credentials("team-follow", "team-follow")
    assert store.team_credentials("team-follow", "team-follow") == first
    rotated = store.rotate_team_credentials("team-follow", "team-follow")
    assert other.team_credentials("team-follow", "team-follow") == rotated != first


def test_keys_the_server_no_longer_holds_are_replaced(server, store, new_keys):
    store.ensure_bucket("team-lost")
    before = store.team_credentials("team-lost", "team-lost")
    # Another portal database (a restored backup, a second install) takes the identity over.
    stranger = open_store(server.kind, server.endpoint, server.admin, keys=new_keys(), **server.store_options)
    theirs = stranger.team_credentials("team-lost", "team-lost")
    after = store.team_credentials("team-lost", "team-lost")
    assert after not in (before, theirs)
    assert list(store.client_for(after).list_objects("team-lost")) == []


def test_an_abandoned_claim_is_taken_over(store, keys):
    store.ensure_bucket("team-crash")
    name = store.identity_name("team-crash", True)
    never_installed = Credentials.generate()
    assert keys.claim(name, None, never_installed)  # a process claimed new keys, then died
    with keys.db.transaction() as session:
        session.execute(update(TeamKey).where(TeamKey.identity == name)
                        .values(issued_at=utcnow() - timedelta(seconds=store.install_timeout + 1)))
    creds = store.team_credentials("team-crash", "team-crash")
    assert creds != never_installed
    assert list(store.client_for(creds).list_objects("team-crash")) == []
    assert keys.get(name).installed


def test_a_seaweedfs_identity_from_an_older_portal_is_replaced(make_server, new_keys):
    srv = make_server("seaweedfs")
    store = srv.open_store(new_keys())
    store.ensure_bucket("team-old")
    name, legacy = store.identity_name("team-old", True), Credentials.generate()
    # What portals before the key database made: legacy actions, Write covering deletes.
    store._shell([f"s3.configure -user={name} -actions=Read,Write,List,Tagging -buckets=team-old "
                  f"-access_key={legacy.access_key} -secret_key={legacy.secret_key} -apply"])
    assert store._wait(legacy, "team-old", accepted=True)
    creds = store.team_credentials("team-old", "team-old")
    assert creds != legacy
    with pytest.raises(S3Error):
        list(store.client_for(legacy).list_objects("team-old"))
    ident = store._identities()[name]
    assert (ident["actions"], ident["policyNames"]) == ([], [name])
    assert list(store.client_for(creds).list_objects("team-old")) == []
