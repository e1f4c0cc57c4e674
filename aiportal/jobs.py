"""Batch jobs of a team: `portal.jobs.submit(...)` → a Job to follow, wait for and read.

A job runs one command in a container of the team: a promoted version's image
(`version="PROJECT:vX.Y.Z"`, with its code at /code) or, for testing, one of the team's dev
profiles (`profile=`). Its `inputs` (folders of the team's bucket) are copied to
`/data/in/<prefix>` before it starts; `/data/out` goes to its `outputs` folder when it ends,
also when it failed. The description is the one of `aiportal jobs submit FILE.yaml`
(portal/jobs/job.schema.json): team, name, version | profile, command (a list of words, or
one string for /bin/sh -c), resources {cpu, memory, gpus}, walltime, inputs, outputs, env.

States: queued → staging → running → uploading → one of the finished states
succeeded, failed, timeout (ran past its walltime), cancelled.

    job = portal.jobs.submit(team="team-a", version="radiology/segmenter:v1.2.0",
                             command=["python", "/code/segment.py", "/data/in/slides"],
                             inputs=["slides/case-17/"], outputs="results/case-17/",
                             resources={"gpus": 1, "memory": "16Gi"}, walltime="2h")
    job.wait()                     # returns when it finished; JobTimeout after `timeout` s
    print(job.state, job.exit_code)
    print(job.logs())
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator

from .client import PortalError, _quote

QUEUED, STAGING, RUNNING, UPLOADING = "queued", "staging", "running", "uploading"
SUCCEEDED, FAILED, TIMEOUT, CANCELLED = "succeeded", "failed", "timeout", "cancelled"
#: the states a job ends in
FINISHED = frozenset({SUCCEEDED, FAILED, TIMEOUT, CANCELLED})


class JobTimeout(PortalError, TimeoutError):
    """`Job.wait(timeout=…)` ran out before the job finished (the job goes on running)."""

    def __init__(self, job: Job, timeout: float):
        super().__init__(None, f"job {job.id} is still {job.state} after {timeout:g} s")
        self.job = job


class Job:
    """One job as the portal last described it.

    The API's fields are attributes: `id`, `team`, `user`, `name`, `version`, `profile`,
    `dev`, `image`, `command`, `resources`, `walltime`, `inputs`, `outputs`, `env`,
    `backend`, `state`, `reason`, `message`, `exit_code`, `created_at`, `started_at`,
    `finished_at`, `outputs_url` (`job.data` holds them all as a dict). They change only
    with `refresh()` (which `wait()` calls).
    """

    def __init__(self, jobs: Jobs, data: dict):
        self._jobs = jobs
        self.data = data

    def __getattr__(self, name: str):
        if name.startswith("_") or name == "data":
            raise AttributeError(name)
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(f"a job has no field {name!r}") from None

    def __repr__(self) -> str:
        return f"<Job {self.data.get('id')} {self.data.get('team')}/{self.data.get('name') or ''} {self.state}>"

    @property
    def id(self):
        return self.data["id"]

    @property
    def team(self) -> str:
        return self.data["team"]

    @property
    def state(self) -> str:
        return self.data.get("state", "")

    @property
    def finished(self) -> bool:
        """Whether the job has ended (succeeded, failed, timeout or cancelled)."""
        return self.state in FINISHED

    @property
    def succeeded(self) -> bool:
        return self.state == SUCCEEDED

    def _path(self, suffix: str = "") -> str:
        return f"teams/{_quote(self.team)}/jobs/{_quote(str(self.id))}{suffix}"

    def refresh(self) -> Job:
        """Ask the portal where the job stands now; returns the job."""
        self.data = self._jobs._portal.api("GET", self._path())
        return self

    def wait(self, timeout: float | None = None, poll: float = 2) -> Job:
        """Return (the job) once it has finished, asking every `poll` seconds; JobTimeout
        after `timeout` seconds (None: no limit). A failed job does not raise: look at
        `succeeded`, `state`, `reason`, `exit_code`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.refresh().finished:
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeout(self, timeout)
            pause = poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic()))
            time.sleep(pause)
        return self

    def logs(self, follow: bool = False) -> str | Iterator[str]:
        """The job's output so far (one str); with `follow`, an iterator of its lines as
        they come, ending when the job has finished."""
        portal = self._jobs._portal
        path = f"services/portal/api/v1/{self._path('/logs')}"
        if not follow:
            return portal.request("GET", path).text
        return self._follow(path)

    def _follow(self, path: str) -> Iterator[str]:
        portal = self._jobs._portal
        r = portal.request("GET", path, params={"follow": "1"}, stream=True, timeout=(portal.timeout, None))
        with r:
            yield from r.iter_lines(decode_unicode=True)

    def cancel(self) -> Job:
        """Ask for the job to be cancelled (it ends as `cancelled`); PortalError 409 if it
        had already finished. Returns the job as the portal answered."""
        self.data = self._jobs._portal.api("DELETE", self._path())
        return self


class Jobs:
    """The jobs of your teams (`portal.jobs`)."""

    def __init__(self, portal):
        self._portal = portal

    def submit(self, spec: dict | None = None, /, **fields) -> Job:
        """Submit a job: a description as a dict (e.g. a parsed YAML file), or its fields as
        keyword arguments (`team=`, `command=`, `version=` or `profile=`, `name=`,
        `resources=`, `walltime=`, `inputs=`, `outputs=`, `env=`), or both (the keywords
        win). A description the portal refuses raises PortalError naming the field
        (`e.field`, e.g. "resources.memory")."""
        body = {**(spec or {}), **fields}
        team = body.get("team")
        if not isinstance(team, str) or not team:
            raise PortalError(400, "give the team the job runs for", "team")
        return Job(self, self._portal.api("POST", f"teams/{_quote(team)}/jobs", json=body))

    def list(self, team: str, state: str | None = None, limit: int | None = None) -> builtins.list[Job]:
        """The team's jobs, newest first (only those in `state`; at most `limit`)."""
        params = {"state": state} if state else {}
        out = []
        for item in self._portal.pages(f"teams/{_quote(team)}/jobs", **params):
            out.append(Job(self, item))
            if limit is not None and len(out) >= limit:
                break
        return out

    def get(self, team: str, job_id) -> Job:
        """One job of the team (404 PortalError for another team's, as for none)."""
        return Job(self, self._portal.api("GET", f"teams/{_quote(team)}/jobs/{_quote(str(job_id))}"))
