"""Fixtures for the storage tests: real S3 servers on free ports in temporary folders.

- ``minio_binary`` (session): path of the MinIO server built by scripts/install-minio.sh;
  fails (does not skip) the tests that need it when it is missing.
- ``make_server`` (function): factory ``make_server(kind, data_dir=None)`` returning a
  started ``SeaweedServer`` or ``MinioServer`` on a free port, stopped after the test.
- ``server`` (session, parametrised "seaweedfs" / "minio"): one running server per kind.
- ``keys`` (session): a ``TeamKeys`` on a portal database (SQLite) of its own, one per ``server``.
- ``store`` (session): the ``StoreAdmin`` of ``server``, opened with ``open_store`` on ``keys``.
- ``buckets`` (session): two team buckets, ``team-a`` and ``team-b``, created in ``store``.
- ``team_a`` / ``team_b`` (session): the keys (that may delete) of teams ``team-a`` and ``team-b``.
- ``new_keys`` (function): factory of a ``TeamKeys`` on a fresh SQLite database.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.db import Database
from portal.storage import MinioServer, SeaweedServer, TeamKeys, free_port, open_store
from portal.storage.minio import find_minio
from portal.storage.server import StorageServerError

KINDS = ["seaweedfs", "minio"]


@pytest.fixture(scope="session")
def minio_binary() -> Path:
    try:
        return find_minio()
    except StorageServerError as e:
        pytest.fail(str(e), pytrace=False)


def _new_server(kind: str, data_dir: Path, minio_binary_factory):
    if kind == "seaweedfs":
        return SeaweedServer(data_dir, free_port())
    return MinioServer(data_dir, free_port(), binary=minio_binary_factory())


@pytest.fixture
def make_server(tmp_path_factory, request):
    started = []

    def make(kind: str, data_dir: Path | None = None):
        data_dir = data_dir or tmp_path_factory.mktemp(kind)
        srv = _new_server(kind, data_dir, lambda: request.getfixturevalue("minio_binary"))
        srv.start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session", params=KINDS)
def server(request, tmp_path_factory):
    kind = request.param
    srv = _new_server(kind, tmp_path_factory.mktemp(f"{kind}-session"),
                      lambda: request.getfixturevalue("minio_binary"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def keys(server, tmp_path_factory):
    return TeamKeys(Database(f"sqlite:///{tmp_path_factory.mktemp('db')}/portal.sqlite"))


@pytest.fixture
def new_keys(tmp_path):
    made = []

    def make() -> TeamKeys:
        made.append(TeamKeys(Database(f"sqlite:///{tmp_path}/portal{len(made)}.sqlite")))
        return made[-1]

    yield make
    for k in made:
        k.db.engine.dispose()


@pytest.fixture(scope="session")
def store(server, keys):
    return open_store(server.kind, server.endpoint, server.admin, keys=keys, **server.store_options)


@pytest.fixture(scope="session")
def buckets(store):
    for name in ("team-a", "team-b"):
        store.ensure_bucket(name)
    return "team-a", "team-b"


@pytest.fixture(scope="session")
def team_a(store, buckets):
    return store.team_credentials("team-a", "team-a")


@pytest.fixture(scope="session")
def team_b(store, buckets):
    return store.team_credentials("team-b", "team-b")
