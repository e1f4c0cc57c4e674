"""Where jobs run: the container engine of this machine (`containers`) or a Slurm cluster
(`slurm`), behind one small interface, so the runner, the states, the logs and the API are
the same whichever runs them.

A backend is told a RunPlan (everything resolved: image, command, limits, the job's folders
on this machine) and answers with an id it can be asked about again, also by a portal that
restarted: it keeps no state of its own in memory.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

#: What a backend may say of a job it was given.
OBSERVED = ("pending", "running", "exited", "timeout", "cancelled", "gone")


class BackendUnavailable(Exception):
    """The backend cannot be reached now (the engine or slurmctld is down): try again later;
    the job is kept as it was."""


class BackendRefused(Exception):
    """The backend will never run this plan (e.g. its image does not exist): the job fails
    with this message; `reason` is a short code (image, error)."""

    def __init__(self, message: str, reason: str = "error"):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RunPlan:
    """One job, resolved. `workdir` holds `in/` (the staged inputs, mounted read-only at
    /data/in), `out/` (mounted at /data/out) and `job.log` (the backend writes the job's
    stdout and stderr there, or `logs` reads them from where it keeps them)."""

    job_id: int
    name: str  # the engine's name for it: unique per portal (aiportal-<instance>-job-<id>)
    team: str
    user: str
    image: str
    command: tuple[str, ...]
    env: dict = field(default_factory=dict)
    cpu: float = 1
    memory: int = 2 * 2**30
    gpus: int = 0
    gpu_ids: tuple[str, ...] = ()  # for the containers backend: which of the machine's GPUs
    walltime: int = 3600  # seconds
    workdir: Path = Path("/nonexistent")
    uid: int = 65534
    gid: int = 65534
    labels: dict = field(default_factory=dict)  # the engine labels that count it against the team's quota

    @property
    def log_path(self) -> Path:
        return self.workdir / "job.log"


@dataclass(frozen=True)
class Observed:
    state: str  # one of OBSERVED
    exit_code: int | None = None
    message: str = ""


class JobBackend(ABC):
    name: str

    @abstractmethod
    async def start(self, plan: RunPlan) -> str:
        """Start (or queue) the plan; → the backend's id of it. BackendUnavailable: nothing
        was started, ask again later; BackendRefused: it never will be."""

    @abstractmethod
    async def observe(self, backend_id: str, plan: RunPlan) -> Observed:
        """What became of it. BackendUnavailable when the backend cannot say now."""

    @abstractmethod
    async def cancel(self, backend_id: str, plan: RunPlan) -> None:
        """Stop it (its state becomes cancelled); nothing if it has ended."""

    @abstractmethod
    async def logs(self, backend_id: str, plan: RunPlan) -> bytes:
        """Its stdout and stderr so far (the whole of it once it ended)."""
