"""Following promotions in the background: tag, pipeline, image digest, proof.

Each unfinished record has one task. The record says how far it got, so a portal restarted
in the middle resumes every unfinished record where it stood (``resume``): the tag is made
idempotently (a tag already on the same commit is the one made before), the pipeline is
found again by tag and commit. GitLab being unreachable, slow or failing is retried with
backoff for as long as it lasts, and shown on the record meanwhile; a refusal ends the
record as an error with GitLab's reason.
"""

from __future__ import annotations

import asyncio
import logging
import time

from . import gitlab as gl_ops
from .gitlab import GitLabAccess, GitLabError
from .proof import checks, job_hashes, tree_sha256
from .records import Promotions
from .registry import Registry, RegistryError

log = logging.getLogger(__name__)
TAIL_LINES, TAIL_CHARS = 40, 6000
PIPELINE_APPEARS_WITHIN = 120  # seconds after the tag; GitLab makes a tag's pipeline within seconds
FAILED = ("failed", "canceled", "skipped")
BUILD_JOB = "build-prod-image"  # images/prod/gitlab-ci.yml: once it succeeded, the image is in the registry


def tail(text: str) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-TAIL_LINES:])[-TAIL_CHARS:]


def stages(pipeline: dict, jobs: list[dict]) -> dict:
    """The pipeline as the page draws it: stages in order, each with its jobs."""
    order: dict[str, list[dict]] = {}
    for job in jobs:
        order.setdefault(job["stage"], []).append(job)
    return {"id": pipeline["id"], "status": pipeline["status"], "web_url": pipeline.get("web_url"),
            "duration": pipeline.get("duration"),
            "stages": [{"name": name, "status": _stage_status(js), "jobs": js} for name, js in order.items()]}


def _stage_status(jobs: list[dict]) -> str:
    statuses = {j["status"] for j in jobs}
    for status in ("failed", "running", "pending", "created", "canceled", "skipped"):
        if status in statuses:
            return status
    return "success"


class Follower:
    def __init__(self, promotions: Promotions, access: GitLabAccess, registry: Registry):
        self.promotions = promotions
        self.access = access
        self.registry = registry
        self.tasks: dict[int, asyncio.Task] = {}

    def resume(self) -> int:
        ids = self.promotions.unfinished()
        for promotion_id in ids:
            self.follow(promotion_id)
        return len(ids)

    def follow(self, promotion_id: int) -> None:
        if promotion_id in self.tasks and not self.tasks[promotion_id].done():
            return
        task = asyncio.create_task(self._run(promotion_id))
        self.tasks[promotion_id] = task
        task.add_done_callback(lambda t: self._ended(promotion_id, t))

    def _ended(self, promotion_id: int, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            log.error("promotion %d: following failed: %s", promotion_id, error, exc_info=error)
            self.promotions.update(promotion_id, status="error", message=f"the portal failed to follow it: {error}")

    async def stop(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    async def _ask(self, promotion_id: int, what: str, fn, *args):
        """fn(*args) until it works or GitLab refuses; an outage is waited out with backoff."""
        delay = self.access.settings.poll_interval
        while True:
            try:
                return await self.access.call(what, fn, *args)
            except GitLabError as e:
                if not e.transient:
                    raise
                self.promotions.update(promotion_id, message=f"{e.message}; retrying in {delay:.0f} s")
                log.warning("promotion %d: %s; retrying in %.1f s", promotion_id, e.message, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60)

    async def _run(self, promotion_id: int) -> None:
        record = self.promotions.get_any(promotion_id)
        try:
            await self._advance(record)
        except GitLabError as e:
            self.promotions.update(promotion_id, status="error", message=e.message)
            log.warning("promotion %d ended: %s", promotion_id, e.message)

    async def _advance(self, record: dict) -> None:
        pid, version, sha = record["id"], record["version"], record["commit"]
        client = await self.access.client(record["created_by"])
        project = await self._ask(pid, "reading the project", client.projects.get, record["project_id"])
        if record["status"] == "pending":
            await self._ask(pid, "creating the tag", gl_ops.create_tag, project, version, sha, record["release_notes"])
            record = self.promotions.update(pid, status="running", message="waiting for the tag's pipeline")
        pipeline_id = record["pipeline_id"] or await self._find_pipeline(pid, project, version, sha)
        if pipeline_id is None:
            return
        state = await self._watch(pid, project, pipeline_id, version)
        if state is None:
            return
        self.promotions.update(pid, message="reading the image and proving it")
        found = await self._ask(pid, "reading the container registry", gl_ops.registry_tag, project, version)
        if not found:
            self.promotions.update(pid, status="error",
                                   message=f"the pipeline succeeded but the registry has no {version}")
            return
        proof = await self._prove(pid, project, record, found, state)
        self.promotions.update(pid, status="success", message="", image=found["location"], digest=found["digest"],
                               checks=proof)
        log.info("promotion %d: %s %s is %s@%s", pid, record["project"], version, found["location"], found["digest"])

    async def _find_pipeline(self, pid: int, project, version: str, sha: str) -> int | None:
        deadline = time.monotonic() + PIPELINE_APPEARS_WITHIN
        while time.monotonic() < deadline:
            found = await self._ask(pid, "looking for the tag's pipeline", gl_ops.find_pipeline, project, version, sha)
            if found:
                self.promotions.update(pid, pipeline_id=found["id"], pipeline_url=found.get("web_url"),
                                       message="pipeline running")
                return found["id"]
            await asyncio.sleep(self.access.settings.poll_interval)
        self.promotions.update(pid, status="error", message=f"no pipeline ran for tag {version} within "
                               f"{PIPELINE_APPEARS_WITHIN} s: is the project set up for promotion (.gitlab-ci.yml)?")
        return None

    async def _watch(self, pid: int, project, pipeline_id: int, version: str) -> list[dict] | None:
        """Poll until the pipeline ends; its jobs on success, None when it failed. The
        image's digest is shown as soon as the build job pushed it, while the verify jobs run."""
        pushed = False
        while True:
            pipeline, jobs = await self._ask(pid, "reading the pipeline", gl_ops.pipeline_state, project, pipeline_id)
            if not pushed and any(j["name"] == BUILD_JOB and j["status"] == "success" for j in jobs):
                found = await self._ask(pid, "reading the container registry", gl_ops.registry_tag, project, version)
                if found:
                    self.promotions.update(pid, image=found["location"], digest=found["digest"])
                    pushed = True
            shown = next((j for j in jobs if j["status"] == "running"), None) or next(
                (j for j in jobs if j["status"] == "failed"), None)
            log_tail = ""
            if shown:
                log_tail = tail(await self._ask(pid, "reading the job log", gl_ops.trace, project, shown["id"]))
            drawn = stages(pipeline, jobs)
            if pipeline["status"] == "success":
                self.promotions.update(pid, pipeline=drawn, log_tail=log_tail)
                return jobs
            if pipeline["status"] in FAILED:
                failing = next((j for j in jobs if j["status"] == "failed"), None)
                errors = pipeline.get("yaml_errors")
                invalid = f": .gitlab-ci.yml is invalid: {errors}" if errors else ""
                why = (f"job {failing['name']} failed ({failing.get('failure_reason') or 'failed'})" if failing
                       else f"the pipeline {pipeline['status']}{invalid}")
                self.promotions.update(pid, status="failed", pipeline=drawn, log_tail=log_tail, message=why)
                return None
            running = shown["name"] if shown and shown["status"] == "running" else pipeline["status"]
            self.promotions.update(pid, pipeline=drawn, log_tail=log_tail, message=f"pipeline running: {running}")
            await asyncio.sleep(self.access.settings.poll_interval)

    async def _prove(self, pid: int, project, record: dict, found: dict, jobs: list[dict]) -> dict:
        logs = {"verify-prod": "", "verify-dev": ""}
        for name in ("verify-prod", "verify-dev"):
            job = next((j for j in jobs if j["name"] == name), None)
            if job:
                logs[name] = await self._ask(pid, f"reading the {name} log", gl_ops.trace, project, job["id"])
        archive = await self._ask(pid, "reading the tagged tree", gl_ops.archive, project, record["commit"])
        dev_digest = dev_layers = None
        image = {"layers": [], "labels": {}}
        try:
            image = await asyncio.to_thread(self.registry.image, f"{found['location']}@{found['digest']}")
            if record["base_image"]:
                dev = await asyncio.to_thread(self.registry.image, record["base_image"])
                dev_digest, dev_layers = dev["digest"], dev["layers"]
        except RegistryError as e:
            log.warning("promotion %d: %s", pid, e)
        return checks(image=image, dev_digest=dev_digest, dev_layers=dev_layers,
                      tree=await asyncio.to_thread(tree_sha256, archive),
                      prod=job_hashes(logs["verify-prod"]), dev=job_hashes(logs["verify-dev"]))
