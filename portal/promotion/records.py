"""Promotion records in the portal database: made once per (project, version), then
updated by the follower as the tag, the pipeline and the proof advance."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..db import Database, Promotion, iso, utcnow

FINISHED = ("success", "failed", "error")


class AlreadyPromoting(Exception):
    """(project, version) has a record already: the existing one."""

    def __init__(self, existing: dict):
        super().__init__(f"promotion {existing['id']}")
        self.existing = existing


def as_json(p: Promotion) -> dict:
    return {
        "id": p.id, "team": p.team, "project_id": p.project_id, "project": p.project_path,
        "commit": p.commit_sha, "version": p.version, "release_notes": p.release_notes,
        "created_by": p.created_by, "created_at": iso(p.created_at), "updated_at": iso(p.updated_at),
        "finished_at": iso(p.finished_at) if p.finished_at else None,
        "status": p.status, "message": p.message, "base_image": p.base_image,
        "pipeline_id": p.pipeline_id, "pipeline_url": p.pipeline_url, "pipeline": p.pipeline or {},
        "log_tail": p.log_tail, "image": p.image, "digest": p.digest, "checks": p.checks or {},
    }


class Promotions:
    def __init__(self, db: Database):
        self.db = db

    def create(self, **fields) -> dict:
        """A new pending record; AlreadyPromoting when (project, version) has one, also
        when the other was made a moment ago by a concurrent request."""
        now = utcnow()
        try:
            with self.db.transaction() as s:
                record = Promotion(created_at=now, updated_at=now, status="pending", message="creating the tag",
                                   pipeline={}, log_tail="", checks={}, **fields)
                s.add(record)
                s.flush()
                return as_json(record)
        except IntegrityError:
            raise AlreadyPromoting(self.find(fields["project_id"], fields["version"])) from None

    def find(self, project_id: int, version: str) -> dict | None:
        with self.db.session() as s:
            record = s.scalar(select(Promotion).where(Promotion.project_id == project_id,
                                                      Promotion.version == version))
            return as_json(record) if record else None

    def get(self, team: str, promotion_id: int) -> dict | None:
        """The record, if it is this team's."""
        record = self.get_any(promotion_id)
        return record if record and record["team"] == team else None

    def get_any(self, promotion_id: int) -> dict | None:
        with self.db.session() as s:
            record = s.get(Promotion, promotion_id)
            return as_json(record) if record else None

    def update(self, promotion_id: int, **fields) -> dict:
        with self.db.transaction() as s:
            record = s.get(Promotion, promotion_id)
            for key, value in fields.items():
                setattr(record, key, value)
            record.updated_at = utcnow()
            if fields.get("status") in FINISHED:
                record.finished_at = record.updated_at
            return as_json(record)

    def page(self, team: str, project_id: int | None = None, offset: int = 0,
             limit: int = 100) -> tuple[list[dict], int]:
        """The team's promotions (of one project), newest first, and how many there are."""
        where = [Promotion.team == team]
        if project_id is not None:
            where.append(Promotion.project_id == project_id)
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(Promotion).where(*where))
            rows = s.scalars(select(Promotion).where(*where).order_by(Promotion.id.desc()).offset(offset).limit(limit))
            return [as_json(p) for p in rows], total

    def unfinished(self) -> list[int]:
        with self.db.session() as s:
            return list(s.scalars(select(Promotion.id).where(Promotion.status.not_in(FINISHED))
                                  .order_by(Promotion.id)))

    def released(self, teams: list[str]) -> list[dict]:
        """The successful promotions of these teams, newest first: the versions they may run."""
        with self.db.session() as s:
            rows = s.scalars(select(Promotion).where(Promotion.team.in_(teams), Promotion.status == "success",
                                                     Promotion.digest.is_not(None)).order_by(Promotion.id.desc()))
            return [as_json(p) for p in rows]
