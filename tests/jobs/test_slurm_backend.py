"""The Slurm backend against a real one-node Slurm (tests/slurm.py) running real Podman
containers of the dev image (`make images`).

Jobs that must stay running wait for a file the test creates in their `in/` folder (the
host can write there; the job sees it read-only at /data/in), so no test depends on a sleep
being long enough.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import time
from pathlib import Path

import pytest

from portal.jobs.backends import BackendRefused, BackendUnavailable, Observed, RunPlan
from portal.jobs.backends.slurm import SlurmBackend

IMAGE = "localhost/aiportal-dev:latest"
UID = GID = 23456  # not root, no passwd entry needed: --user takes numbers
PREFIX = f"aiportal-slurmtest-{os.getpid()}-job-"
_ids = itertools.count(1)
WAIT_FOR_GO = "while [ ! -e /data/in/go ]; do sleep 0.2; done"


@pytest.fixture
def backend(slurm):
    yield SlurmBackend(conf=slurm.conf)
    # Whatever a failed test left behind: its jobs and their containers.
    subprocess.run(["scancel", "-n", ",".join(f"{PREFIX}{i}" for i in range(1, next(_ids)))],
                   env=slurm.env, capture_output=True, timeout=30)
    names = subprocess.run(["podman", "ps", "-aq", "--filter", f"name=^{PREFIX}"], capture_output=True,
                           text=True, timeout=30).stdout.split()
    if names:
        subprocess.run(["podman", "rm", "-f", "-t", "0", *names], capture_output=True, timeout=60)


def plan(tmp_path: Path, script: str, **kw) -> RunPlan:
    """A plan running `sh -c script` in the dev image, with its own workdir (in/ readable,
    out/ owned by the job's uid, as the runner makes them)."""
    job_id = next(_ids)
    workdir = tmp_path / f"job-{job_id}"
    (workdir / "in").mkdir(parents=True)
    (workdir / "out").mkdir()
    os.chown(workdir / "out", UID, GID)
    for d in (tmp_path, workdir, workdir / "in"):
        d.chmod(0o755)
    kw = {"cpu": 1, "memory": 256 * 2**20, "walltime": 600, **kw}
    return RunPlan(job_id=job_id, name=f"{PREFIX}{job_id}", team="team-a", user="alice", image=IMAGE,
                   command=("sh", "-c", script), workdir=workdir, uid=UID, gid=GID,
                   labels={"org.aiportal.test": "slurm", "org.aiportal.job": str(job_id)}, **kw)


async def wait_for(backend: SlurmBackend, backend_id: str, p: RunPlan, states: set[str],
                   timeout: float = 60) -> Observed:
    deadline = time.monotonic() + timeout
    while (seen := await backend.observe(backend_id, p)).state not in states:
        assert time.monotonic() < deadline, f"job {backend_id} still {seen} after {timeout} s"
        await asyncio.sleep(0.3)
    return seen


def containers(name: str) -> list[str]:
    """`podman ps -a` lines of the container so named (running or not)."""
    out = subprocess.run(["podman", "ps", "-a", "--filter", f"name=^{name}$", "--format", "{{.Names}} {{.Status}}"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return out.splitlines()


async def wait_container(name: str, timeout: float = 30) -> dict:
    """The running container's labels and user (podman inspect), once it runs."""
    deadline = time.monotonic() + timeout
    while True:
        fmt = "{{.State.Status}}|{{json .Config.Labels}}|{{.Config.User}}"
        r = subprocess.run(["podman", "inspect", "--format", fmt, name], capture_output=True, text=True, timeout=30)
        if r.returncode == 0 and r.stdout.startswith("running|"):
            _, labels, user = r.stdout.strip().split("|")
            return {"labels": labels, "user": user}
        assert time.monotonic() < deadline, f"container {name} not running: {r.stdout}{r.stderr}"
        await asyncio.sleep(0.3)


@pytest.mark.timeout(90)
async def test_job_runs_with_its_files_env_and_output(backend, tmp_path):
    p = plan(tmp_path, "echo hello from $GREETING; cat /data/in/input.txt; id -u; "
             "touch /data/in/x 2>/dev/null || echo in-is-read-only; echo result > /data/out/result.txt",
             env={"GREETING": "the job's env"})
    (p.workdir / "in" / "input.txt").write_text("input-data\n")
    backend_id = await backend.start(p)
    assert backend_id.isdigit()

    seen = await wait_for(backend, backend_id, p, {"exited"})
    logs = (await backend.logs(backend_id, p)).decode()
    assert seen == Observed("exited", 0), logs
    assert "hello from the job's env\ninput-data\n23456\nin-is-read-only\n" in logs
    assert (p.workdir / "out" / "result.txt").read_text() == "result\n"
    assert (p.workdir / "out" / "result.txt").stat().st_uid == UID
    assert not (p.workdir / "in" / "x").exists()
    assert containers(p.name) == []  # --rm


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("command", "code"), [
    ("echo failing >&2; exit 3", 3),
    ("no-such-command", 127),  # sh's "not found"; podman gives 127 too for a missing executable
    ("python3 -c 'x = bytearray(512 * 2**20)'", 137),  # over its 64 MiB: the OOM killer's SIGKILL, 128 + 9
])
async def test_exit_code_is_the_containers(backend, tmp_path, command, code):
    p = plan(tmp_path, command, memory=64 * 2**20)
    backend_id = await backend.start(p)
    seen = await wait_for(backend, backend_id, p, {"exited"})
    assert seen.exit_code == code, (seen, await backend.logs(backend_id, p))
    if code == 3:
        assert b"failing" in await backend.logs(backend_id, p)


@pytest.mark.timeout(180)
async def test_walltime_exceeded_is_timeout_and_removes_the_container(backend, tmp_path):
    """Slurm's shortest limit is 1 minute and slurmctld checks limits every 30 s (fixed in
    its code), so the job ends 60 to 90 s after it started."""
    p = plan(tmp_path, "echo started; sleep 600", walltime=30)  # rounded up to a minute
    backend_id = await backend.start(p)
    await wait_for(backend, backend_id, p, {"running"})
    await wait_container(p.name)
    started = time.monotonic()
    seen = await wait_for(backend, backend_id, p, {"timeout", "exited", "cancelled"}, timeout=150)
    took = time.monotonic() - started
    assert seen.state == "timeout", seen
    assert 55 < took < 110, took
    logs = (await backend.logs(backend_id, p)).decode()
    assert "started" in logs and "DUE TO TIME LIMIT" in logs, logs
    deadline = time.monotonic() + 20  # the script's trap stops it within KillWait
    while containers(p.name) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert containers(p.name) == []


@pytest.mark.timeout(90)
@pytest.mark.parametrize("same_host", [True, False])  # False: the script's trap alone removes it
async def test_cancel_while_running_stops_the_container(backend, slurm, tmp_path, same_host):
    backend = SlurmBackend(conf=slurm.conf, same_host=same_host)
    p = plan(tmp_path, "echo waiting; " + WAIT_FOR_GO)
    backend_id = await backend.start(p)
    await wait_for(backend, backend_id, p, {"running"})
    container = await wait_container(p.name)
    assert '"org.aiportal.test":"slurm"' in container["labels"] and container["user"] == f"{UID}:{GID}"
    assert await backend.start(p) == backend_id  # a start repeated (its answer lost) submits nothing new

    await backend.cancel(backend_id, p)
    assert (await backend.observe(backend_id, p)).state == "cancelled"
    assert containers(p.name) == []
    await backend.cancel(backend_id, p)  # again: nothing happens


@pytest.mark.timeout(60)
async def test_missing_image_is_refused_before_slurm(backend, slurm, tmp_path):
    p = RunPlan(**{**plan(tmp_path, "true").__dict__, "image": "localhost/aiportal-missing:none"})
    with pytest.raises(BackendRefused) as refused:
        await backend.start(p)
    assert refused.value.reason == "image" and "localhost/aiportal-missing:none" in str(refused.value)
    queue = subprocess.run(["squeue", "-h", "-n", p.name], env=slurm.env, capture_output=True, text=True, timeout=30)
    assert queue.returncode == 0 and queue.stdout == ""


@pytest.mark.timeout(60)
async def test_slurm_refusal_carries_slurms_message(backend, tmp_path):
    p = plan(tmp_path, "true", gpus=3)  # the node has 2
    with pytest.raises(BackendRefused) as refused:
        await backend.start(p)
    assert refused.value.reason == "error"
    assert "Requested node configuration is not available" in str(refused.value)


@pytest.mark.timeout(120)
async def test_controller_down_is_unavailable_and_running_job_survives(backend, slurm, tmp_path, monkeypatch):
    p = plan(tmp_path, "echo before; " + WAIT_FOR_GO + "; echo after")
    backend_id = await backend.start(p)
    await wait_for(backend, backend_id, p, {"running"})
    other = plan(tmp_path, "true")
    slurm.stop_controller()
    try:
        with pytest.raises(BackendUnavailable):
            await backend.start(other)  # squeue (is it submitted already?) fails first
        with monkeypatch.context() as m:
            m.setattr(backend, "submitted", lambda plan: asyncio.sleep(0))
            with pytest.raises(BackendUnavailable):
                await backend.start(other)  # and so does sbatch
        with pytest.raises(BackendUnavailable):
            await backend.observe(backend_id, p)
        with pytest.raises(BackendUnavailable):
            await backend.cancel(backend_id, p)
    finally:
        slurm.start_controller()
    queue = subprocess.run(["squeue", "-h", "-n", other.name], env=slurm.env, capture_output=True, text=True,
                           timeout=30)
    assert queue.returncode == 0 and queue.stdout == ""  # nothing was submitted
    assert (await backend.observe(backend_id, p)).state == "running"
    (p.workdir / "in" / "go").touch()
    assert await wait_for(backend, backend_id, p, {"exited"}) == Observed("exited", 0)
    assert (await backend.logs(backend_id, p)).decode().endswith("before\nafter\n")


@pytest.mark.timeout(120)
async def test_gpus_are_counted_a_third_job_pends(backend, slurm, tmp_path):
    """Two fake GPUs: two 1-GPU jobs run (on GPUs 0 and 1), the third waits for one; the
    node has CPUs left, so the GPUs are what it waits for."""
    plans = [plan(tmp_path, "echo gpu=$NVIDIA_VISIBLE_DEVICES; " + WAIT_FOR_GO, gpus=1) for _ in range(3)]
    ids = [await backend.start(p) for p in plans]
    for backend_id, p in zip(ids[:2], plans[:2], strict=True):
        await wait_for(backend, backend_id, p, {"running"})
    deadline = time.monotonic() + 30  # Reason is None until the scheduler has looked at it
    while (third := await backend.observe(ids[2], plans[2])) == Observed("pending") and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
    assert third == Observed("pending", message="Resources")
    node = dict(kv.split("=", 1) for kv in slurm.scontrol("show", "node", "-o", slurm.host).stdout.split() if "=" in kv)
    assert int(node["CPUAlloc"]) < int(node["CPUTot"]), node

    (plans[0].workdir / "in" / "go").touch()
    await wait_for(backend, ids[0], plans[0], {"exited"})
    await wait_for(backend, ids[2], plans[2], {"running"})
    for p in plans[1:]:
        (p.workdir / "in" / "go").touch()
    for backend_id, p in zip(ids, plans, strict=True):
        assert await wait_for(backend, backend_id, p, {"exited"}) == Observed("exited", 0)
    gpus = [(await backend.logs(i, p)).decode().strip() for i, p in zip(ids, plans, strict=True)]
    assert sorted(gpus[:2]) == ["gpu=0", "gpu=1"] and gpus[2] in gpus[:2], gpus
