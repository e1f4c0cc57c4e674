"""Jobs on a Slurm cluster: each RunPlan becomes a batch script that runs the job's container
with Podman on the node Slurm picks.

Slurm only sees a bash script, so the container's limits, mounts, labels and user are Podman
options in it, and Slurm's own limits (--time, --cpus-per-task, --mem, --gres) decide where
and when it runs. The Slurm CLI (sbatch, scontrol, scancel) is the whole API: it is on every
Slurm install, needs no token, and slurmrestd adds nothing this needs. Nothing is kept in
memory: the Slurm job id is the backend id, so a restarted portal asks again by it.

What the cluster must give (the tests' one-node cluster is tests/slurm.py):
- `plan.workdir` is on storage that the node sees at the same path (one machine, or a shared
  file system): the script mounts `in/` and `out/` from there and Slurm writes `job.log` there.
- The portal's user may submit jobs and run `engine` (Podman) on the nodes, and the image is
  in the nodes' image store. With `same_host` (the default: the node is this machine) a
  missing image is refused before sbatch (`podman image exists`) and cancel removes a
  container left behind; on a real multi-node cluster pass same_host=False.
- KillWait (default 30 s) longer than the script's `podman stop -t 5`: on scancel and at the
  time limit Slurm sends SIGTERM, then SIGKILL after KillWait. The container is not a child
  of the job (conmon re-parents it), so only the script's trap stops it.

The container gets no network (`--network=none`): a job reads /data/in and writes /data/out,
and the runner stages and uploads them. Its exit code is the container's: 127 for a missing
command, 137 for an out-of-memory kill (podman --memory), 128+N for a script killed by signal N.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shlex
from pathlib import Path

from portal.jobs.backends import BackendRefused, BackendUnavailable, JobBackend, Observed, RunPlan

#: Slurm's words for "the controller (or munge) could not be reached".
UNREACHABLE = ("Unable to contact slurm controller", "Socket timed out", "Connection refused",
               "Zero Bytes were transmitted", "Munge encode failed", "Communication connection failure")
#: JobState → our state; one not listed reads as pending (Slurm has not finished with it).
STATES = {"PENDING": "pending", "CONFIGURING": "pending", "REQUEUED": "pending", "REQUEUE_HOLD": "pending",
          "RUNNING": "running", "COMPLETING": "running", "SUSPENDED": "running", "STOPPED": "running",
          "SIGNALING": "running", "STAGE_OUT": "running",
          "COMPLETED": "exited", "FAILED": "exited", "OUT_OF_MEMORY": "exited", "NODE_FAIL": "exited",
          "BOOT_FAIL": "exited", "PREEMPTED": "exited",
          "TIMEOUT": "timeout", "DEADLINE": "timeout", "CANCELLED": "cancelled"}
CDI_SPECS = ("/etc/cdi/nvidia.yaml", "/var/run/cdi/nvidia.yaml")

SCRIPT = """\
#!/bin/bash
# aiportal job {job_id} ({team}/{user}); written by portal/jobs/backends/slurm.py
name={name}
# scancel and the time limit TERM this script, not the container (conmon is not our child).
trap '{engine} stop -t 5 "$name" >/dev/null 2>&1; {engine} rm -f -t 0 "$name" >/dev/null 2>&1' TERM INT
gpus=()
if [ -n "${{CUDA_VISIBLE_DEVICES:-}}" ]; then
  if [ -e {cdi0} ] || [ -e {cdi1} ]; then
    for i in ${{CUDA_VISIBLE_DEVICES//,/ }}; do gpus+=(--device "nvidia.com/gpu=$i"); done
  else
    gpus+=(-e "NVIDIA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES")
  fi
fi
{engine} run --rm --name "$name" {options} "${{gpus[@]}}" {image} {command} &
wait $!
rc=$?
# A trapped TERM ends `wait` early: wait for podman itself, for the container's exit code.
while kill -0 $! 2>/dev/null; do wait $!; rc=$?; done
exit $rc
"""


class SlurmBackend(JobBackend):
    """Jobs as Slurm batch jobs. `conf`: the slurm.conf path (None: Slurm's default);
    `partition`: None for the cluster's default; `engine`: the container CLI on the nodes
    (a command line, e.g. "podman" or "podman --cgroup-manager=cgroupfs"); `same_host`: the
    node's Podman is this machine's (see the module's docstring); `timeout`: seconds for one
    CLI call (with slurmctld down each fails on its own after a few MessageTimeouts)."""

    name = "slurm"
    #: Slurm enforces the walltime itself, late: --time is whole minutes (rounded up), its limit
    #: is checked every 30 s and KillWait follows; the runner's own check waits that long more.
    walltime_grace = 150

    def __init__(self, conf: str | Path | None = None, partition: str | None = None, engine: str = "podman",
                 same_host: bool = True, timeout: float = 30):
        self.conf = str(conf) if conf else None
        self.partition = partition
        self.engine = shlex.split(engine)
        self.same_host = same_host
        self.timeout = timeout

    async def _run(self, *argv: str, timeout: float | None = None) -> tuple[int, str, str]:
        """Run a command with a minimal environment: sbatch exports its environment into the
        job (and slurmctld stores it), so none of the portal's secrets go with it."""
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C.UTF-8"}
        if self.conf:
            env["SLURM_CONF"] = self.conf
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout or self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise BackendUnavailable(f"{argv[0]} did not answer within {timeout or self.timeout:.0f} s") from None
        return proc.returncode, out.decode(errors="replace").strip(), err.decode(errors="replace").strip()

    async def _slurm(self, *argv: str) -> tuple[int, str, str]:
        rc, out, err = await self._run(*argv)
        if rc and any(word in err for word in UNREACHABLE):
            raise BackendUnavailable(f"Slurm: {err}")
        return rc, out, err

    def script(self, plan: RunPlan) -> str:
        """The batch script: the container with the plan's user, limits, labels, env and mounts."""
        q = shlex.quote
        options = [f"--user={plan.uid}:{plan.gid}", "--security-opt=no-new-privileges", "--network=none",
                   f"--cpus={plan.cpu:g}", f"--memory={plan.memory}b",
                   f"--volume={plan.workdir / 'in'}:/data/in:ro", f"--volume={plan.workdir / 'out'}:/data/out:rw"]
        options += [f"--label={k}={v}" for k, v in plan.labels.items()]
        options += [f"--env={k}={v}" for k, v in plan.env.items()]
        return SCRIPT.format(job_id=plan.job_id, team=plan.team, user=plan.user, name=q(plan.name),
                             engine=" ".join(map(q, self.engine)), cdi0=CDI_SPECS[0], cdi1=CDI_SPECS[1],
                             options=" ".join(map(q, options)), image=q(plan.image),
                             command=" ".join(map(q, plan.command)))

    async def start(self, plan: RunPlan) -> str:
        if self.same_host:
            rc, _, err = await self._run(*self.engine, "image", "exists", plan.image)
            if rc == 1:
                raise BackendRefused(f"image {plan.image} not found", reason="image")
            if rc:
                raise BackendUnavailable(f"{self.engine[0]} image exists: {err}")
        if submitted := await self.submitted(plan):
            return submitted
        path = plan.workdir / "job.sbatch"
        path.write_text(self.script(plan))
        path.chmod(0o600)  # it holds the job's environment
        argv = ["sbatch", "--parsable", f"--job-name={plan.name}", f"--chdir={plan.workdir}",
                f"--output={plan.log_path}", f"--time={max(1, math.ceil(plan.walltime / 60))}",
                f"--cpus-per-task={max(1, math.ceil(plan.cpu))}", f"--mem={math.ceil(plan.memory / 2**20)}M",
                "--ntasks=1", "--nodes=1"]
        if plan.gpus:
            argv.append(f"--gres=gpu:{plan.gpus}")
        if self.partition:
            argv.append(f"--partition={self.partition}")
        rc, out, err = await self._slurm(*argv, str(path))
        if rc:
            raise BackendRefused(f"Slurm refused the job: {err.removeprefix('sbatch: error: ')}")
        return out.split(";")[0]  # "id" or "id;cluster"

    async def submitted(self, plan: RunPlan) -> str | None:
        """The id of this plan's job if it is queued or running already: started before, but
        the id never reached the caller (a crash, a timeout), so a second start submits nothing."""
        rc, out, _ = await self._slurm("squeue", "-h", "-t", "PD,CF,R,CG", "-n", plan.name, "-o", "%i")
        return out.split()[0] if rc == 0 and out else None

    async def observe(self, backend_id: str, plan: RunPlan) -> Observed:
        rc, out, err = await self._slurm("scontrol", "show", "job", "-o", backend_id)
        if rc:
            if "Invalid job id" in err:
                return Observed("gone", message="Slurm no longer knows this job")
            raise BackendUnavailable(f"Slurm: {err}")
        fields = dict(re.findall(r"(?:^| )(JobState|Reason|ExitCode)=(\S+)", out))
        slurm_state = fields.get("JobState", "PENDING")
        state = STATES.get(slurm_state, "pending")
        if state == "pending":  # why it waits: Resources, Priority, ...
            return Observed(state, message="" if fields.get("Reason", "None") == "None" else fields["Reason"])
        if state != "exited":
            return Observed(state)
        # ExitCode=N:S: the script's exit status (the container's), or the signal that killed it.
        code, _, sig = fields.get("ExitCode", "0:0").partition(":")
        exit_code = 128 + int(sig) if int(sig or 0) else int(code)
        if slurm_state == "OUT_OF_MEMORY":
            exit_code = exit_code or 137
        # NODE_FAIL, BOOT_FAIL, PREEMPTED, OUT_OF_MEMORY: Slurm ended it, say so.
        return Observed("exited", exit_code, "" if slurm_state in ("COMPLETED", "FAILED") else slurm_state)

    async def cancel(self, backend_id: str, plan: RunPlan) -> None:
        """scancel, then wait (up to a minute) until Slurm saw the script end, whose trap
        stops the container; a container still there (a script killed before its trap ran)
        is removed when the node is this machine."""
        rc, _, err = await self._slurm("scancel", backend_id)
        if rc and "Invalid job id" not in err and "already completing or completed" not in err:
            raise BackendRefused(f"Slurm: {err}")
        for _ in range(120):
            if (await self.observe(backend_id, plan)).state not in ("pending", "running"):
                break
            await asyncio.sleep(0.5)
        if not self.same_host:
            return  # the node's containers are not this machine's
        rc, _, _ = await self._run(*self.engine, "container", "exists", plan.name)
        if rc == 0:
            await self._run(*self.engine, "rm", "-f", "-t", "0", plan.name)

    async def logs(self, backend_id: str, plan: RunPlan) -> bytes:
        try:
            return plan.log_path.read_bytes()
        except FileNotFoundError:
            return b""
