"""Jobs benchmark: 20 short jobs submitted at once through the portal API, until all have
finished, against the same 20 containers run directly with the engine; and (with Slurm)
the same 20 jobs on the Slurm backend against 20 direct `sbatch` of the same job script.

The direct runs use what the portal's backends use (the same image, command, user, limits,
no network, the /data mounts; for Slurm the backend's own job script), so the ratio is what
the portal adds: the API, the runner's admission, staging and polling, the log and output
collection. Five rounds, each a portal run and a direct run side by side (alternating which
goes first); the ratio is the median of the rounds' ratios. Runs alone
(`.venv/bin/python benchmarks/jobs.py`); the last line is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.teams import start  # noqa: E402
from portal.jobs.backends import RunPlan  # noqa: E402
from portal.jobs.backends.containers import ContainerBackend  # noqa: E402
from portal.jobs.backends.slurm import SlurmBackend  # noqa: E402
from portal.tokens import new_token  # noqa: E402
from tests.http import TimedSession  # noqa: E402
from tests.slurm import SlurmCluster  # noqa: E402

JOBS = 20
IMAGE = "localhost/aiportal-dev:latest"
COMMAND = ["/bin/sh", "-c", "sleep 1; echo ok > /data/out/ok.txt; echo done"]
TARGET = 1.3
USER = "bench"
CONFIG = {
    "hub": {"admin_users": ["admin"]},
    "profiles": {"cpu": {"display_name": "CPU", "image": IMAGE, "cpu": 0.1, "memory": "128Mi"}},
    "teams": [{"name": "bench", "members": [USER], "profiles": ["cpu"]}],
}
FINISHED = ("succeeded", "failed", "timeout", "cancelled")


def through_portal(portal) -> float:
    api = TimedSession()
    api.headers["Authorization"] = f"token {new_token(portal.data.root, USER, str(portal.config_path))}"
    base = f"{portal.url}services/portal/api/v1/teams/bench/jobs"
    spec = {"profile": "cpu", "command": COMMAND, "resources": {"cpu": 0.1, "memory": "128Mi"}, "walltime": 300}
    t0 = time.monotonic()
    with ThreadPoolExecutor(JOBS) as pool:
        ids = [r.json()["id"] for r in pool.map(lambda _: api.post(base, json=spec), range(JOBS))]
    while True:
        jobs = api.get(base, params={"limit": 1000}).json()["items"]
        mine = [j for j in jobs if j["id"] in ids]
        if all(j["state"] in FINISHED for j in mine):
            break
        time.sleep(0.2)
    seconds = time.monotonic() - t0
    bad = [j for j in mine if j["state"] != "succeeded"]
    if bad:
        raise SystemExit(f"jobs did not succeed: {bad[:2]}")
    return seconds


def directly(backend, tmp: Path) -> float:
    """The same jobs handed to the backend at once (the containers themselves, or `sbatch` of
    the backend's own job script), waited for, logs read."""

    async def one(i: int) -> None:
        workdir = tmp / f"direct-{i}"
        (workdir / "in").mkdir(parents=True)
        (workdir / "out").mkdir()
        (workdir / "out").chmod(0o777)
        plan = RunPlan(job_id=10_000 + i, name=f"aiportal-bench-{tmp.name}-{i}", team="bench", user=USER,
                       image=IMAGE, command=tuple(COMMAND), cpu=0.1, memory=128 * 2**20, workdir=workdir)
        cid = await backend.start(plan)
        while (await backend.observe(cid, plan)).state in ("pending", "running"):
            await asyncio.sleep(0.2)
        await backend.logs(cid, plan)
        if isinstance(backend, ContainerBackend):
            await backend.remove(cid)

    async def all_of_them() -> float:
        t0 = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(JOBS)))
        return time.monotonic() - t0

    return asyncio.run(all_of_them())


def compare(portal, backend, tmp: Path, rounds: int = 5) -> dict:
    """After a warm-up, `rounds` rounds of one portal run and one direct run, side by side in
    time and in alternating order (the machine's load drifts); → the median of the rounds'
    ratios and the median seconds of each."""
    through_portal(portal)  # warm-up: the image in the page cache, the runner's first ticks
    measured = []
    for round_ in range(rounds):
        folder = tmp / f"{backend.name}-{round_}"
        if round_ % 2:
            portal_s, direct = through_portal(portal), directly(backend, folder)
        else:
            direct, portal_s = directly(backend, folder), through_portal(portal)
        print(f"{backend.name} round {round_}: portal {portal_s:.2f} s, direct {direct:.2f} s, "
              f"ratio {portal_s / direct:.2f}", flush=True)
        measured.append((portal_s, direct))
    return {"ratio": round(statistics.median(p / d for p, d in measured), 3),
            "portal_s": round(statistics.median(p for p, _ in measured), 2),
            "direct_s": round(statistics.median(d for _, d in measured), 2)}


def main() -> None:
    result = {"bench": "jobs", "jobs": JOBS, "target": f"<={TARGET}"}
    with tempfile.TemporaryDirectory(prefix="aiportal-bench-jobs-") as tmp:
        tmp = Path(tmp)
        portal = start(tmp, "containers", **CONFIG)
        try:
            on_engine = compare(portal, ContainerBackend(portal.engine.socket, portal.engine.backend), tmp)
        finally:
            portal.stop()
        slurm = SlurmCluster().start()  # in a folder of its own: the munge user must reach its socket
        try:
            config = {**CONFIG, "jobs": {"backend": "slurm", "slurm": {"conf": str(slurm.conf)}}}
            portal = start(tmp, "slurm", **config)
            try:
                on_slurm = compare(portal, SlurmBackend(conf=slurm.conf), tmp)
            finally:
                portal.stop()
        finally:
            slurm.stop()
            slurm.remove()
    result.update(containers_ratio=on_engine["ratio"], containers_portal_s=on_engine["portal_s"],
                  containers_direct_s=on_engine["direct_s"], slurm_ratio=on_slurm["ratio"],
                  slurm_portal_s=on_slurm["portal_s"], slurm_sbatch_s=on_slurm["direct_s"],
                  ok=on_engine["ratio"] <= TARGET and on_slurm["ratio"] <= TARGET)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
