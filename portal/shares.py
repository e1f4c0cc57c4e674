"""Share links: a team's object that anyone holding a short portal link may download until it
expires or is revoked.

A share is a row of the portal database (``db.Share``), not a presigned URL: the link given
out is ``<portal>/services/portal/s/<token>``, and each visit signs a fresh presigned GET
(``LINK_TTL``) for ``storage.public_endpoint``, so revoking works at once and the link does
not carry the S3 host, keys or a 400-character query. The token is 128 random bits; an
unknown token answers like any other (``ShareGone`` 404). Calls block: handlers run them
in threads.
"""

from __future__ import annotations

import math
import secrets
from datetime import timedelta

from minio.error import S3Error
from sqlalchemy import func, select

from .audit import AuditLog
from .datasets import MAX_SHARE_SECONDS, DatasetError, Place, check_key, content_disposition, find, whole
from .db import Database, Share, iso, utcnow
from .names import bucket_name
from .storage.team_access import TeamAccess

LINK_TTL = timedelta(minutes=5)  # the presigned URL a visit is redirected to: long enough to start a download
TOKEN_BYTES = 16  # 128 bits: not guessable, whatever the rate of trying
STATES = ("active", "all")


class ShareGone(Exception):
    """A share link that leads nowhere: ``status`` 404 (unknown) or 410 (expired, revoked, file gone)."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def state(share: Share, now) -> str:
    if share.revoked_at is not None:
        return "revoked"
    return "expired" if share.expires_at <= now else "active"


def as_json(share: Share, now=None) -> dict:
    return {"id": share.id, "key": share.key, "created_by": share.created_by,
            "created_at": iso(share.created_at), "expires_at": iso(share.expires_at),
            "revoked_at": iso(share.revoked_at) if share.revoked_at else None,
            "revoked_by": share.revoked_by, "state": state(share, now or utcnow())}


class Shares:
    """Create, list and revoke a team's share links, and resolve a link to a fresh S3 URL."""

    def __init__(self, db: Database, access: TeamAccess, audit: AuditLog):
        self.db = db
        self.access = access
        self.audit = audit

    def create(self, place: Place, key, expires_in) -> dict:
        """A new share of ``key`` (which must exist) for ``expires_in`` seconds (1 s to 7 days)."""
        check_key(key)
        expires_in = whole(expires_in)
        if expires_in is None or not 1 <= expires_in <= MAX_SHARE_SECONDS:
            raise DatasetError(400, f"expires_in: must be whole seconds from 1 to {MAX_SHARE_SECONDS} (7 days)")
        if find(self.access, place, key) is None:
            raise DatasetError(404, f"no object {key!r}")
        now = utcnow()
        share = Share(id=secrets.token_urlsafe(TOKEN_BYTES), team=place.team, key=key, created_by=place.user,
                      created_at=now, expires_at=now + timedelta(seconds=expires_in))
        with self.db.transaction() as s:
            s.add(share)
        self.audit.record(place.user, place.team, "share", key, expires_at=iso(share.expires_at))
        return as_json(share, now)

    def page(self, team: str, which: str = "active", offset: int = 0, limit: int = 100) -> tuple[list[dict], int]:
        """The team's shares, newest first: active ones, or ``all`` (expired and revoked too)."""
        if which not in STATES:
            raise DatasetError(400, f"state: must be one of {', '.join(STATES)}")
        now = utcnow()
        where = [Share.team == team]
        if which == "active":
            where += [Share.revoked_at.is_(None), Share.expires_at > now]
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(Share).where(*where))
            rows = s.scalars(select(Share).where(*where).order_by(Share.created_at.desc(), Share.id)
                             .offset(offset).limit(limit))
            return [as_json(r, now) for r in rows], total

    def revoke(self, place: Place, share_id: str, manages_team: bool) -> dict:
        """Revoke at once. The creator, team admins and operators may; other members get 403.
        Revoking a revoked share changes nothing."""
        with self.db.transaction() as s:
            share = s.get(Share, share_id) if isinstance(share_id, str) else None
            if share is None or share.team != place.team:
                raise DatasetError(404, "no such share link")
            if share.created_by != place.user and not manages_team:
                raise DatasetError(403, f"only {share.created_by!r}, who made this link, and the admins of team "
                                        f"{place.team!r} may revoke it")
            if share.revoked_at is not None:
                return as_json(share)
            share.revoked_at, share.revoked_by = utcnow().replace(microsecond=0), place.user
        self.audit.record(place.user, place.team, "revoke", share.key, created_by=share.created_by,
                          expires_at=iso(share.expires_at))
        return as_json(share)

    def resolve(self, token: str) -> str:
        """A freshly signed GET for the shared object, valid ``LINK_TTL`` (or until the share
        expires, if sooner); ``ShareGone`` if the link leads nowhere."""
        with self.db.session() as s:
            share = s.get(Share, token) if 0 < len(token) <= 64 else None
        if share is None:
            raise ShareGone(404, "Unknown link", "This share link does not exist. Check that it was copied whole.")
        now = utcnow()
        if share.revoked_at is not None:
            raise ShareGone(410, "Link revoked", f"This share link was revoked on {iso(share.revoked_at)}. "
                                                 "Ask the person who sent it for a new one.")
        if share.expires_at <= now:
            raise ShareGone(410, "Link expired", f"This share link expired on {iso(share.expires_at)}. "
                                                 "Ask the person who sent it for a new one.")
        place = Place(share.team, bucket_name(share.team), share.created_by)
        try:
            found = find(self.access, place, share.key)
        except S3Error as e:
            if e.code != "NoSuchBucket":
                raise
            found = None
        if found is None:
            raise ShareGone(410, "File gone", "The shared file no longer exists: it was deleted.")
        left = math.ceil((share.expires_at - now).total_seconds())
        ttl = min(LINK_TTL, timedelta(seconds=max(left, 1)))
        return self.access.sign(place.team, place.bucket, "GET", share.key, ttl,
                                response_headers={"response-content-disposition": content_disposition(share.key)})
