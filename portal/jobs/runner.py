"""The job runner: a background task of the portal service that moves every unfinished job
one step at a time, from the database, so a portal that restarts carries on where it was.

queued → (the team's quota allows it) staging: the input prefixes copied from the team's
bucket into the job's folder → the backend starts it → running → (exited, timed out,
cancelled) uploading: its logs kept, /data/out copied to the output prefix → finished.

Quotas: a job holds its CPUs, memory and GPUs like a server does. What the team holds is the
engine's labelled containers (servers and jobs: the hub's ledger counts the same labels) plus
this portal's admitted jobs that have no container yet; a job that does not fit waits in
`queued`, saying what it waits for. A backend that cannot be reached (the engine, slurmctld)
leaves every job as it was and is asked again at the next tick.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from datetime import timedelta
from pathlib import Path

from spawners.container import holdings, label
from spawners.homes import ensure_home
from spawners.quotas import Holding, Ledger, QuotaRefused, limits, server_key

from ..db import Job, utcnow
from ..names import bucket_name
from . import states
from .backends import BackendRefused, BackendUnavailable, JobBackend, RunPlan
from .records import Jobs

log = logging.getLogger("portal.jobs")
LOG_TAIL = 20  # lines of a failed job's log in its message


class Need:
    """What a job asks of its team's quota, shaped as the Ledger reads a profile."""

    def __init__(self, job: Job):
        resources = job.spec["resources"]
        self.team, self.cpu, self.memory, self.gpus = job.team, resources["cpu"], resources["memory"], resources["gpus"]


def job_key(job: Job) -> str:
    return server_key(job.user, f"job-{job.id}")


def tail(data: bytes, lines: int = LOG_TAIL) -> str:
    return "\n".join(data.decode(errors="replace").rstrip("\n").splitlines()[-lines:])


class JobRunner:
    def __init__(self, jobs: Jobs, backend: JobBackend, *, store, hub, root: Path, homes: Path, instance_id: str,
                 gpus: tuple[str, ...] = (), poll_interval: float = 2, keep_days: int = 30, list_containers=None):
        self.jobs, self.backend, self.store, self.hub = jobs, backend, store, hub
        self.root, self.homes, self.instance_id = root, homes, instance_id
        self.ledger = Ledger(gpus)
        self.poll_interval, self.keep_days = poll_interval, keep_days
        self.list_containers = list_containers  # async () → the engine's containers of this portal
        self.wake = asyncio.Event()
        self.moving: dict[int, asyncio.Task] = {}  # job id → its step under way
        self.watching = hasattr(backend, "watch")  # the backend tells when a job's container exits
        self.exited: set[int] = set()  # jobs heard exiting, not looked at since
        self.queued = False  # whether the last tick left jobs waiting for room

    def workdir(self, job_id: int) -> Path:
        return self.root / str(job_id)

    def plan(self, job: Job) -> RunPlan:
        home = ensure_home(self.homes, job.user)
        resources = job.spec["resources"]
        return RunPlan(
            job_id=job.id, name=f"aiportal-{self.instance_id}-job-{job.id}", team=job.team, user=job.user,
            image=job.image, command=tuple(job.spec["command"]), env=dict(job.spec["env"]),
            cpu=resources["cpu"], memory=resources["memory"], gpus=resources["gpus"],
            gpu_ids=tuple(job.spec.get("gpu_ids") or ()), walltime=job.spec["walltime"],
            workdir=self.workdir(job.id), uid=home.uid, gid=home.gid,
            labels={label("portal"): self.instance_id, label("team"): job.team, label("user"): job.user,
                    label("server"): f"job-{job.id}", label("job"): str(job.id),
                    label("cpu"): str(resources["cpu"]), label("memory"): str(resources["memory"]),
                    label("gpus"): ",".join(job.spec.get("gpu_ids") or ())})

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Forever: a tick, then wait for the poll interval, a new job or a job's container
        exiting, whichever is first. A tick that fails is logged with its cause and the next
        one tries again."""
        watching = asyncio.ensure_future(self.watch()) if self.watching else None
        try:
            await self.ticks()
        finally:
            for task in [*self.moving.values(), *([watching] if watching else [])]:
                task.cancel()

    async def watch(self) -> None:
        """Wake the loop whenever the backend says one of this portal's jobs ended; a watch
        that breaks is logged and begun again (the poll carries on meanwhile)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self.backend.watch(f"{label('portal')}={self.instance_id}",
                                         lambda labels: loop.call_soon_threadsafe(self.heard, labels))
            except BackendUnavailable as e:
                log.warning("the job runner hears of ended jobs at its polls only for now: %s", e)
            await asyncio.sleep(self.poll_interval * 5)

    def heard(self, labels: dict) -> None:
        """A container of this portal exited: if it is a job's, look at that job now."""
        if (job_id := labels.get(label("job"), "")).isdigit():
            self.exited.add(int(job_id))
            self.wake.set()

    async def ticks(self) -> None:
        """Every poll interval a full tick, that asks the backend about every running job;
        woken sooner (a job submitted, cancelled, finished or heard exiting), a tick that
        asks only about the jobs heard exiting, when the backend tells of exits."""
        cleaned, full = None, True
        while True:
            try:
                await self.tick(full)
                if cleaned is None or utcnow() - cleaned > timedelta(hours=1):
                    cleaned = utcnow()
                    await asyncio.to_thread(self.clean)
            except Exception:
                log.exception("the job runner's tick failed")
            try:
                await asyncio.wait_for(self.wake.wait(), self.poll_interval)
                full = not self.watching
            except TimeoutError:
                full = True
            self.wake.clear()

    async def tick(self, full: bool = True) -> None:
        """One look at the unfinished jobs: queued ones admitted in order (the oldest first)
        while their team's quota allows, then the next step of every job that is not taking
        one already (of a running one, when the tick is `full`, it was heard exiting, or its
        cancel was asked). Steps run as tasks of their own, so a slow one (staging big
        inputs, a pull) holds up neither the other jobs nor the next tick."""
        waiting = {job.team for job in self.jobs.active() if job.state == states.QUEUED and not job.cancel_requested}
        containers = await self.list_containers() if waiting and self.list_containers else []
        groups = {team: await self.hub.group(team) or {} for team in sorted(waiting)}
        # Read again after the awaits, and no await from here on: steps that ended meanwhile
        # have moved their jobs on, and the quota is decided on one listing, in order.
        active = self.jobs.active()
        held = self.held(containers, active)
        self.queued = False
        for job in active:
            if job.id in self.moving:
                continue
            if job.state == states.RUNNING and not (full or job.cancel_requested or job.id in self.exited):
                continue
            self.exited.discard(job.id)
            if job.state == states.QUEUED and not job.cancel_requested:
                job = self.reserve(job, held, groups[job.team]) if job.team in groups else None
                self.queued |= job is None  # (a team not looked up: queued during the awaits)
            if job is not None:
                self.moving[job.id] = task = asyncio.ensure_future(self.step(job))
                task.add_done_callback(lambda done, job_id=job.id: self.stepped(job_id, done))

    def stepped(self, job_id: int, task: asyncio.Task) -> None:
        """A step ended: a job heard exiting during its launch is looked at again now."""
        self.moving.pop(job_id, None)
        if job_id in self.exited and not task.cancelled():
            self.wake.set()

    def held(self, containers: list[dict], active: list[Job]) -> dict[str, Holding]:
        """Every holding of this machine by key: labelled containers, and admitted jobs."""
        running = holdings(containers)
        for job in active:
            if job.state != states.QUEUED:
                need = Need(job)
                running[job_key(job)] = Holding(job.team, tuple(job.spec.get("gpu_ids") or ()), need.cpu, need.memory)
        return running

    def reserve(self, job: Job, held: dict[str, Holding], group: dict) -> Job | None:
        """The queued job admitted (staging, with its GPUs) if its team's quota and the
        machine allow it now; else it stays queued saying what it waits for (→ None)."""
        try:
            holding = self.ledger.reserve(job_key(job), Need(job), limits(group.get("properties") or {}), held)
        except QuotaRefused as e:
            message = f"waiting: {e}".replace("this profile needs", "this job needs")
            if message != job.message:
                self.jobs.update(job.id, message=message)
            return None
        finally:
            self.ledger.pending.pop(job_key(job), None)  # the database's state speaks for it from here
        held[job_key(job)] = holding
        return self.jobs.update(job.id, state=states.STAGING, message="copying the inputs",
                                spec={**job.spec, "gpu_ids": list(holding.gpus)})

    async def step(self, job: Job) -> None:
        """The job's next step; a backend away leaves it as it is, any other failure fails it."""
        try:
            if job.cancel_requested and job.state in (states.QUEUED, states.STAGING):
                await self.finish(job, states.CANCELLED, "cancelled", "cancelled before it started")
            elif job.state == states.STAGING:
                await self.launch(job)
            elif job.state == states.RUNNING:
                await self.follow(job)
            elif job.state == states.UPLOADING:
                await self.collect(job)
        except BackendUnavailable as e:
            if job.message != f"waiting: {e}":
                log.warning("job %s: %s", job.id, e)
                self.jobs.update(job.id, message=f"waiting: {e}")
        except Exception as e:
            log.exception("job %s failed in the portal", job.id)
            await self.finish(job, states.FAILED, "error", f"the portal could not run it: {e}")

    async def launch(self, job: Job) -> None:
        """Stage the inputs (once), then hand the job to the backend."""
        plan = self.plan(job)
        if job.spec["inputs"]:
            await asyncio.to_thread(self.stage, job, plan)
        else:  # a few folders made: not worth a worker thread, which the engine's calls queue for
            self.stage(job, plan)
        try:
            backend_id = await self.backend.start(plan)
        except BackendRefused as e:
            await self.finish(job, states.FAILED, e.reason, str(e))
            return
        self.jobs.update(job.id, state=states.RUNNING, backend_id=backend_id, started_at=utcnow(), message="")

    async def follow(self, job: Job) -> None:
        plan = self.plan(job)
        if job.cancel_requested:
            await self.backend.cancel(job.backend_id, plan)
            await self.ended(job, plan, None, "cancelled", "cancelled while it ran")
            return
        seen = await self.backend.observe(job.backend_id, plan)
        grace = getattr(self.backend, "walltime_grace", 0)  # a backend with a limit of its own: its lateness
        overdue = job.started_at and utcnow() - job.started_at > timedelta(seconds=plan.walltime + grace)
        if seen.state in ("pending", "running") and overdue:
            await self.backend.cancel(job.backend_id, plan)
            await self.ended(job, plan, None, "timeout", f"killed after its walltime of {plan.walltime} s")
        elif seen.state == "exited":
            reason = "" if seen.exit_code == 0 else "exit"
            detail = seen.message or ("" if seen.exit_code == 0 else f"exited with code {seen.exit_code}")
            await self.ended(job, plan, seen.exit_code, reason, detail)
        elif seen.state == "timeout":
            await self.ended(job, plan, seen.exit_code, "timeout", f"killed after its walltime of {plan.walltime} s")
        elif seen.state == "cancelled":
            await self.ended(job, plan, seen.exit_code, "cancelled", seen.message or "cancelled")
        elif seen.state == "gone":
            await self.ended(job, plan, None, "gone", seen.message or "the backend lost the job")

    async def ended(self, job: Job, plan: RunPlan, exit_code: int | None, reason: str, message: str) -> None:
        """The job stopped: keep its logs in its folder, then collect its outputs."""
        data = await self.backend.logs(job.backend_id, plan)
        if data or not plan.log_path.exists():
            await asyncio.to_thread(plan.log_path.write_bytes, data)
        remove = getattr(self.backend, "remove", None)
        if remove is not None:
            await remove(job.backend_id)
        if reason == "exit" and data:
            message = f"{message}; last lines:\n{tail(data)}"
        job = self.jobs.update(job.id, state=states.UPLOADING, exit_code=exit_code, reason=reason, message=message)
        await self.collect(job)

    async def collect(self, job: Job) -> None:
        """Upload /data/out to the output prefix (again, after a restart mid-way), then the end."""
        plan = self.plan(job)
        if job.spec["outputs"]:
            try:
                count = await asyncio.to_thread(self.upload, job, plan)
            except Exception as e:
                log.error("job %s: outputs not uploaded: %s", job.id, e)
                await self.finish(job, states.FAILED, "outputs", f"{job.message}; the outputs were not uploaded: {e}")
                return
            log.info("job %s: %d output file(s) uploaded to %s", job.id, count, job.spec["outputs"])
        final = {"": states.SUCCEEDED, "timeout": states.TIMEOUT, "cancelled": states.CANCELLED}.get(
            job.reason, states.FAILED)
        await self.finish(job, final, job.reason, job.message)

    async def finish(self, job: Job, state: str, reason: str, message: str) -> None:
        self.jobs.update(job.id, state=state, reason=reason, message=message, finished_at=utcnow())
        if self.queued:
            self.wake.set()  # it may make room for a queued job
        log.info("job %s of team %s %s%s", job.id, job.team, state, f" ({reason})" if reason else "")

    # --- data ----------------------------------------------------------------------------

    def stage(self, job: Job, plan: RunPlan) -> None:
        """The input prefixes into `in/` (once: a marker says it is done), `out/` for the job."""
        workdir, inputs, outputs = plan.workdir, plan.workdir / "in", plan.workdir / "out"
        if (workdir / ".staged").exists():
            return
        shutil.rmtree(workdir, ignore_errors=True)
        inputs.mkdir(parents=True)
        outputs.mkdir()
        os.chown(outputs, plan.uid, plan.gid)
        client, bucket = self.store.client(), bucket_name(job.team)
        for prefix in job.spec["inputs"]:
            for obj in client.list_objects(bucket, prefix=prefix, recursive=True):
                target = (inputs / obj.object_name).resolve()
                if obj.is_dir or not target.is_relative_to(inputs.resolve()):
                    continue  # a key that would leave in/ ("a/../../x") is not copied
                client.fget_object(bucket, obj.object_name, str(target))
        for path in (inputs, *inputs.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        (workdir / ".staged").touch()

    def upload(self, job: Job, plan: RunPlan) -> int:
        """Every regular file of out/ to the output prefix; links are not followed (a job
        must not be able to send the portal's own files to its bucket)."""
        out, prefix = plan.workdir / "out", job.spec["outputs"].rstrip("/") + "/"
        client, bucket, count = self.store.client(), bucket_name(job.team), 0
        for folder, _, files in os.walk(out, followlinks=False):
            for name in files:
                path = Path(folder) / name
                if path.is_symlink() or not path.is_file():
                    continue
                client.fput_object(bucket, prefix + path.relative_to(out).as_posix(), str(path))
                count += 1
        return count

    def clean(self) -> None:
        """Folders of jobs finished more than keep_days ago go."""
        for job_id in self.jobs.finished_before(utcnow() - timedelta(days=self.keep_days)):
            shutil.rmtree(self.workdir(job_id), ignore_errors=True)

    def log_of(self, job: Job) -> Path:
        return self.workdir(job.id) / "job.log"
