"""The portal's own database: state that is not the hub's (audit log, uploads in progress,
team S3 keys, share links, promotions, failed spawns, batch jobs, users' SSH keys).

SQLAlchemy, so one code path serves SQLite (``portal.sqlite`` in the data directory, the
single-machine default) and PostgreSQL (``database.url`` in portal.yaml). The schema is
kept by Alembic migrations (portal/migrations); times are stored as naive UTC because SQLite
keeps no time zone.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from . import migrations


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def iso(moment: datetime) -> str:
    """A stored (naive UTC) time as ISO 8601 with its zone, as the API returns times."""
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


class Base(DeclarativeBase):
    pass


class AuditEvent(Base):
    """Who did what to which object of a team's bucket, and when."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    user: Mapped[str] = mapped_column(String(255))
    team: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(1024))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class Upload(Base):
    """A multipart upload that a user started and has neither completed nor aborted.

    Its size counts against the team's quota until then, so parallel uploads cannot
    together overrun it.
    """

    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team: Mapped[str] = mapped_column(String(64), index=True)
    bucket: Mapped[str] = mapped_column(String(63))
    key: Mapped[str] = mapped_column(String(1024))
    user: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    part_size: Mapped[int] = mapped_column(BigInteger)
    s3_upload_id: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class TeamKey(Base):
    """The S3 keys of one team identity on the storage server (see portal/storage/keys.py).

    The hub (keys for notebooks) and the service (its own requests) both read them here, so
    neither replaces the other's; never the admin keys. ``installed`` is false from the moment
    a process claims the row for new keys until the server accepts them.
    """

    __tablename__ = "team_keys"
    identity: Mapped[str] = mapped_column(String(128), primary_key=True)
    access_key: Mapped[str] = mapped_column(String(128))
    secret_key: Mapped[str] = mapped_column(String(128))
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    installed: Mapped[bool] = mapped_column(Boolean)


class Share(Base):
    """A share link: a key of a team's bucket that anyone holding ``id`` may download
    until ``expires_at``, unless revoked. ``id`` is the unguessable token in the link."""

    __tablename__ = "shares"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(1024))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Promotion(Base):
    """A commit of a team's GitLab project promoted to version ``version``: who, when, the
    pipeline that builds it, where it stands, and the image digest it produced.

    One per (project, version): a second submission of the same promotion finds this one.
    ``status``: pending (the tag is not made yet), running (its pipeline is), success,
    failed (the pipeline failed) or error (GitLab refused, or no pipeline came).
    """

    __tablename__ = "promotions"
    __table_args__ = (UniqueConstraint("project_id", "version", name="uq_promotions_project_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[int] = mapped_column(Integer)
    project_path: Mapped[str] = mapped_column(String(255))
    commit_sha: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    release_notes: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    base_image: Mapped[str | None] = mapped_column(String(600), nullable=True)
    pipeline_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pipeline_url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    pipeline: Mapped[dict] = mapped_column(JSON, default=dict)
    log_tail: Mapped[str] = mapped_column(Text, default="")
    image: Mapped[str | None] = mapped_column(String(600), nullable=True)
    digest: Mapped[str | None] = mapped_column(String(100), nullable=True)
    checks: Mapped[dict] = mapped_column(JSON, default=dict)


class SpawnFailure(Base):
    """A server that failed to start, written by the hub's spawner so the portal can count
    failures per team and reason (quota, image, timeout or error) for its metrics."""

    __tablename__ = "spawn_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    team: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(16))


class Job(Base):
    """A batch job (portal/jobs): what was asked (`spec`, the validated description), where
    it runs (`backend`, `backend_id`: a container or a Slurm job id), and how it went."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(String(64), index=True)
    user: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(100), default="")
    spec: Mapped[dict] = mapped_column(JSON)
    image: Mapped[str] = mapped_column(String(1024))
    dev: Mapped[bool] = mapped_column(Boolean, default=False)
    backend: Mapped[str] = mapped_column(String(16))
    backend_id: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(16), index=True)  # jobs.states.STATES
    reason: Mapped[str] = mapped_column(String(32), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class SSHKey(Base):
    """A user's public key for the SSH endpoint (portal/ssh), registered on a portal page."""

    __tablename__ = "ssh_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(255), index=True)
    fingerprint: Mapped[str] = mapped_column(String(128), unique=True)  # SHA256:…, one owner per key
    key: Mapped[str] = mapped_column(Text)  # the OpenSSH public key line, as given
    comment: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)


def _migrate(connection) -> None:
    """Bring the schema to migrations.HEAD (see portal/migrations), importing Alembic only if needed."""
    found = inspect(connection)
    version = (connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
               if found.has_table("alembic_version") else None)
    if version == migrations.HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations.SCRIPTS))
    config.attributes["connection"] = connection
    if version is None and not found.has_table(AuditEvent.__tablename__):
        Base.metadata.create_all(connection)
        command.stamp(config, "head")
        return
    if version is None:  # tables made by create_all before migrations existed
        command.stamp(config, "0001")
    command.upgrade(config, "head")


class DatabaseUnavailable(RuntimeError):
    """The configured database cannot be used (one line, password hidden)."""


class Database:
    """An engine on ``url`` with the portal's tables, and short transactions on it."""

    def __init__(self, url: str):
        self.url = url
        self.engine = create_engine(url, pool_pre_ping=True)
        try:
            with self.engine.begin() as connection:
                _migrate(connection)
        except SQLAlchemyError as e:
            shown = self.engine.url.render_as_string(hide_password=True)
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            raise DatabaseUnavailable(f"database.url: cannot use {shown}: {reason}") from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self):
        """A session committed on success and rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def session(self) -> Session:
        return self._sessions()
