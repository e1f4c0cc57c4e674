"""The portal database's migrations, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from portal import migrations
from portal.audit import AuditLog
from portal.config import sqlalchemy_url
from portal.db import AuditEvent, Base, Database, Upload


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/portal.sqlite"
    return sqlalchemy_url(request.getfixturevalue("postgres").create_database(f"m{uuid.uuid4().hex[:8]}"))


def version(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as c:
        found = c.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    return found


def test_head_constant_names_alembic_head():
    config = Config()
    config.set_main_option("script_location", str(migrations.SCRIPTS))
    assert ScriptDirectory.from_config(config).get_current_head() == migrations.HEAD


def test_migrations_build_exactly_the_models(url):
    """Upgrading an empty database through every revision gives the models' schema."""
    from alembic import command

    config = Config()
    config.set_main_option("script_location", str(migrations.SCRIPTS))
    engine = create_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_a_new_database_is_created_at_head_and_reopened(url):
    db = Database(url)
    AuditLog(db).record("bob", "team-a", "upload", "x.bin", size=2**40)
    db.engine.dispose()
    assert version(url) == migrations.HEAD
    again = Database(url)  # the start after: nothing to do, nothing lost
    assert [e["detail"] for e in AuditLog(again).page("team-a")[0]] == [{"size": 2**40}]
    again.engine.dispose()


def test_a_database_from_before_migrations_is_adopted(url):
    engine = create_engine(url)
    Base.metadata.create_all(engine, tables=[AuditEvent.__table__, Upload.__table__])  # what portal 0.1 did
    with engine.begin() as c:
        c.execute(AuditEvent.__table__.insert().values(at=datetime(2026, 11, 1), user="bob", team="team-a",
                                                       action="delete", key="old.txt", detail={}))
    engine.dispose()
    db = Database(url)
    assert version(url) == migrations.HEAD
    assert [e["key"] for e in AuditLog(db).page("team-a")[0]] == ["old.txt"]
    assert "alembic_version" in inspect(db.engine).get_table_names()
    db.engine.dispose()
