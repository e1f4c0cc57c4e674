"""The production database path: hub and portal state in a real PostgreSQL (the MinIO site)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, select, text

from portal.config import sqlalchemy_url
from portal.db import AuditEvent
from tests.datasets import flow


@pytest.fixture(scope="module")
def site(minio_portal):
    return minio_portal


def test_hub_and_portal_state_live_in_postgresql(site):
    config = site.portal.config
    assert config.hub_db_url.startswith("postgresql+psycopg://") and config.database_url.startswith("postgresql+psycopg://")
    bob = site.api("bob")
    key = f"pg-{uuid.uuid4().hex[:8]}/ünïcode ✓.txt"
    flow.upload(bob, key, b"stored")
    portal_db = create_engine(config.database_url)
    with portal_db.connect() as c:
        rows = c.execute(select(AuditEvent.user, AuditEvent.action, AuditEvent.detail).where(AuditEvent.key == key))
        assert [tuple(r) for r in rows] == [("bob", "upload", {"size": 6})]
    with create_engine(config.hub_db_url).connect() as c:
        groups = set(c.execute(text("SELECT name FROM groups")).scalars())
    assert {"team-a", "team-b"} <= groups
    portal_db.dispose()


def test_the_database_password_is_in_no_log(site, postgres):
    logs = site.portal.data.root / "logs"
    for log in logs.glob("*.log"):
        assert postgres.password not in log.read_text(errors="replace"), log.name


def test_plain_postgresql_urls_use_psycopg_3():
    assert sqlalchemy_url("postgresql://u:p@db/x") == "postgresql+psycopg://u:p@db/x"
    assert sqlalchemy_url("postgres://u@db/x") == "postgresql+psycopg://u@db/x"
    assert sqlalchemy_url("postgresql+psycopg2://u@db/x") == "postgresql+psycopg2://u@db/x"
    assert sqlalchemy_url("sqlite:///x.db") == "sqlite:///x.db" and sqlalchemy_url(None) is None
