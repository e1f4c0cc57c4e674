"""Fixtures for the dataset tests: one real portal per storage server, both kinds.

- ``seaweedfs_portal`` / ``minio_portal`` (session): a single-machine portal (hub, proxy,
  portal service) on SeaweedFS with SQLite, or on MinIO with PostgreSQL, with the teams
  of ``DATASETS_CONFIG`` and usage recounted every second.
- ``ds`` (session, parametrised "seaweedfs" / "minio"): a ``Site`` for one of them.
- ``Site``: ``api(user)`` → a requests.Session for the team-a/team-b dataset API (every
  request with a timeout), ``admin_s3`` → the admin minio client (tests use it to set up
  and check the bucket from outside the portal), ``db`` → the portal's own database (to
  date an upload back instead of waiting an hour), ``kind``, ``portal``.
- ``unique(name)``, ``put(ds, key, data)``, ``open_uploads(ds, key)``: a key no other test
  uses, an object written from outside the portal, the multipart uploads S3 holds.
"""

from __future__ import annotations

import copy
import io
import os
import uuid

import pytest
import requests

from portal.db import Database
from portal.launcher import Portal
from portal.storage import store_from_config
from portal.tokens import new_token
from tests.conftest import ARTIFACTS, TEST_CONFIG, free_port, write_config
from tests.http import TimedSession

KINDS = ["seaweedfs", "minio"]
QUOTA = 10 * 2**30

DATASETS_CONFIG = copy.deepcopy(TEST_CONFIG)
DATASETS_CONFIG["teams"] = [
    {"name": "team-a", "display_name": "Team A", "admins": ["alice"], "members": ["bob", "erin", "frank"],
     "quota": {"storage": QUOTA}, "profiles": ["cpu"]},
    {"name": "team-b", "display_name": "Team B", "admins": ["dan"], "members": ["carol"],
     "profiles": ["cpu"], "delete_policy": "admins"},
]


def unique(name: str) -> str:
    return f"t-{uuid.uuid4().hex[:8]}/{name}"


def put(ds, key: str, data: bytes, bucket: str = "team-a") -> None:
    ds.admin_s3.put_object(bucket, key, io.BytesIO(data), len(data))


def open_uploads(ds, key: str, bucket: str = "team-a") -> list:
    """Multipart uploads S3 holds for ``key`` (MinIO lists them by exact key only)."""
    return ds.admin_s3._list_multipart_uploads(bucket, prefix=key).uploads


class Site:
    def __init__(self, kind: str, portal: Portal):
        self.kind = kind
        self.portal = portal
        self.store = store_from_config(portal.config, portal.data.root)
        self.admin_s3 = self.store.client()
        self.db = Database(portal.data.portal_db_url(portal.config.database_url))
        self._tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = new_token(self.portal.data.root, user, str(self.portal.config_path))
        return self._tokens[user]

    def api(self, user: str, team: str = "team-a") -> requests.Session:
        s = TimedSession()
        s.headers["Authorization"] = f"token {self.token(user)}"
        s.base = f"{self.portal.url}services/portal/api/v1/teams/{team}"
        return s


def _start(kind: str, tmp_path_factory, **config):
    data_dir = tmp_path_factory.mktemp(f"datasets-{kind}")
    path = write_config(data_dir / "portal.yaml", {**DATASETS_CONFIG, **config}, type=kind, usage_interval=1)
    portal = Portal(data_dir, str(path), port=free_port(), quiet=True).start()
    return portal, data_dir


def _stop(portal, data_dir, kind):
    portal.stop()
    log = data_dir / "logs" / "jupyterhub.log"
    if log.exists() and os.environ.get("CI"):
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"datasets-{kind}-jupyterhub.log").write_bytes(log.read_bytes())


@pytest.fixture(scope="session")
def seaweedfs_portal(tmp_path_factory):
    portal, data_dir = _start("seaweedfs", tmp_path_factory)
    yield Site("seaweedfs", portal)
    _stop(portal, data_dir, "seaweedfs")


@pytest.fixture(scope="session")
def minio_portal(tmp_path_factory, postgres):
    """MinIO with PostgreSQL for the hub and the portal: the production pairing."""
    portal, data_dir = _start("minio", tmp_path_factory,
                              hub=dict(DATASETS_CONFIG["hub"], db_url=postgres.create_database("hub")),
                              database={"url": postgres.create_database("portal")})
    yield Site("minio", portal)
    _stop(portal, data_dir, "minio")


@pytest.fixture(scope="session", params=KINDS)
def ds(request) -> Site:
    return request.getfixturevalue(f"{request.param}_portal")
