"""The audit log: every upload, delete, new folder, share link (made or revoked) and upload
aborted for another member, with who and when.

Kept in the portal database (not in log files) so team admins can read it through the
API and it survives log rotation.
"""

from __future__ import annotations

from sqlalchemy import func, select

from .db import AuditEvent, Database, iso, utcnow

ACTIONS = ("upload", "delete", "folder", "share", "revoke", "abort")


class AuditLog:
    def __init__(self, db: Database):
        self.db = db

    def record(self, user: str, team: str, action: str, key: str, **detail) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        with self.db.transaction() as s:
            s.add(AuditEvent(at=utcnow(), user=user, team=team, action=action, key=key, detail=detail))

    def page(self, team: str, offset: int = 0, limit: int = 100) -> tuple[list[dict], int]:
        """One page of the team's events, newest first, and how many there are in all."""
        where = AuditEvent.team == team
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(AuditEvent).where(where))
            rows = s.scalars(select(AuditEvent).where(where).order_by(AuditEvent.id.desc())
                             .offset(offset).limit(limit))
            return [{"at": iso(e.at), "user": e.user, "action": e.action, "key": e.key,
                     "detail": e.detail} for e in rows], total
