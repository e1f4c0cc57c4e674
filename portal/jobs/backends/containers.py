"""Jobs as containers of this machine's engine (Podman or Docker, through the Docker API),
like the servers: the same engine, the same labels (so the hub's quota ledger counts a
running job against its team), the same GPU attachment.

A job's container has no network: its inputs are staged into /data/in and its outputs
collected from /data/out by the portal, so patient data cannot leave through a job.
The container is kept after it exits until the runner has read its logs (`remove`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import docker
from docker.errors import APIError, ImageNotFound, NotFound

from spawners.container import gpu_request
from spawners.engine import API_VERSION

from . import BackendRefused, BackendUnavailable, JobBackend, Observed, RunPlan


class ContainerBackend(JobBackend):
    name = "containers"

    def __init__(self, socket: str, engine: str = "podman", attach_gpus: bool = False):
        self.socket, self.engine, self.attach_gpus = socket, engine, attach_gpus

    async def _with_client(self, work):
        """`work(client)` in a thread; the engine not answering is BackendUnavailable."""
        def call():
            with docker.APIClient(base_url=self.socket, version=API_VERSION, timeout=60) as client:
                return work(client)
        try:
            return await asyncio.to_thread(call)
        except (NotFound, ImageNotFound):
            raise
        except APIError as e:
            if e.is_server_error() and "no such" not in str(e).lower():
                raise BackendUnavailable(f"the container engine failed: {e.explanation or e}") from None
            raise
        except (docker.errors.DockerException, OSError) as e:
            raise BackendUnavailable(f"the container engine does not answer: {e}") from None

    async def _call(self, method: str, *args, **kwargs):
        return await self._with_client(lambda client: getattr(client, method)(*args, **kwargs))

    async def _ensure_image(self, image: str) -> None:
        try:
            await self._call("inspect_image", image)
            return
        except (NotFound, ImageNotFound):
            pass
        try:  # a promoted version's repository@digest: the digest goes as the tag (see spawners/container.py)
            await self._call("pull", *image.split("@", 1)) if "@" in image else await self._call("pull", image)
            await self._call("inspect_image", image)
        except (APIError, NotFound, ImageNotFound) as e:
            raise BackendRefused(f"image {image} is not on this machine and could not be pulled: "
                                 f"{getattr(e, 'explanation', None) or e}", reason="image") from None

    async def start(self, plan: RunPlan) -> str:
        await self._ensure_image(plan.image)
        host_config = {
            "network_mode": "none",
            "binds": {str(plan.workdir / "in"): {"bind": "/data/in", "mode": "ro"},
                      str(plan.workdir / "out"): {"bind": "/data/out", "mode": "rw"}},
            "nano_cpus": int(plan.cpu * 1e9), "mem_limit": plan.memory,
            "security_opt": ["no-new-privileges"],
            **(gpu_request(self.engine, plan.gpu_ids) if self.attach_gpus else {}),
        }
        environment = {**plan.env, "HOME": "/tmp", "NVIDIA_VISIBLE_DEVICES": ",".join(plan.gpu_ids) or "void"}

        def create(client) -> str:
            found = client.containers(all=True, filters={"name": f"^{plan.name}$"})
            if found:  # started before a restart of the portal: that one is the job
                return found[0]["Id"]
            created = client.create_container(
                image=plan.image, name=plan.name, command=list(plan.command), user=f"{plan.uid}:{plan.gid}",
                environment=environment, labels=plan.labels, host_config=client.create_host_config(**host_config))
            client.start(created["Id"])
            return created["Id"]

        try:
            return await self._with_client(create)
        except APIError as e:
            raise BackendRefused(f"the container engine could not start the job: {e.explanation or e}") from None

    async def observe(self, backend_id: str, plan: RunPlan) -> Observed:
        try:
            state = (await self._call("inspect_container", backend_id))["State"]
        except NotFound:
            return Observed("gone", message="the job's container is gone")
        if state.get("Running") or state.get("Status") in ("running", "paused", "stopping"):
            return Observed("running")
        if state.get("Status") in ("created", "configured", "initialized"):
            return Observed("pending")
        message = "out of memory: the job used more than its memory limit" if state.get("OOMKilled") else (
            state.get("Error") or "")
        return Observed("exited", exit_code=int(state.get("ExitCode", -1)), message=message)

    async def cancel(self, backend_id: str, plan: RunPlan) -> None:
        try:
            await self._call("stop", backend_id, timeout=5)
        except NotFound:
            pass

    async def logs(self, backend_id: str, plan: RunPlan) -> bytes:
        try:
            return await self._call("logs", backend_id, stdout=True, stderr=True)
        except NotFound:
            return plan.log_path.read_bytes() if plan.log_path.exists() else b""

    async def labelled(self, selector: str) -> list[dict]:
        """The engine's containers (running or not) with this label (`key=value`)."""
        return await self._call("containers", all=True, filters={"label": selector})

    async def watch(self, selector: str, changed: Callable[[dict], None]) -> None:
        """Until the engine's event stream ends: `changed(labels)` (called from another thread)
        each time a container with this label (`key=value`) exits, so the runner collects it
        at once rather than at its next poll. The stream is read in a daemon thread of its
        own: it lasts as long as the portal and must not hold a worker of the shared pool,
        nor the portal's exit. (Podman's Docker API does not filter on the event's name, so
        that is checked here.)"""
        loop = asyncio.get_running_loop()
        ended = loop.create_future()

        def stream() -> None:
            try:
                with docker.APIClient(base_url=self.socket, version=API_VERSION, timeout=None) as client:
                    for event in client.events(decode=True, since=int(time.time()),
                                               filters={"type": "container", "label": selector}):
                        if event.get("Action") == "die":
                            changed((event.get("Actor") or {}).get("Attributes") or {})
                outcome = BackendUnavailable("the container engine ended its event stream")
            except Exception as e:  # noqa: BLE001 - handed to the awaiting task, which logs it
                outcome = BackendUnavailable(f"the container engine's event stream failed: {e}")
            try:
                loop.call_soon_threadsafe(lambda: ended.done() or ended.set_exception(outcome))
            except RuntimeError:
                pass  # the loop is closed: nobody is waiting any more

        threading.Thread(target=stream, name="job-events", daemon=True).start()
        await ended

    async def remove(self, backend_id: str) -> None:
        """Once its logs are kept in the job's folder, the exited container goes."""
        try:
            await self._call("remove_container", backend_id, force=True)
        except NotFound:
            pass
