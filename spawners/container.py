"""User servers as containers through the Docker API (Podman or Docker).

`container_spec` is the whole container, built from a resolved profile: a pure function,
tested by comparing dicts. ContainerTeamSpawner holds only what DockerSpawner does not do:
GPUs, CPUs and memory within team quotas (the containers' labels are the ledger's record),
the user's named account, home and /src, and removing containers that died.

Networking: servers are on the engine's bridge network with their port published on the
host's 127.0.0.1 only, and reach the hub at the host's bridge address. Services that
listen on the host's loopback only (the S3 server's internal ports, the proxy's API) are
out of their reach; host networking would expose them to every server.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from docker.errors import APIError, ImageNotFound, NotFound
from dockerspawner import DockerSpawner
from traitlets import Any, Bool, Int, List, Unicode, default

from .engine import HOST_ALIASES
from .homes import SHELL, Home, ensure_home, home_in_container, write_account
from .profiles import ResolvedProfile
from .quotas import Holding, Ledger, server_key
from .team import TeamSpawnerMixin, refuse

LABEL_PREFIX = "org.aiportal."
SERVER_PORT = 8888  # inside the container; published on a random host port


def label(name: str) -> str:
    return LABEL_PREFIX + name


def gpu_request(engine: str, ids: tuple[str, ...]) -> dict:
    """host_config entries attaching GPUs: CDI devices on Podman (it ignores Docker's
    DeviceRequests), the NVIDIA device driver on Docker."""
    if not ids:
        return {}
    if engine == "podman":
        return {"devices": [f"nvidia.com/gpu={i}" for i in ids]}
    return {"device_requests": [{"Driver": "nvidia", "DeviceIDs": list(ids), "Capabilities": [["gpu"]]}]}


def via_host(env: dict[str, str], alias: str) -> dict[str, str]:
    """The environment with loopback endpoints (the team's S3) pointed at the host, as the
    container sees it: 127.0.0.1 inside a container is the container itself."""
    out = dict(env)
    for key in ("AWS_ENDPOINT_URL",):
        if key in out:
            url = urlsplit(out[key])
            if url.hostname in ("127.0.0.1", "localhost"):
                out[key] = urlunsplit(url._replace(netloc=f"{alias}:{url.port}" if url.port else alias))
    return out


def home_tmpfs(engine: str, home: Home) -> str:
    """tmpfs options of an empty home owned by the server's uid (Podman: `U`; Docker takes
    the kernel's uid= and gid=, which Podman refuses)."""
    if engine == "podman":
        return "rw,mode=0700,U"
    return f"rw,mode=0700,uid={home.uid},gid={home.gid}"


def container_spec(profile: ResolvedProfile, *, name: str, portal: str, user: str, server: str,
                   command: list[str], env: dict[str, str], home: Home, account: Path,
                   gpu_ids: tuple[str, ...] = (), engine: str = "podman", attach_gpus: bool = False) -> dict:
    """create_container keyword arguments; `host_config` is create_host_config's.

    The server runs as the user's host uid, named as the user by the passwd and group files
    in `account` (mounted read-only over the image's), with HOME /home/<user>. Dev mode
    mounts the user's home there (it persists on the host) and its src folder at /src, and
    starts in /src. Prod mode gets neither: an empty home in memory, and the image's /code,
    so it runs as in production, with no dotfiles of the user's changing its behaviour.
    `gpu_ids` are always named in NVIDIA_VISIBLE_DEVICES ("void": none) and attached as
    devices with `attach_gpus`. The labels record what the server holds against its team's
    quota (see `holdings`); a released version's also its promotion and version.
    """
    dev = profile.mode == "dev"
    gpus = ",".join(gpu_ids)
    user_home = home_in_container(user)
    binds = {str(account / "passwd"): {"bind": "/etc/passwd", "mode": "ro"},
             str(account / "group"): {"bind": "/etc/group", "mode": "ro"}}
    if dev:
        binds |= {str(home.path): {"bind": user_home, "mode": "rw"},
                  str(home.src): {"bind": "/src", "mode": "rw"}}
    host_config = {
        "network_mode": "bridge",
        "port_bindings": {SERVER_PORT: ("127.0.0.1",)},
        "binds": binds,
        **({} if dev else {"tmpfs": {user_home: home_tmpfs(engine, home)}}),
        "nano_cpus": int(profile.cpu * 1e9),
        "mem_limit": profile.memory,
        "security_opt": ["no-new-privileges"],
        **(gpu_request(engine, gpu_ids) if attach_gpus else {}),
    }
    if engine == "docker":  # Podman names the host host.containers.internal by itself
        host_config["extra_hosts"] = {"host.docker.internal": "host-gateway"}
    return {
        "image": profile.image,
        "name": name,
        "command": command,
        "user": f"{home.uid}:{home.gid}",
        "working_dir": "/src" if dev else "/code",
        "environment": {**env, "HOME": user_home, "USER": user, "SHELL": SHELL,
                        "NVIDIA_VISIBLE_DEVICES": gpus or "void",
                        "CPU_LIMIT": str(profile.cpu), "MEM_LIMIT": str(profile.memory)},
        "labels": {label("portal"): portal, label("team"): profile.team, label("user"): user,
                   label("server"): server, label("profile"): profile.profile, label("gpus"): gpus,
                   label("cpu"): str(profile.cpu), label("memory"): str(profile.memory),
                   **({label("promotion"): str(profile.promotion), label("version"): profile.version}
                      if profile.promotion is not None else {})},
        "ports": [SERVER_PORT],
        "host_config": host_config,
    }


def holdings(containers: list[dict]) -> dict[str, Holding]:
    """What each server holds, by server key, from the labels of a container listing.

    A container from before the cpu and memory labels holds none of either.
    """
    held = {}
    for c in containers:
        labels = c.get("Labels") or {}
        if label("team") in labels:
            key = server_key(labels.get(label("user"), ""), labels.get(label("server"), ""))
            gpus = tuple(filter(None, labels.get(label("gpus"), "").split(",")))
            held[key] = Holding(labels[label("team")], gpus, float(labels.get(label("cpu")) or 0),
                                int(labels.get(label("memory")) or 0))
    return held


class ContainerTeamSpawner(TeamSpawnerMixin, DockerSpawner):
    """A server per (user, name) in a fresh container of its profile's image."""

    engine = Unicode("podman", config=True, help="podman or docker: how GPUs are requested.")
    homes = Unicode(config=True, help="Folder of the users' homes on the host (<data-dir>/homes).")
    accounts = Unicode(config=True, help="Folder of the users' passwd and group files on the host, "
                       "mounted in their containers (default: `accounts` beside `homes`).")
    portal_id = Unicode(config=True, help="Labels this portal's containers; portals sharing an engine "
                        "see only their own.")
    gpus = List(Unicode(), config=True, help="GPU ids of this machine (portal.yaml `gpus` or nvidia-smi).")
    attach_gpus = Bool(False, config=True, help="Attach GPUs as devices; without, only "
                       "NVIDIA_VISIBLE_DEVICES names them (hosts without NVIDIA's CDI spec).")
    home = Any(None, allow_none=True, help="The user's Home on the host, for the current spawn.")
    account = Any(None, allow_none=True, help="Folder of the user's passwd and group, for the current spawn.")
    concurrent_starts = Int(config=True, help="Servers starting at once; others wait their turn, so a "
                            "rush of users cannot starve the hub and the running servers of CPU. "
                            "Default: the machine's CPU count less one (at least 1).")

    _starting: asyncio.Semaphore | None = None

    @default("concurrent_starts")
    def _concurrent_starts_default(self):
        return max(1, (os.cpu_count() or 1) - 1)

    @default("accounts")
    def _accounts_default(self):
        return str(Path(self.homes).parent / "accounts")

    @default("remove")
    def _remove_default(self):
        return True  # every start builds a fresh container from the chosen profile

    @default("prefix")
    def _prefix_default(self):
        return f"aiportal-{self.portal_id}"

    def new_ledger(self) -> Ledger:
        return Ledger(self.gpus)

    @property
    def starting(self) -> asyncio.Semaphore:
        cls = type(self)
        if cls._starting is None:
            cls._starting = asyncio.Semaphore(self.concurrent_starts)
        return cls._starting

    async def running_holdings(self) -> dict[str, Holding]:
        containers = await self.docker("containers", filters={"label": f"{label('portal')}={self.portal_id}"})
        return holdings(containers)

    async def start(self):
        profile = self.profile
        self.image = profile.image
        try:
            self.home = ensure_home(Path(self.homes), self.user.name)
            self.account = write_account(Path(self.accounts), self.user.name, self.home)
        except ValueError as e:
            raise refuse(str(e)) from None
        async with self.reserved():  # not delayed by `starting`: refusals come at once
            try:
                async with self.starting:
                    ip, port = await super().start()
                    await self.answering(f"http://{ip}:{port}{self.server.base_url}api")
                return ip, port
            except APIError as e:  # ImageNotFound: the pull did not get it (Podman's pull reports no error)
                raise refuse(f"the container engine could not start {profile.image}: {e.explanation or e}",
                             500, failure="image" if isinstance(e, ImageNotFound) else "error") from None

    async def pull_image(self, image):
        """DockerSpawner's pull, and also a released version's `repository@digest`, which
        DockerSpawner would split at the digest's colon as if it were a tag (a reference
        Docker refuses and Podman did not pull here). A digest names one image for good: one
        that is present is current. A refused pull is an image failure."""
        try:
            if "@" not in image:
                return await super().pull_image(image)
            try:
                await self.docker("inspect_image", image)
            except NotFound:
                self.log.info("pulling image %s", image)
                repository, digest = image.split("@", 1)
                await self.docker("pull", repository, digest)
        except APIError as e:
            raise refuse(f"the container engine could not pull {image}: {e.explanation or e}", 500,
                         failure="image") from None

    async def create_object(self):
        spec = container_spec(
            self.profile, name=self.object_name, portal=self.portal_id, user=self.user.name,
            server=self.name, command=await self.get_command(),
            env=via_host(self.get_env(), HOST_ALIASES[self.engine]), home=self.home,
            account=self.account, gpu_ids=self.holding.gpus, engine=self.engine, attach_gpus=self.attach_gpus)
        spec["host_config"] = self.client.create_host_config(**spec["host_config"])
        return await self.docker("create_container", **spec)

    async def poll(self):
        status = await super().poll()
        if status is not None and self.object_id:
            # The hub stops a dead server without calling stop(): remove its container here,
            # or it would keep its name and published port.
            await self.remove_object()
            self.object_id = ""
        return status
