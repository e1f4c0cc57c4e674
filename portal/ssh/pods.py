"""SSH sessions in a server's pod on Kubernetes: the user's default server's pod, found by
KubeSpawner's labels in the namespace of the team it was started for, and a command run in
its `notebook` container through the API's `exec` — what `kubectl exec` does, without
kubectl in the hub's image, as the pod's user (the user's uid).

`exec` is a WebSocket speaking v5.channel.k8s.io: every frame starts with its channel (0
stdin, 1 stdout, 2 stderr, 3 the final status, 4 the terminal size); v5 adds 255, which
closes a channel, so the end of the client's input reaches the command (`ssh host cmd <
file`), which v4 cannot say.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.stream import WsApiClient
from kubespawner.slugs import is_valid_label, safe_slug

from .target import Container, Unavailable

log = logging.getLogger("portal.ssh")

CONTAINER = "notebook"  # KubeSpawner's name of the server's container
PROTOCOL = "v5.channel.k8s.io"
STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
HIGH_WATER = 1 << 20  # bytes of client input not yet sent before the client is asked to pause


async def find_pod(namespaces, user: str, team: str) -> Container | None:
    """The running pod of `user`'s default server in `team`'s namespace (None: none runs)."""
    namespace = namespaces.cluster.namespace(team)
    selector = ",".join([f"hub.jupyter.org/username={safe_slug(user, is_valid=is_valid_label)}",
                         "hub.jupyter.org/servername=", "component=singleuser-server"])
    try:
        pods = await client.CoreV1Api(await namespaces.client()).list_namespaced_pod(
            namespace, label_selector=selector)
    except (client.ApiException, aiohttp.ClientError, OSError) as e:
        raise Unavailable(f"the cluster did not answer: {getattr(e, 'reason', None) or e}") from None
    for pod in pods.items:
        if pod.status.phase != "Running" or pod.metadata.deletion_timestamp is not None:
            continue
        spec = next((c for c in pod.spec.containers if c.name == CONTAINER), None)
        if spec is not None:
            env = {e.name: e.value for e in spec.env or [] if e.value is not None}
            return Container(pod.metadata.name, spec.working_dir or "/", env.get("HOME") or "/", namespace=namespace)
    return None


def pod_command(argv: list[str], *, term: str | None, workdir: str | None) -> list[str]:
    """`exec` has no working directory or environment of its own: a shell sets them."""
    if workdir is not None:
        argv = ["sh", "-c", 'cd "$1" || exit 1; shift; exec "$@"', "sh", workdir, *argv]
    return ["env", f"TERM={term}", *argv] if term else argv


def exit_status(message: bytes) -> tuple[int, str]:
    """The command's exit status from the status channel's JSON (a metav1.Status), and what
    went wrong when it did not run at all (e.g. the program is not in the image)."""
    try:
        status = json.loads(message)
        if status.get("status") == "Success":
            return 0, ""
        if status.get("reason") == "NonZeroExitCode":
            causes = status["details"]["causes"]
            return int(next(c["message"] for c in causes if c.get("reason") == "ExitCode")), ""
        return 126, status.get("message") or "the command could not run in the pod"
    except (ValueError, KeyError, TypeError, StopIteration):
        return 126, "the cluster's answer about the command could not be read"


class PodProcess:
    """One command running in the pod through `exec`, fed and read by an SSH session."""

    def __init__(self, namespaces, container: Container, argv: list[str], *, tty: bool, term: str | None,
                 workdir: str | None, size, pause: Callable[[], None], resume: Callable[[], None]):
        self.namespaces, self.container, self.tty, self.size = namespaces, container, tty, size
        self.command = pod_command(argv, term=term if tty else None, workdir=workdir)
        self.pause, self.resume = pause, resume  # the SSH channel's reading, for flow control
        self.frames: asyncio.Queue[bytes] = asyncio.Queue()
        self.backlog = 0

    def write(self, data: bytes) -> None:
        self._send(bytes([STDIN]) + data)
        if self.backlog > HIGH_WATER:
            self.pause()

    def close_stdin(self) -> None:
        self._send(bytes([CLOSE, STDIN]))

    def resize(self, size) -> None:
        width, height = size[0], size[1]
        self._send(bytes([RESIZE]) + json.dumps({"Width": width, "Height": height}).encode())

    def _send(self, frame: bytes) -> None:
        self.backlog += len(frame)
        self.frames.put_nowait(frame)

    async def run(self, out: Callable[[bytes], None], err: Callable[[bytes], None], can_write: asyncio.Event) -> int:
        """Until the command ends: the queued input sent, its output passed to `out`/`err`
        (waiting while the client cannot take more) → its exit status."""
        api = WsApiClient((await self.namespaces.client()).configuration)
        try:
            try:
                ws = await (await client.CoreV1Api(api).connect_get_namespaced_pod_exec(
                    self.container.id, self.container.namespace, container=CONTAINER, command=self.command,
                    stdin=True, stdout=True, stderr=not self.tty, tty=self.tty, _preload_content=False,
                    _headers={"sec-websocket-protocol": PROTOCOL}))
            except (aiohttp.ClientError, client.ApiException, OSError) as e:
                raise Unavailable(f"the cluster refused to run it in your pod: {e}") from None
            if self.tty:
                self.resize(self.size)
            sender = asyncio.ensure_future(self._sender(ws))
            try:
                return await self._receive(ws, out, err, can_write)
            finally:
                sender.cancel()
                await ws.close()
        finally:
            await api.close()

    async def _sender(self, ws) -> None:
        while True:
            frame = await self.frames.get()
            await ws.send_bytes(frame)
            self.backlog -= len(frame)
            if self.backlog <= HIGH_WATER // 2:
                self.resume()

    async def _receive(self, ws, out, err, can_write: asyncio.Event) -> int:
        status = None
        async for message in ws:
            if message.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                break
            data = message.data if isinstance(message.data, bytes) else message.data.encode()
            if len(data) < 2:
                continue
            channel, payload = data[0], data[1:]
            if channel in (STDOUT, STDERR):
                await can_write.wait()
                (out if channel == STDOUT else err)(payload)
            elif channel == STATUS:
                status, problem = exit_status(payload)
                if problem:
                    err(f"{problem}\r\n".encode())
        if status is None:
            log.warning("ssh: the exec in pod %s/%s ended without a status",
                        self.container.namespace, self.container.id)
            return 255
        return status
