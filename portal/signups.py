"""Sign-ups waiting for, or given, an operator's approval (native authentication).

nativeauthenticator keeps sign-ups in the hub database (table ``users_info``); a hub user
exists only from the first login. The portal reads that table, never writes it, so that
an approved sign-up can be added to a team at once and operators see who is waiting.
With GitLab authentication there is no such table: every name is unknown here.
"""

from __future__ import annotations

import asyncio

from nativeauthenticator.orm import UserInfo
from sqlalchemy import create_engine, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

APPROVED, PENDING = "approved", "pending"


class Signups:
    """Read-only view of nativeauthenticator's sign-ups in the hub database at ``url``."""

    def __init__(self, url: str):
        self.engine = create_engine(url, pool_pre_ping=True)

    def _rows(self, *where) -> list[tuple[str, bool]]:
        try:
            with Session(self.engine) as db:
                query = select(UserInfo.username, UserInfo.is_authorized).where(*where)
                return [(name, bool(ok)) for name, ok in db.execute(query.order_by(UserInfo.username))]
        except (OperationalError, ProgrammingError):  # no users_info table: not native auth
            return []

    def status_sync(self, name: str) -> str | None:
        rows = self._rows(UserInfo.username == name)
        if not rows:
            return None
        return APPROVED if rows[0][1] else PENDING

    def pending_sync(self) -> list[str]:
        return [name for name, ok in self._rows(UserInfo.is_authorized.is_not(True))]

    async def status(self, name: str) -> str | None:
        """APPROVED, PENDING, or None where ``name`` never signed up."""
        return await asyncio.to_thread(self.status_sync, name)

    async def pending(self) -> list[str]:
        """Names of the sign-ups not approved yet, sorted."""
        return await asyncio.to_thread(self.pending_sync)
