"""Which container engine runs user servers: Podman or Docker through the Docker API, or none.

Both engines speak the Docker API on a socket (Podman through `podman system service`),
so one spawner serves both; they differ only in how GPUs are requested and in the name
containers use for the host. Local processes are never a silent fallback: they run only
when portal.yaml asks for them, and never as root; without an engine the start fails
and says how to fix it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import DockerException
from requests.exceptions import RequestException

from portal.lifeline import tied_to_this_thread

DOCKER_SOCKET = "unix:///var/run/docker.sock"
# The Docker API version every client of ours speaks (Docker and Podman both serve it):
# pinned, because "auto" asks `/version` first, which costs Podman about 0.4 s of CPU
# (it runs conmon, the OCI runtime and dpkg to report theirs) for every client made.
API_VERSION = "1.41"
#: How a container on the engine's default bridge network reaches the host (the hub).
HOST_ALIASES = {"podman": "host.containers.internal", "docker": "host.docker.internal"}


class EngineError(RuntimeError):
    """The configured engine cannot be used (one line, shown by `aiportal up`)."""


@dataclass(frozen=True)
class Engine:
    backend: str  # podman, docker, local or kubernetes
    socket: str | None
    reason: str  # why this backend, for the log and the spawn page

    def as_env(self) -> dict[str, str]:
        """How `aiportal up` hands its choice to the hub process."""
        return {"AIPORTAL_ENGINE": self.backend, "AIPORTAL_ENGINE_SOCKET": self.socket or "",
                "AIPORTAL_ENGINE_REASON": self.reason}

    @classmethod
    def from_env(cls, env) -> Engine | None:
        if not env.get("AIPORTAL_ENGINE"):
            return None
        return cls(env["AIPORTAL_ENGINE"], env.get("AIPORTAL_ENGINE_SOCKET") or None,
                   env.get("AIPORTAL_ENGINE_REASON", ""))


def podman_socket() -> str:
    """Where `podman system service` listens by default (and podman.socket for systemd)."""
    if os.geteuid() == 0:
        return "unix:///run/podman/podman.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/podman-{os.getuid()}"
    return f"unix://{runtime}/podman/podman.sock"


def wait_until_answers(socket: str, timeout: float = 60) -> None:
    """Block until the engine's API answers (the launcher may still be starting it)."""
    deadline = time.monotonic() + timeout
    while not probe(socket, timeout=1) and time.monotonic() < deadline:
        time.sleep(0.1)


def probe(socket: str, timeout: float = 3) -> str | None:
    """'podman' or 'docker' when a Docker API answers at `socket`, else None.

    Asks `/_ping`, whose headers name Podman (Libpod-Api-Version): Podman's `/version`
    takes about 0.4 s (it runs conmon and the OCI runtime to ask theirs), and start-up
    waits on this.
    """
    try:
        client = docker.APIClient(base_url=socket, version=API_VERSION, timeout=timeout)
        try:
            response = client.get(f"{client.base_url}/_ping", timeout=timeout)  # a requests.Session
        finally:
            client.close()
    except (DockerException, RequestException, OSError):
        return None
    if not response.ok:
        return None
    return "podman" if "Libpod-Api-Version" in response.headers else "docker"


def bridge_gateway(engine: Engine, timeout: float = 5) -> str:
    """The host's address on the engine's default bridge network: where containers started
    there reach the host (``host.containers.internal`` on rootful Podman).

    Podman (netavark) creates its bridge interface only while a container uses it, so
    this address may not be assigned yet: bind it with IP_FREEBIND.
    """
    client = docker.APIClient(base_url=engine.socket, version=API_VERSION, timeout=timeout)
    try:
        network = client.inspect_network("podman" if engine.backend == "podman" else "bridge")
    except (DockerException, RequestException, OSError) as e:
        raise EngineError(f"cannot read the {engine.backend} bridge network at {engine.socket}: {e}") from None
    finally:
        client.close()
    gateways = [c["Gateway"] for c in (network.get("IPAM") or {}).get("Config") or [] if c.get("Gateway")]
    if not gateways:
        raise EngineError(f"the {engine.backend} bridge network {network.get('Name')!r} has no gateway address")
    return gateways[0]


class PodmanService:
    """`podman system service` run for the portal's lifetime, when no socket answered.

    Containers do not depend on it (conmon supervises them), so stopping it leaves
    running servers running. It gets SIGTERM when the thread that launched it dies, even
    when that process is killed outright (``portal.lifeline``).
    """

    def __init__(self, socket: str, log_path: Path):
        if not socket.startswith("unix://"):
            raise EngineError(f"cannot start podman system service on {socket}: only unix:// sockets")
        self.socket = socket
        self.path = Path(socket[len("unix://"):])
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15) -> PodmanService:
        return self.launch().wait_ready(timeout)

    def launch(self) -> PodmanService:
        """Start the process without waiting for it to answer (see wait_ready)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)  # a stale socket file of a dead service blocks the bind
        # cwd: conmon, which it starts per container, drops an "oom" file in its working
        # directory when a container is OOM-killed; keep that next to the log.
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(["podman", "system", "service", "--time=0", self.socket],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.log_path.parent, start_new_session=True,
                                         preexec_fn=tied_to_this_thread())
        return self

    def wait_ready(self, timeout: float = 60) -> PodmanService:
        """A minute: on a busy machine the service, which scans its containers first, took over 15 s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EngineError(f"podman system service exited with status {self.proc.returncode} "
                                  f"(see {self.log_path})")
            if probe(self.socket, timeout=1):
                return self
            time.sleep(0.1)
        self.stop()
        raise EngineError(f"podman system service did not answer on {self.socket} within {timeout:.0f} s "
                          f"(see {self.log_path})")

    def stop(self, timeout: float = 10) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def resolve(backend: str = "auto", socket: str | None = None, service_log: Path | None = None,
            wait: bool = True) -> tuple[Engine, PodmanService | None]:
    """The engine to use, and the Podman service started for it (None if it was running).

    With `service_log` None nothing is started (the hub process only looks). With `wait`
    False a started service may not answer yet: call its wait_ready().
    """
    if backend == "local":
        if os.geteuid() == 0:
            raise EngineError("spawner.backend is local, which runs servers as the portal's own user, and "
                              "that is root: run aiportal as an unprivileged user, or use containers "
                              "(spawner.backend: auto with podman installed)")
        return Engine("local", None, "spawner.backend is local in portal.yaml"), None
    if backend == "kubernetes":
        return Engine("kubernetes", None, "spawner.backend is kubernetes in portal.yaml"), None
    candidates = [socket] if socket else {"podman": [podman_socket()], "docker": [DOCKER_SOCKET],
                                          "auto": [podman_socket(), DOCKER_SOCKET]}[backend]
    for candidate in candidates:
        kind = probe(candidate)
        if kind:
            return Engine(kind, candidate, f"{kind} API at {candidate}"), None
    podman = shutil.which("podman")
    if backend in ("auto", "podman") and podman and service_log is not None:
        # Without a configured socket, a private one: another portal on this machine may
        # stop the service it started, and must not take ours down with it.
        own = socket or f"unix://{Path(service_log).parent / 'podman.sock'}"
        service = PodmanService(own, service_log).launch()
        if wait:
            service.wait_ready()
        return Engine("podman", service.socket, f"podman system service started at {service.socket}"), service
    where = ", ".join(candidates)
    if backend != "auto":
        missing = "" if podman or backend == "docker" else " and podman is not installed"
        raise EngineError(f"spawner.backend is {backend} but no engine answers at {where}{missing}")
    fix = ("podman's API service is not running; start it (aiportal up does)" if podman else
           "podman is not installed; install podman (make up does it as root)")
    raise EngineError(f"no container engine: nothing answers at {where} and {fix} "
                      "or set spawner.backend: local in portal.yaml")
