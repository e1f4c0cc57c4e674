"""GPUs: the machine's inventory, and who holds which within each team's quota.

The container engine is the ledger: every server container carries labels naming its
team and GPU ids, so what is held is read back from the running containers. That survives
a hub restart as it is, and a container that died holds nothing. Spawns between the
check and their container's start are kept in `pending`. One asyncio lock around
list + check + reserve, and around settling, makes a quota hold when many spawns arrive
at once: they all run in the hub's one event loop.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_NVIDIA_SMI_LINE = re.compile(r"^GPU (\d+): ", re.M)
CDI_DIRS = ("/etc/cdi", "/var/run/cdi")


def parse_nvidia_smi(listing: str) -> tuple[str, ...]:
    """GPU indexes from `nvidia-smi -L` ("GPU 0: NVIDIA A100 (UUID: GPU-…)")."""
    return tuple(_NVIDIA_SMI_LINE.findall(listing))


def inventory(configured: Sequence[str] | None) -> tuple[str, ...]:
    """portal.yaml's `gpus` if set, else what nvidia-smi lists, else none."""
    if configured is not None:
        return tuple(configured)
    if not shutil.which("nvidia-smi"):
        return ()
    result = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    return parse_nvidia_smi(result.stdout) if result.returncode == 0 else ()


def cdi_spec_present(dirs: Sequence[str] = CDI_DIRS) -> bool:
    """Whether the host describes its NVIDIA GPUs for CDI (`nvidia-ctk cdi generate`).

    Without such a spec a CDI device request fails the container's creation, so GPUs are
    then given only through NVIDIA_VISIBLE_DEVICES (read by the NVIDIA runtime hook).
    """
    specs = [spec for d in map(Path, dirs) if d.is_dir() for spec in sorted(d.iterdir())
             if spec.suffix in (".yaml", ".json")]
    return any("nvidia.com/gpu" in spec.read_text(errors="replace") for spec in specs)


class GpuRefused(Exception):
    """A spawn that would exceed a quota or the machine; the message is for the user."""


@dataclass(frozen=True)
class Holding:
    team: str
    gpus: tuple[str, ...]


class GpuLedger:
    """GPU ids of one machine; `running` arguments map a server key to its Holding."""

    def __init__(self, gpus: Sequence[str]):
        self.inventory = tuple(gpus)
        self.pending: dict[str, Holding] = {}
        self.lock = asyncio.Lock()

    def _held(self, running: Mapping[str, Holding]) -> dict[str, Holding]:
        return {**running, **self.pending}  # a key in both is one server, counted once

    def used_by(self, team: str, running: Mapping[str, Holding]) -> int:
        return sum(len(h.gpus) for h in self._held(running).values() if h.team == team)

    def free(self, running: Mapping[str, Holding]) -> list[str]:
        taken = {g for h in self._held(running).values() for g in h.gpus}
        return [g for g in self.inventory if g not in taken]

    def reserve(self, key: str, team: str, count: int, quota: int | None,
                running: Mapping[str, Holding]) -> tuple[str, ...]:
        """Exclusive GPU ids for server `key`, held as pending until `settle(key)`."""
        used = self.used_by(team, running)
        if quota is not None and used + count > quota:
            needs = f" and this profile needs {count}" if count > 1 else ""
            raise GpuRefused(f"team {team} uses {used} of {quota} GPUs{needs}: "
                             "stop a server or ask a team admin")
        free = self.free(running)
        if len(free) < count:
            raise GpuRefused(f"{len(free)} of the {len(self.inventory)} GPUs of this machine are free "
                             f"and this profile needs {count}: try again when other servers stop")
        self.pending[key] = Holding(team, tuple(free[:count]))
        return self.pending[key].gpus

    async def settle(self, key: str) -> None:
        """The spawn of `key` is over: its container (if any) now speaks for it.

        Under the lock: a reservation in progress may hold a listing taken before this
        container ran, and must still see the server as pending.
        """
        async with self.lock:
            self.pending.pop(key, None)

    def describe(self, team: str, quota: int | None, running: Mapping[str, Holding]) -> str:
        """What the spawn form says about a team's GPUs."""
        machine_free = len(self.free(running))
        if quota is None:
            return f"{machine_free} of {len(self.inventory)} GPUs free"
        team_free = max(quota - self.used_by(team, running), 0)
        note = f"{min(team_free, machine_free)} of {quota} team GPUs free"
        return note + (f" (the machine has {machine_free} free)" if machine_free < team_free else "")


def gpu_quota(team_properties: Mapping) -> int | None:
    """A team's GPU quota from its hub group properties; None means unlimited."""
    return (team_properties.get("quota") or {}).get("gpus")
