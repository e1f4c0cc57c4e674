"""Jobs API: submit a batch job for a team (a promoted version, or a dev profile for testing),
list the team's jobs, follow one, read or stream its logs, cancel it.

Members of the team (and operators) may do all of it; anyone else gets 404 for the team.
A job that could never run (more than the team's quota or the machine's GPUs, an input
folder with nothing in it, a version that is not the team's) is a 400 naming the field;
one that only has to wait for the quota is accepted and waits in `queued`.
"""

from __future__ import annotations

import asyncio

from tornado import web
from tornado.iostream import StreamClosedError

from ..jobs import states
from ..jobs.records import as_json
from ..jobs.spec import SpecError, parse, resolve_image
from ..names import bucket_name
from ..promotion.records import Promotions
from ..rbac import READ
from .base import APIHandler, field_error, team_scope
from .teams import machine_gpus

FOLLOW_POLL = 1.0  # seconds between two reads of a running job's log when following it



NO_RUNNER = ("batch jobs need a container engine on the portal's machine; this portal's servers are not "
             "containers of this machine (local processes or Kubernetes)")


class JobsBase(APIHandler):
    @property
    def runner(self):
        runner = self.settings.get("job_runner")
        if runner is None:
            raise web.HTTPError(503, NO_RUNNER)
        return runner

    @property
    def jobs(self):
        return self.runner.jobs

    def view(self, job) -> dict:
        return as_json(job, f"{self.settings['prefix']}teams/{job.team}/datasets")

    def job(self, team: str, job_id: str):
        job = self.jobs.get(team, int(job_id)) if job_id.isascii() and job_id.isdigit() and len(job_id) < 12 else None
        if job is None:
            raise web.HTTPError(404, f"no job {job_id[:40]!r} in team {team!r}")
        return job


class JobsHandler(JobsBase):
    @team_scope(READ)
    async def get(self, team):
        offset, limit = self.page_args()
        state = self.query("state", "") or None
        if state is not None and state not in states.STATES:
            raise web.HTTPError(400, f"state: must be one of {', '.join(states.STATES)}")
        jobs, total = self.jobs.page(team, offset, limit, state)
        self.write_page([self.view(j) for j in jobs], offset, limit, total)

    @team_scope(READ)
    async def post(self, team):
        body = self.json_object()
        if body.get("team", team) != team:
            raise field_error(SpecError("team", f"the job is posted to team {team!r}; leave team out or give {team!r}"))
        try:
            spec = parse({**body, "team": team})
            released = (await asyncio.to_thread(Promotions(self.settings["db"]).released, [team])
                        if spec.version else [])
            image = resolve_image(spec, list(self.team.properties.get("profiles") or ()),
                                  self.portal_config.profiles, released)
            await self.check_fits(spec)
            if spec.inputs:
                await asyncio.to_thread(self.check_inputs, spec)
        except SpecError as e:
            raise field_error(e) from None
        job = await asyncio.to_thread(self.jobs.create, spec, self.caller.name, image, self.runner.backend.name)
        self.runner.wake.set()
        self.write_json(self.view(job), status=201)

    async def check_fits(self, spec) -> None:
        """Refuse at once what the team's quota or the machine can never hold."""
        quota = self.team.properties.get("quota") or {}
        for resource, asked in (("cpu", spec.cpu), ("memory", spec.memory), ("gpus", spec.gpus)):
            limit = quota.get(resource)
            if limit is not None and asked > limit:
                raise SpecError(f"resources.{resource}", f"{asked} is more than team {spec.team!r}'s quota of {limit}")
        if spec.gpus and self.runner.backend.name == "containers" and spec.gpus > await machine_gpus(self):
            raise SpecError("resources.gpus", f"{spec.gpus} is more than the {await machine_gpus(self)} GPU(s) "
                                              "of this machine")

    def check_inputs(self, spec) -> None:
        client = self.settings["store"].client()
        for i, prefix in enumerate(spec.inputs):
            if next(iter(client.list_objects(bucket_name(spec.team), prefix=prefix, recursive=True)), None) is None:
                raise SpecError(f"inputs[{i}]", f"there is nothing under {prefix!r} in team {spec.team!r}'s bucket")


class JobHandler(JobsBase):
    @team_scope(READ)
    async def get(self, team, job_id):
        self.write_json(self.view(self.job(team, job_id)))

    @team_scope(READ)
    async def delete(self, team, job_id):
        """Cancel: a queued job never starts, a running one is stopped (state cancelled)."""
        job = self.job(team, job_id)
        if job.state in states.FINISHED:
            raise web.HTTPError(409, f"job {job.id} has finished ({job.state}); there is nothing to cancel")
        job = self.jobs.request_cancel(team, job.id)
        self.runner.wake.set()
        self.write_json(self.view(job), status=202)


class JobLogsHandler(JobsBase):
    @team_scope(READ)
    async def get(self, team, job_id):
        """The job's stdout and stderr so far; `?follow=1` streams until the job finished."""
        job = self.job(team, job_id)
        follow = self.query("follow", "0") in ("1", "true")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        sent = 0
        while True:
            data = await self.read_log(job)
            if len(data) > sent:
                self.write(data[sent:])
                sent = len(data)
                try:
                    await self.flush()
                except StreamClosedError:
                    return
            if not follow or job.state in states.FINISHED:
                break
            await asyncio.sleep(FOLLOW_POLL)
            job = self.job(team, job_id)
        self.finish()

    async def read_log(self, job) -> bytes:
        if job.state == states.RUNNING and job.backend_id:
            try:
                return await self.runner.backend.logs(job.backend_id, self.runner.plan(job))
            except Exception:  # the backend is away: what was kept, if anything
                pass
        path = self.runner.log_of(job)
        return await asyncio.to_thread(path.read_bytes) if path.exists() else b""


default_handlers = [
    (r"/api/v1/teams/(?P<team>[^/]+)/jobs", JobsHandler),
    (r"/api/v1/teams/(?P<team>[^/]+)/jobs/(?P<job_id>[^/]+)", JobHandler),
    (r"/api/v1/teams/(?P<team>[^/]+)/jobs/(?P<job_id>[^/]+)/logs", JobLogsHandler),
]
