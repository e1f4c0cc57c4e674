"""Job records in the portal database: the one place a job's state is kept, so a portal that
restarts finds every job where it was and the runner carries on from there."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy import func, select

from ..db import Database, Job, iso, utcnow
from .spec import JobSpec
from .states import ACTIVE, FINISHED, QUEUED


def as_json(job: Job, datasets_url: str = "") -> dict:
    spec = job.spec
    return {
        "id": job.id, "team": job.team, "user": job.user, "name": job.name, "version": spec.get("version"),
        "profile": spec.get("profile"), "dev": job.dev, "image": job.image, "command": spec["command"],
        "resources": spec["resources"], "walltime": spec["walltime"], "inputs": spec["inputs"],
        "outputs": spec["outputs"], "env": spec["env"], "backend": job.backend, "state": job.state,
        "reason": job.reason, "message": job.message, "exit_code": job.exit_code,
        "created_at": iso(job.created_at), "started_at": iso(job.started_at) if job.started_at else None,
        "finished_at": iso(job.finished_at) if job.finished_at else None,
        "outputs_url": f"{datasets_url}?{urlencode({'prefix': spec['outputs']})}" if spec["outputs"] and datasets_url
        else None,
    }


class Jobs:
    def __init__(self, db: Database):
        self.db = db

    def create(self, spec: JobSpec, user: str, image: str, backend: str) -> Job:
        now = utcnow()
        with self.db.transaction() as s:
            job = Job(team=spec.team, user=user, name=spec.name, spec=spec.as_json(), image=image, dev=spec.dev,
                      backend=backend, backend_id="", state=QUEUED, reason="", message="waiting for the team's quota",
                      exit_code=None, cancel_requested=False, created_at=now, updated_at=now)
            s.add(job)
            s.flush()
            s.expunge(job)
            return job

    def get(self, team: str, job_id: int) -> Job | None:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.team != team:
                return None
            s.expunge(job)
            return job

    def page(self, team: str, offset: int, limit: int, state: str | None = None) -> tuple[list[Job], int]:
        """The team's jobs, newest first, and how many there are."""
        where = [Job.team == team] + ([Job.state == state] if state else [])
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(Job).where(*where))
            jobs = list(s.scalars(select(Job).where(*where).order_by(Job.id.desc()).offset(offset).limit(limit)))
            for job in jobs:
                s.expunge(job)
            return jobs, total

    def active(self) -> list[Job]:
        """Every job not finished, oldest first: the runner's work (also after a restart)."""
        with self.db.session() as s:
            jobs = list(s.scalars(select(Job).where(Job.state.in_(ACTIVE)).order_by(Job.id)))
            for job in jobs:
                s.expunge(job)
            return jobs

    def finished_before(self, moment) -> list[int]:
        with self.db.session() as s:
            return list(s.scalars(select(Job.id).where(Job.state.in_(FINISHED), Job.finished_at < moment)))

    def update(self, job_id: int, **fields) -> Job:
        """Change a job's fields (state, reason, message, backend_id, times…); → the job."""
        with self.db.transaction() as s:
            job = s.get(Job, job_id)
            for key, value in fields.items():
                setattr(job, key, value)
            job.updated_at = utcnow()
            s.flush()
            s.expunge(job)
            return job

    def request_cancel(self, team: str, job_id: int) -> Job | None:
        """Mark a job for cancelling (the runner acts on it); None if it is not the team's."""
        with self.db.transaction() as s:
            job = s.get(Job, job_id)
            if job is None or job.team != team:
                return None
            if job.state not in FINISHED:
                job.cancel_requested = True
                job.updated_at = utcnow()
            s.flush()
            s.expunge(job)
            return job
