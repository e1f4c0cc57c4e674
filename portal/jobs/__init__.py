"""Batch jobs (prod mode): a promoted version's image run with a command on folders of the
team's bucket, on this machine's container engine or through Slurm.

- `spec`: the job description's JSON Schema (job.schema.json) and its resolution;
- `states`: a job's life; `records`: jobs in the portal database;
- `backends`: where jobs run (`containers`, `slurm`), behind one interface;
- `runner`: the background task that moves every job along, also after a restart.
"""

from __future__ import annotations

from pathlib import Path

from spawners.engine import Engine
from spawners.gpus import cdi_spec_present, inventory

from .records import Jobs
from .runner import JobRunner


def runner_for(config, db, store, hub, data, environ) -> JobRunner | None:
    """The deployment's job runner; None where servers do not run on a container engine of
    this machine (local processes, Kubernetes): jobs need one, on either backend."""
    engine = Engine.from_env(environ)
    if engine is None or engine.backend not in ("podman", "docker"):
        return None
    from .backends.containers import ContainerBackend

    containers = ContainerBackend(engine.socket, engine.backend, attach_gpus=cdi_spec_present())
    settings = config.raw["jobs"]
    if settings["backend"] == "slurm":
        from .backends.slurm import SlurmBackend

        backend = SlurmBackend(conf=settings["slurm"]["conf"], partition=settings["slurm"]["partition"],
                               engine=engine.backend if engine.backend == "podman" else "podman")
    else:
        backend = containers

    return JobRunner(Jobs(db), backend, store=store, hub=hub, root=Path(data.root) / "jobs", homes=data.homes,
                     instance_id=data.instance_id, gpus=tuple(inventory(config.gpus)),
                     poll_interval=settings["poll_interval"], keep_days=settings["keep_days"],
                     list_containers=lambda: containers.labelled(f"org.aiportal.portal={data.instance_id}"))
