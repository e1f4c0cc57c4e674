"""Pipelines and jobs of the GitLab double: built from the runner's plan of a commit's
.gitlab-ci.yml, run in a background thread, their state read live by the API.

Stages run in order and the jobs of a stage one after the other. A job that exits non-zero
fails the pipeline and the jobs of later stages are `skipped`. Each job gets a fresh
workspace (the commit's `git archive`, extracted) and GitLab's predefined CI variables.
Without a runner a pipeline stays `created`, as on a GitLab with no runner registered.
"""

from __future__ import annotations

import secrets
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

FINISHED = {"success", "failed", "canceled", "skipped"}


def iso(ts: float | None) -> str | None:
    """GitLab's timestamp format, e.g. 2026-11-02T10:11:12.123Z."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Job:
    """One job of a pipeline; `plan` is the runner's JobPlan."""

    def __init__(self, id: int, plan):
        self.id = id
        self.plan = plan
        self.name, self.stage = plan.name, plan.stage
        self.status = "created"
        self.created_at = time.time()
        self.queued_at: float | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.failure_reason: str | None = None
        self.token = secrets.token_hex(16)
        self._trace: list[str] = []

    @property
    def trace(self) -> str:
        return "".join(self._trace)

    def to_json(self, pipeline: Pipeline, web_url: str, user: dict) -> dict:
        end = self.finished_at or time.time()
        return {
            "id": self.id, "name": self.name, "stage": self.stage, "status": self.status,
            "ref": pipeline.ref, "tag": pipeline.tag, "allow_failure": False, "coverage": None,
            "created_at": iso(self.created_at), "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at), "erased_at": None,
            "duration": round(end - self.started_at, 3) if self.started_at else None,
            "queued_duration": round((self.started_at or end) - self.queued_at, 3) if self.queued_at else None,
            "failure_reason": self.failure_reason,
            "commit": {"id": pipeline.sha, "short_id": pipeline.sha[:8]},
            "pipeline": {"id": pipeline.id, "iid": pipeline.iid, "project_id": pipeline.project_id,
                         "sha": pipeline.sha, "ref": pipeline.ref, "status": pipeline.status},
            "web_url": f"{web_url}/-/jobs/{self.id}", "user": user, "artifacts": [], "runner": None,
        }


class Pipeline:
    """A pipeline's state. `history` lists every status it took, for assertions."""

    def __init__(self, id: int, iid: int, project_id: int, sha: str, ref: str, tag: bool, user: str):
        self.id, self.iid, self.project_id = id, iid, project_id
        self.sha, self.ref, self.tag, self.user = sha, ref, tag, user
        self.source = "push"
        self.created_at = self.updated_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.jobs: list[Job] = []
        self.yaml_errors: str | None = None
        self.history = ["created"]
        self.canceled = False
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    @property
    def status(self) -> str:
        return self.history[-1]

    def _set(self, status: str) -> None:
        if status != self.status:
            self.history.append(status)
        self.updated_at = time.time()

    def to_json(self, web_url: str, user: dict) -> dict:
        end = self.finished_at or time.time()
        return {
            "id": self.id, "iid": self.iid, "project_id": self.project_id, "sha": self.sha,
            "ref": self.ref, "tag": self.tag, "status": self.status, "source": self.source,
            "before_sha": "0" * 40, "yaml_errors": self.yaml_errors, "user": user,
            "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "started_at": iso(self.started_at), "finished_at": iso(self.finished_at),
            "committed_at": None, "coverage": None,
            "duration": round(end - self.started_at) if self.started_at else None,
            "queued_duration": round((self.started_at or end) - self.created_at, 3),
            "web_url": f"{web_url}/-/pipelines/{self.id}", "detailed_status": {"text": self.status},
        }

    def plan(self, ci_yaml: str, read_file: Callable[[str], str | None], variables: dict,
             next_job_id: Callable[[], int]) -> None:
        """Build the jobs from the runner's plan; a bad .gitlab-ci.yml fails the pipeline."""
        from tests.gitlab.runner import plan  # the runner helper's module, written beside this one

        try:
            plans = plan(ci_yaml, read_file, self.ref, self.tag, variables)
        except ValueError as error:
            self.yaml_errors = str(error)
            self.finished_at = time.time()
            self._set("failed")
            return
        self.jobs = [Job(next_job_id(), job) for job in plans]

    def cancel(self) -> None:
        with self.lock:
            if self.status in FINISHED:
                return
            self.canceled = True
            for job in self.jobs:
                if job.status not in FINISHED:
                    job.status = "canceled"
                    job.finished_at = time.time()
            self.finished_at = time.time()
            self._set("canceled")

    def start(self, runner, archive: Callable[[], bytes], workdir: Path, variables: Callable[[Job], dict]) -> None:
        """Run the jobs in a background thread (nothing happens without a runner)."""
        if runner is None or self.status in FINISHED or not self.jobs:
            return
        self.thread = threading.Thread(
            target=self._run, args=(runner, archive, workdir, variables), name=f"pipeline-{self.id}", daemon=True)
        self.thread.start()

    def _run(self, runner, archive, workdir: Path, variables) -> None:
        with self.lock:
            self._set("pending")
            for job in self.jobs:
                job.status, job.queued_at = "pending", time.time()
        failed = False
        for job in self.jobs:
            with self.lock:
                if self.canceled:
                    return
                if failed:
                    job.status, job.finished_at = "skipped", time.time()
                    continue
                job.status, job.started_at = "running", time.time()
                if self.started_at is None:
                    self.started_at = job.started_at
                self._set("running")
            code = self._run_job(runner, job, archive, workdir, variables(job))
            with self.lock:
                if self.canceled:
                    return
                job.finished_at = time.time()
                job.status = "success" if code == 0 else "failed"
                if code != 0:
                    job.failure_reason, failed = "script_failure", True
        with self.lock:
            if not self.canceled:
                self.finished_at = time.time()
                self._set("failed" if failed else "success")

    def _run_job(self, runner, job: Job, archive, workdir: Path, variables: dict) -> int:
        job._trace.append(f"Running with gitlab-runner (GitLab double)\nJob {job.id} ({job.name}) on {self.sha[:8]}\n")
        workdir.mkdir(parents=True, exist_ok=True)
        workspace = Path(tempfile.mkdtemp(prefix=f"job-{job.id}-", dir=workdir))
        workspace.chmod(0o755)  # a runner's checkout is readable by all (umask 022), and so is /code built from it
        try:
            with tarfile.open(fileobj=BytesIO(archive()), mode="r:") as tar:
                tar.extractall(workspace, filter="data")
            code = runner.run_job(job.plan, workspace, variables, job._trace.append)
        except Exception as error:  # a runner that crashes fails its job, as a broken runner would
            job._trace.append(f"ERROR: {error!r}\n")
            code = 1
        finally:
            shutil.rmtree(workspace, ignore_errors=True)
        job._trace.append("Job succeeded\n" if code == 0 else f"ERROR: Job failed: exit code {code}\n")
        return code
