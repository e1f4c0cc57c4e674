"""Team keys in the portal database: the one record every process of the portal reads.

The hub hands team keys to notebooks, the service signs with them, and `aiportal storage
rotate-keys` replaces them; MinIO never returns a secret, so the keys cannot be read back
from the server. One row per server identity holds them. New keys are claimed by a
compare-and-swap on that row (an insert where there is none, an update of the keys read
before): when two processes want new keys at once, the database lets exactly one win; it
installs them on the server, and the other re-reads the row instead of revoking them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from ..db import Database, TeamKey, utcnow
from .credentials import Credentials


@dataclass(frozen=True)
class HeldKeys:
    """An identity's keys as recorded; ``installed`` is false while a process installs them."""

    credentials: Credentials
    issued_at: datetime
    installed: bool

    def age(self) -> float:
        return (utcnow() - self.issued_at).total_seconds()


class TeamKeys:
    """The ``team_keys`` table of the portal database."""

    def __init__(self, db: Database):
        self.db = db

    def get(self, identity: str) -> HeldKeys | None:
        with self.db.session() as session:
            row = session.get(TeamKey, identity)
            if row is None:
                return None
            return HeldKeys(Credentials(row.access_key, row.secret_key), row.issued_at, row.installed)

    def claim(self, identity: str, held: HeldKeys | None, new: Credentials) -> bool:
        """Record ``new`` (not installed yet) in place of ``held``; False if another process
        changed the row since ``held`` was read."""
        values = {"access_key": new.access_key, "secret_key": new.secret_key,
                  "issued_at": utcnow(), "installed": False}
        try:
            with self.db.transaction() as session:
                if held is None:
                    session.add(TeamKey(identity=identity, **values))
                    return True
                return session.execute(
                    update(TeamKey).where(TeamKey.identity == identity,
                                          TeamKey.access_key == held.credentials.access_key)
                    .values(**values)).rowcount == 1
        except IntegrityError:  # inserted by another process first
            return False

    def installed(self, identity: str, creds: Credentials) -> None:
        """The server accepts ``creds``, unless the row was claimed again meanwhile."""
        with self.db.transaction() as session:
            session.execute(update(TeamKey).where(TeamKey.identity == identity,
                                                  TeamKey.access_key == creds.access_key)
                            .values(installed=True))

    def forget(self, identity: str, creds: Credentials) -> None:
        """Drop a claim whose installation failed, so the next caller claims at once."""
        with self.db.transaction() as session:
            session.execute(delete(TeamKey).where(TeamKey.identity == identity,
                                                  TeamKey.access_key == creds.access_key))
