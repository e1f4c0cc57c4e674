"""Where an SSH session runs: the user's default server's container, and the engine command
that runs a shell, a command or sftp-server in it (on Kubernetes its pod: see pods.py).

The server is the user's dev container, found by this portal's labels (``org.aiportal.portal``,
``org.aiportal.user``, and an empty ``org.aiportal.server`` for the default server). When it
is not running it is started through the hub API with no options, so the hub reuses the
user's last choice of team and profile (or the only team and profile the user has); the
hub's progress messages are passed on while it starts. Commands run through the engine's
CLI (``podman exec`` / ``docker exec``) as the container's user (the user's uid), in its
working directory (/src in dev mode).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import docker
from docker.errors import DockerException
from requests.exceptions import RequestException
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from spawners.engine import API_VERSION, Engine, EngineError, resolve

from ..hub import HubClient, HubError

log = logging.getLogger("portal.ssh")

LABEL = "org.aiportal."
START_TIMEOUT = 600  # seconds to follow a start: more than the slowest backend's start_timeout


class Unavailable(Exception):
    """No container to run in; the message is shown to the SSH client as it is."""


@dataclass(frozen=True)
class Container:
    id: str  # the engine's container id, or the pod's name
    workdir: str  # /src for a dev server, /code for a prod one
    home: str
    namespace: str | None = None  # the pod's namespace, on Kubernetes


def engine_of(config, environ) -> Engine:
    """The engine user servers run on: as `aiportal up` handed it to the hub and the portal
    (AIPORTAL_ENGINE*), else resolved from portal.yaml without starting anything."""
    engine = Engine.from_env(environ)
    if engine is None:
        engine, _ = resolve(config.spawner_backend, config.spawner_socket)
    return engine


def check_backend(engine: Engine, namespaces=None) -> None:
    """Unavailable unless servers are containers this machine's engine CLI can enter, or pods
    of a cluster the portal reaches."""
    if engine.backend == "kubernetes":
        if namespaces is None:
            raise Unavailable("the portal has no access to the cluster its servers run in")
        return
    if engine.backend == "local":
        raise Unavailable("SSH needs servers in containers; this portal runs them as local processes")
    if shutil.which(engine.backend) is None:
        raise Unavailable(f"the {engine.backend} command is not installed on the portal's machine")


def cli(engine: Engine) -> list[str]:
    """The engine's command line, talking to the same API socket as the spawner."""
    if engine.backend == "docker":
        return ["docker", *(["-H", engine.socket] if engine.socket else [])]
    return ["podman"]  # the local store: the same containers `podman system service` serves


def exec_command(engine: Engine, container: Container, argv: list[str], *, tty: bool,
                 term: str | None = None, workdir: str | None = None) -> list[str]:
    """``<engine> exec -i [-t] -w DIR [-e TERM=…] CONTAINER argv…``."""
    return [*cli(engine), "exec", "-i", *(["-t"] if tty else []), "-w", workdir or container.workdir,
            *(["-e", f"TERM={term}"] if term else []), container.id, *argv]


def find_container(engine: Engine, portal_id: str, user: str) -> Container | None:
    """The running container of `user`'s default server on this portal (blocking)."""
    client = docker.APIClient(base_url=engine.socket, version=API_VERSION, timeout=30)
    try:
        listed = client.containers(filters={"label": [f"{LABEL}portal={portal_id}", f"{LABEL}user={user}"],
                                            "status": "running"})
        for c in listed:
            if (c.get("Labels") or {}).get(f"{LABEL}server") == "":
                config = client.inspect_container(c["Id"])["Config"]
                env = dict(e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
                return Container(c["Id"], config.get("WorkingDir") or "/", env.get("HOME") or "/")
        return None
    except (DockerException, RequestException, OSError) as e:
        raise Unavailable(f"the container engine did not answer: {e}") from None
    finally:
        client.close()


class Servers:
    """Starts users' default servers through the hub and finds their containers."""

    def __init__(self, hub: HubClient, engine: Callable[[], Engine], portal_id: str, namespaces=None):
        self.hub = hub
        self._engine = engine
        self._resolved: Engine | None = None
        self.portal_id = portal_id
        self.namespaces = namespaces  # portal.namespaces.TeamNamespaces, when servers are pods

    async def engine(self) -> Engine:
        if self._resolved is None:
            try:
                self._resolved = await asyncio.to_thread(self._engine)
            except EngineError as e:
                raise Unavailable(str(e)) from None
        return self._resolved

    async def keep_active(self, user: str, every: float = 60) -> None:
        """Tell the hub the user's default server is in use now and every `every` seconds, for
        as long as an SSH session runs in it (cancelled at its end): the idle culler counts
        only what the hub hears of, and work over SSH passes by the single-user server."""
        path = f"/users/{quote(user, safe='')}/activity"
        while True:
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            try:
                await self.hub.request("POST", path, {"last_activity": now, "servers": {"": {"last_activity": now}}})
            except HubError as e:
                log.warning("ssh: the activity of %s was not reported: %s", user, e.message)
            await asyncio.sleep(every)

    async def container(self, user: str, say: Callable[[str], None]) -> tuple[Engine, Container]:
        """The user's running default server's container, starting the server first if it is
        not running (its progress messages passed to `say`); Unavailable saying why not."""
        engine = await self.engine()
        check_backend(engine, self.namespaces)
        path = f"/users/{quote(user, safe='')}"
        model = await self.hub.find(path)
        if model is None:
            raise Unavailable(f"no user {user!r} on the hub")
        server = (model.get("servers") or {}).get("")
        if not (server and server.get("ready")):
            if server and server.get("pending") == "stop":
                raise Unavailable("your server is stopping; try again in a moment")
            server = await self.start(path, say, pending=bool(server and server.get("pending") == "spawn"))
        if engine.backend == "kubernetes":
            from .pods import find_pod

            team = (server.get("user_options") or {}).get("team")
            if not team:
                raise Unavailable("your default server was started without a team; stop it and start it "
                                  "from the portal's home page")
            found = await find_pod(self.namespaces, user, team)
        else:
            found = await asyncio.to_thread(find_container, engine, self.portal_id, user)
        if found is None:
            raise Unavailable("your default server is not running in a container of this portal")
        return engine, found

    async def start(self, path: str, say: Callable[[str], None], pending: bool) -> dict:
        """Start the user's default server (unless its start is `pending` already) and pass
        the hub's progress messages to `say` until it is ready (→ its model); Unavailable if
        it is not.

        The hub answers the POST once the server is up or after its slow_spawn_timeout
        (10 s), so the progress is followed meanwhile, not after it.
        """
        seen: set[str] = set()
        post = None
        if not pending:
            say("Starting your server…")
            post = asyncio.ensure_future(self.hub.request("POST", f"{path}/server"))
        try:
            deadline = asyncio.get_running_loop().time() + START_TIMEOUT
            while asyncio.get_running_loop().time() < deadline:
                if post is not None and post.done():
                    post.result()  # a refused start: HubError
                try:
                    if await self.follow(f"{path}/server/progress", say, seen):
                        break
                except Unavailable:
                    if post is not None:  # the hub's answer to the start says it best
                        await asyncio.wait([post], timeout=30)
                        if post.done():
                            post.result()
                    raise
                if post is None or post.done():
                    break  # started (or failed) between two looks: the model says which
                await asyncio.wait([post], timeout=0.2)
            if post is not None:
                await post
        except HubError as e:
            raise Unavailable(f"the hub could not start your server: {e.message}") from None
        finally:
            if post is not None and not post.done():
                post.cancel()
        model = await self.hub.find(path)
        server = ((model or {}).get("servers") or {}).get("")
        if not (server and server.get("ready")):
            raise Unavailable("your server did not start; see the portal's home page for why")
        return server

    async def follow(self, path: str, say: Callable[[str], None], seen: set[str]) -> bool:
        """Pass the hub's progress messages not `seen` yet to `say`; True once the stream
        said the server is ready, Unavailable if it said the start failed."""
        buffer = b""
        outcome: dict = {}

        def chunk(data: bytes) -> None:
            nonlocal buffer
            buffer += data
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                for line in event.splitlines():
                    if not line.startswith(b"data:"):
                        continue
                    try:
                        message = json.loads(line[5:])
                    except ValueError:
                        continue
                    if message.get("failed"):
                        outcome["failed"] = message.get("message") or "the start failed"
                    elif message.get("ready"):
                        outcome["ready"] = True
                    elif (text := message.get("message")) and text not in seen:
                        seen.add(text)
                        say(text)

        try:
            await AsyncHTTPClient().fetch(
                f"{self.hub.api_url}{path}", headers={"Authorization": f"token {self.hub.token}"},
                streaming_callback=chunk, request_timeout=START_TIMEOUT)
        except HTTPClientError:
            pass  # no stream (not pending yet, or any more): the caller looks again
        if "failed" in outcome:
            raise Unavailable(f"your server did not start: {outcome['failed']}")
        return "ready" in outcome
