"""Team quotas: what a team's running servers hold (GPUs, CPUs, memory) against its limits.

A server's Holding is its team, its exclusive GPU ids and its CPU and memory limits. The
backend keeps the record of what running servers hold (the engine's container labels, or
the hub's own running local servers), so it needs no bookkeeping of its own and a server
that died holds nothing. Spawns between the check and that record are kept in `pending`.
One asyncio lock around list + check + reserve, and around settling, makes a quota hold
when many spawns arrive at once: they all run in the hub's one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .profiles import ResolvedProfile

#: What a team quota limits (keys of the group property `quota`), as messages name it.
RESOURCES = {"gpus": "GPUs", "cpu": "CPUs", "memory": "memory"}
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


class QuotaRefused(Exception):
    """A spawn that would exceed a quota or the machine; the message is for the user."""


@dataclass(frozen=True)
class Holding:
    team: str
    gpus: tuple[str, ...] = ()
    cpu: float = 0
    memory: int = 0

    def amounts(self) -> dict[str, float]:
        return {"gpus": len(self.gpus), "cpu": self.cpu, "memory": self.memory}


def server_key(user: str, server: str) -> str:
    """How the ledger names a server, in every backend's record."""
    return f"{user}/{server}"


def limits(team_properties: Mapping) -> dict[str, float]:
    """The limits a team's hub group properties set on its servers; an absent one is unlimited."""
    quota = team_properties.get("quota") or {}
    return {r: quota[r] for r in RESOURCES if quota.get(r) is not None}


def human_bytes(n: float) -> str:
    """'32 GiB', '24 MiB', '1.9 GiB': bytes as people read memory sizes."""
    for unit in _BINARY_UNITS:
        if abs(n) < 1024 or unit == _BINARY_UNITS[-1]:
            return f"{round(n, 1):g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def amount(resource: str, value: float) -> str:
    return human_bytes(value) if resource == "memory" else f"{value:g}"


def refusal(team: str, resource: str, used: float, limit: float, need: float) -> str:
    """What a user reads when a server would take the team past its quota, on every backend."""
    return (f"team {team} uses {amount(resource, used)} of {amount(resource, limit)} {RESOURCES[resource]} "
            f"and this profile needs {amount(resource, need)}: stop a server or ask an operator")


def free_note(resource: str, used: float, limit: float) -> str:
    """'1 of 2 team GPUs free': what the spawn form says of one team limit."""
    free = max(round(limit - used, 3), 0)
    return f"{amount(resource, free)} of {amount(resource, limit)} team {RESOURCES[resource]} free"


class Ledger:
    """One machine's GPU ids and the teams' holdings; `running` maps server keys to Holdings."""

    def __init__(self, gpus: Sequence[str] = ()):
        self.inventory = tuple(gpus)
        self.pending: dict[str, Holding] = {}
        self.lock = asyncio.Lock()

    def _held(self, running: Mapping[str, Holding]) -> dict[str, Holding]:
        return {**running, **self.pending}  # a key in both is one server, counted once

    def used_by(self, team: str, running: Mapping[str, Holding]) -> dict[str, float]:
        held = [h.amounts() for h in self._held(running).values() if h.team == team]
        # rounded: 0.1 + 0.2 CPUs must not exceed a quota of 0.3
        return {r: round(sum(a[r] for a in held), 3) for r in RESOURCES}

    def free_gpus(self, running: Mapping[str, Holding]) -> list[str]:
        taken = {g for h in self._held(running).values() for g in h.gpus}
        return [g for g in self.inventory if g not in taken]

    def reserve(self, key: str, profile: ResolvedProfile, team_limits: Mapping[str, float],
                running: Mapping[str, Holding]) -> Holding:
        """What server `key` of `profile` may hold, kept as pending until `settle(key)`.

        Quotas bound the sum of the limits of the team's servers; a resource the profile
        does not use is not checked (a team over a lowered GPU quota may still start CPU
        servers).
        """
        team = profile.team
        used = self.used_by(team, running)
        needs = {"gpus": profile.gpus, "cpu": profile.cpu, "memory": profile.memory}
        for resource, limit in team_limits.items():
            if needs[resource] and round(used[resource] + needs[resource], 3) > limit:
                raise QuotaRefused(refusal(team, resource, used[resource], limit, needs[resource]))
        free = self.free_gpus(running)
        if len(free) < profile.gpus:
            raise QuotaRefused(f"{len(free)} of the {len(self.inventory)} GPUs of this machine are free "
                               f"and this profile needs {profile.gpus}: try again when other servers stop")
        self.pending[key] = Holding(team, tuple(free[:profile.gpus]), profile.cpu, profile.memory)
        return self.pending[key]

    async def settle(self, key: str) -> None:
        """The spawn of `key` is over: the backend's record now speaks for it.

        Under the lock: a reservation in progress may hold a listing taken before this
        server ran, and must still see it as pending.
        """
        async with self.lock:
            self.pending.pop(key, None)

    def describe(self, team: str, team_limits: Mapping[str, float], running: Mapping[str, Holding],
                 gpu_profiles: bool) -> str:
        """What the spawn form says is free for a team: GPUs where it may start GPU
        profiles and the machine has some, CPUs and memory where a limit is set."""
        used, notes = self.used_by(team, running), []
        if gpu_profiles and self.inventory:
            machine = len(self.free_gpus(running))
            if "gpus" not in team_limits:
                notes.append(f"{machine} of {len(self.inventory)} GPUs free")
            else:
                free = max(team_limits["gpus"] - used["gpus"], 0)
                notes.append(f"{min(free, machine)} of {team_limits['gpus']} team GPUs free"
                             + (f" (the machine has {machine} free)" if machine < free else ""))
        notes += [free_note(r, used[r], team_limits[r]) for r in ("cpu", "memory") if r in team_limits]
        return ", ".join(notes)
