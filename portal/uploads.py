"""Multipart uploads from the browser: the portal plans and signs, S3 receives the parts.

``start`` checks the key, the team's delete_policy (an upload must not replace what its
sender may not delete) and the storage quota before any byte moves, opens an S3
multipart upload and returns one presigned PUT URL per part; the browser sends the
parts itself, several at a time, and may send a failed part again. ``complete`` asks S3
which parts arrived and refuses to assemble an object that differs from the size that
was checked against the quota. ``abort`` (or expiry, from the background task) drops
the parts.

An unfinished upload holds its size against the team's quota, so it must not be able to
block the team: one member may hold only so much (``MEMBER_OPEN_UPLOADS``,
``MEMBER_QUOTA_SHARE``), and an upload that receives no part for ``IDLE_TTL`` is aborted
long before its part URLs expire (``UPLOAD_TTL``). Activity is read from S3 (the newest
part's LastModified in ListParts), so nothing is written on the browser's path.

The minio SDK has no public multipart API: its own internal calls are used
(``_create_multipart_upload``, ``_list_parts``, ``_complete_multipart_upload``,
``_abort_multipart_upload``), and parts are signed with ``get_presigned_url("PUT", …,
extra_query_params={"uploadId", "partNumber"})``; both work on SeaweedFS and MinIO.
"""

from __future__ import annotations

import math
import mimetypes
import threading
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from minio.error import S3Error
from sqlalchemy import delete, func, select

from .audit import AuditLog
from .datasets import DatasetError, Place, check_key, check_replace, whole
from .db import Database, Upload, iso, utcnow
from .storage.team_access import TeamAccess
from .usage import UsageCache

MiB = 2**20
MIN_PART = 8 * MiB  # S3 wants >= 5 MiB for every part but the last
MAX_PARTS = 10_000  # S3's limit
MAX_OBJECT = 5 * 2**40  # S3's largest object
UPLOAD_TTL = timedelta(hours=24)  # part URLs live this long; then the upload is aborted
IDLE_TTL = timedelta(hours=1)  # an upload with no new part for this long is aborted
MEMBER_OPEN_UPLOADS = 100  # unfinished uploads one member may have in a team (the page starts a few at a time)
MEMBER_QUOTA_SHARE = 0.5  # of the team's storage quota, what one member's unfinished uploads may hold


def part_size_for(size: int) -> int:
    """The smallest whole number of MiB (at least 8) that fits ``size`` in 10,000 parts."""
    return max(MIN_PART, math.ceil(size / MAX_PARTS / MiB) * MiB)


def part_count(size: int, part_size: int) -> int:
    return max(1, math.ceil(size / part_size))


def human(nbytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(nbytes) < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def check_etags(parts) -> dict[int, str]:
    """``[{"number", "etag"}, …]`` from a complete request (None: none given)."""
    if parts is None:
        return {}
    if not isinstance(parts, list) or not all(
            isinstance(p, dict) and isinstance(p.get("number"), int) and not isinstance(p.get("number"), bool)
            and isinstance(p.get("etag"), str) for p in parts):
        raise DatasetError(400, 'parts: must be a list of {"number": integer, "etag": string}')
    return {p["number"]: p["etag"] for p in parts}


class Uploads:
    def __init__(self, access: TeamAccess, db: Database, usage: UsageCache, audit: AuditLog):
        self.access = access
        self.db = db
        self.usage = usage
        self.audit = audit
        self._quota_lock = threading.Lock()  # check-and-reserve is one step

    def _reserved(self, session, team: str) -> int:
        return session.scalar(select(func.coalesce(func.sum(Upload.size), 0)).where(Upload.team == team))

    @staticmethod
    def _check_member(session, place: Place, quota: int | None, key: str, size: int) -> None:
        """What one member may hold in unfinished uploads, so that theirs cannot block the team.

        One upload may be as large as the team's quota allows; beside others, a member's
        uploads together hold at most ``MEMBER_QUOTA_SHARE`` of it.
        """
        count, held = session.execute(select(func.count(), func.coalesce(func.sum(Upload.size), 0)).where(
            Upload.team == place.team, Upload.user == place.user)).one()
        free = (f"complete or abort them (GET /teams/{place.team}/uploads lists them), or wait: an upload "
                f"that receives no part for {IDLE_TTL.total_seconds() / 3600:g} h is aborted")
        if count >= MEMBER_OPEN_UPLOADS:
            raise DatasetError(409, f"{place.user} has {count} unfinished uploads in team {place.team!r}, "
                                    f"the most one member may have: {free}")
        limit = int(quota * MEMBER_QUOTA_SHARE) if quota is not None else None
        if count and limit is not None and held + size > limit:
            raise DatasetError(413, f"{key!r} ({human(size)}): {place.user} holds {human(held)} in {count} "
                                    f"unfinished upload(s) in team {place.team!r}, and one member's uploads may "
                                    f"together hold at most {human(limit)} ({MEMBER_QUOTA_SHARE:.0%} of its "
                                    f"storage quota): {free}")

    def _check_quota(self, session, place: Place, quota: int | None, key: str, size: int) -> None:
        if quota is None:
            return
        usage = self.usage.get(place.team)
        if usage is None:
            raise DatasetError(503, f"the storage used by team {place.team!r} is still being counted; "
                                    "try again in a few seconds")
        reserved = self._reserved(session, place.team)
        if usage.bytes + reserved + size > quota:
            pending = f", {human(reserved)} held by uploads in progress" if reserved else ""
            raise DatasetError(413, f"{key!r} ({human(size)}) would exceed the storage quota of team "
                                    f"{place.team!r}: {human(usage.bytes)} of {human(quota)} used{pending}")

    def start(self, place: Place, quota: int | None, key, size) -> dict:
        check_key(key)
        size = whole(size)
        if size is None or not 0 <= size <= MAX_OBJECT:
            raise DatasetError(400, f"size: must be a whole number of bytes from 0 to {MAX_OBJECT} (5 TiB)")
        check_replace(self.access, place, key)
        part_size = part_size_for(size)
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        with self._quota_lock, self.db.transaction() as s:
            self._check_member(s, place, quota, key, size)
            self._check_quota(s, place, quota, key, size)
            s3_id = self.access.run(place.team, place.bucket, lambda c: c._create_multipart_upload(
                place.bucket, key, {"Content-Type": content_type}))
            now = utcnow()
            upload = Upload(id=uuid.uuid4().hex, team=place.team, bucket=place.bucket, key=key,
                            user=place.user, size=size, part_size=part_size, s3_upload_id=s3_id,
                            created_at=now, expires_at=now + UPLOAD_TTL)
            s.add(upload)
        parts = [{"number": n, "url": self.access.sign(
            place.team, place.bucket, "PUT", key, UPLOAD_TTL,
            extra_query_params={"uploadId": s3_id, "partNumber": str(n)})}
            for n in range(1, part_count(size, part_size) + 1)]
        return {"id": upload.id, "key": key, "size": size, "part_size": part_size, "parts": parts,
                "expires_at": iso(upload.expires_at), "idle_expires_at": iso(now + IDLE_TTL)}

    def _find(self, place: Place, upload_id: str, of_team: bool = False) -> Upload:
        """The caller's upload (with ``of_team``: any member's), or 404."""
        with self.db.session() as s:
            upload = s.get(Upload, upload_id)
        if upload is None or upload.team != place.team or not (of_team or upload.user == place.user):
            raise DatasetError(404, f"no upload {upload_id!r} of yours in team {place.team!r}")
        return upload

    def _forget(self, upload: Upload) -> None:
        with self.db.transaction() as s:
            s.execute(delete(Upload).where(Upload.id == upload.id))

    def _parts(self, upload: Upload) -> list:
        """Every part S3 holds for the upload (ListParts pages hold at most 1000)."""
        parts, marker = [], None
        while True:
            page = self.access.run(upload.team, upload.bucket, lambda c, after=marker: c._list_parts(
                upload.bucket, upload.key, upload.s3_upload_id, max_parts=1000, part_number_marker=after))
            parts += page.parts
            if not page.is_truncated:
                return parts
            marker = page.next_part_number_marker

    def _last_activity(self, upload: Upload) -> datetime:
        """When the upload was started or, if later, received its newest part (as S3 dated it).
        One S3 has dropped counts as never active since its start."""
        try:
            parts = self._parts(upload)
        except S3Error as e:
            if e.code != "NoSuchUpload":
                raise
            parts = []
        times = [p.last_modified.astimezone(UTC).replace(tzinfo=None) for p in parts if p.last_modified]
        return max([upload.created_at, *times])

    def page(self, place: Place, everyone: bool, offset: int, limit: int) -> tuple[list[dict], int]:
        """One page of the team's unfinished uploads, newest first: the caller's own, or with
        ``everyone`` (team admins, operators) every member's; and how many there are."""
        where = [Upload.team == place.team] + ([] if everyone else [Upload.user == place.user])
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(Upload).where(*where))
            uploads = list(s.scalars(select(Upload).where(*where).order_by(Upload.created_at.desc(), Upload.id)
                                     .offset(offset).limit(limit)))
        items = []
        for upload in uploads:
            active = self._last_activity(upload)
            items.append({"id": upload.id, "key": upload.key, "user": upload.user, "size": upload.size,
                          "created_at": iso(upload.created_at), "last_activity_at": iso(active),
                          "expires_at": iso(upload.expires_at),
                          "idle_expires_at": iso(min(upload.expires_at, active + IDLE_TTL))})
        return items, total

    @staticmethod
    def _choose(upload: Upload, listed: list, etags: dict[int, str]) -> list:
        """The part to assemble for each number, or a 400 saying what to send again.

        A part sent twice is listed twice by SeaweedFS, so the part with the ETag the
        client got back (``etags``, optional) or else the one of the planned size is used.
        """
        count = part_count(upload.size, upload.part_size)
        by_number: dict[int, list] = {}
        for part in listed:
            by_number.setdefault(part.part_number, []).append(part)
        missing = [n for n in range(1, count + 1) if n not in by_number]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
            raise DatasetError(400, f"upload incomplete: part(s) {shown} of {count} not received; "
                                    "send them and complete again")
        chosen = []
        for n in range(1, count + 1):
            expected = upload.part_size if n < count else upload.size - upload.part_size * (count - 1)
            candidates = by_number[n]
            if n in etags:
                candidates = [p for p in candidates if p.etag.strip('"') == etags[n].strip('"')]
                if not candidates:
                    raise DatasetError(400, f"part {n}: no part with ETag {etags[n]!r} was received")
            right = {p.etag: p for p in candidates if p.size == expected}
            if not right:
                raise DatasetError(400, f"part {n} has {candidates[0].size} bytes, {expected} expected; "
                                        "send it again and complete again")
            if len(right) > 1:
                raise DatasetError(400, f"part {n} was received more than once with different content: "
                                        "complete with the ETag of each part")
            chosen.append(next(iter(right.values())))
        return chosen

    @contextmanager
    def _still_open(self, upload: Upload):
        """S3 calls on an upload that S3 may have dropped (aborted, completed by a
        concurrent request): then the record goes too and the answer is 404."""
        try:
            yield
        except S3Error as e:
            if e.code != "NoSuchUpload":
                raise
            self._forget(upload)
            raise DatasetError(404, f"upload {upload.id!r} no longer exists in storage") from None

    def complete(self, place: Place, upload_id: str, etags=None) -> dict:
        """Assemble the object; ``etags`` (part number → ETag of its PUT) is optional.

        The delete_policy is checked again: the object may have appeared since the start.
        """
        etags = check_etags(etags)
        upload = self._find(place, upload_id)
        previous = check_replace(self.access, place, upload.key)
        with self._still_open(upload):
            parts = self._choose(upload, self._parts(upload), etags)
        with self._still_open(upload):
            self.access.run(place.team, place.bucket, lambda c: c._complete_multipart_upload(
                upload.bucket, upload.key, upload.s3_upload_id, parts))
        self._forget(upload)
        replaced = (previous.size or 0) if previous else 0
        self.usage.add(place.team, upload.key, 0 if previous else 1, upload.size - replaced)
        self.audit.record(place.user, place.team, "upload", upload.key, size=upload.size)
        return {"key": upload.key, "size": upload.size}

    def _abort(self, upload: Upload) -> None:
        try:
            self.access.run(upload.team, upload.bucket, lambda c: c._abort_multipart_upload(
                upload.bucket, upload.key, upload.s3_upload_id))
        except S3Error as e:
            if e.code != "NoSuchUpload":
                raise
        self._forget(upload)

    def abort(self, place: Place, upload_id: str, of_team: bool = False) -> dict:
        """Drop an upload and its parts: the caller's own, or with ``of_team`` (team admins,
        operators) any member's, so that a member's forgotten uploads can be freed at once."""
        upload = self._find(place, upload_id, of_team)
        self._abort(upload)
        if upload.user != place.user:  # someone else's work dropped: the team may ask who
            self.audit.record(place.user, place.team, "abort", upload.key, uploader=upload.user, size=upload.size)
        return {"id": upload_id, "key": upload.key}

    def expire(self) -> int:
        """Abort uploads whose part URLs have expired or that received no part for IDLE_TTL
        (S3 is asked only about uploads older than that); their reserved quota is released."""
        now = utcnow()
        with self.db.session() as s:
            old = list(s.scalars(select(Upload).where(Upload.created_at < now - IDLE_TTL)))
        stale = [u for u in old if u.expires_at < now or self._last_activity(u) < now - IDLE_TTL]
        for upload in stale:
            self._abort(upload)
        return len(stale)
