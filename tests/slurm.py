"""A real one-node Slurm cluster for the tests: munged, slurmctld and slurmd (Debian's
slurm-wlm 22.05 and munge, from scripts/system-deps.sh) in a temp dir, on free ports.

Why it is built this way (slurm-prometheus-facts.md beside DESIGN.md has the verified facts):
- No systemd here, and installing the packages starts nothing: every daemon runs in the
  foreground (`-D`, `-F`) as a child of this process and is stopped by its pid.
- munged gets its own socket in the temp dir (slurm.conf `AuthInfo=socket=…`), so it neither
  needs nor disturbs /run/munge; it runs as the `munge` user, with the package's key.
- The node is this machine: slurmd takes its NodeName from the hostname (slurmd -C), so one
  cluster per machine at a time (tests/conftest.py lists `slurm` in MACHINE_WIDE).
- Two fake GPUs (gpu:2) are char devices made with mknod: a count-only gres.conf drains the node.
- The node declares at least 4 CPUs (`SlurmdParameters=config_overrides`), so on a 2-CPU
  machine two 1-GPU jobs leave CPUs free and a third pends for the GPUs alone.
- Finished jobs stay known to `scontrol show job` for MinJobAge (an hour): there is no
  accounting database (accounting_storage/none); jobcomp/filetxt keeps a text record.
- KillWait=15: scancel and the time limit send SIGTERM, then SIGKILL after KillWait; the job
  script's trap must stop its container in that time (Slurm's default is 30 s).
- Every command is bounded: with slurmctld down the CLI blocks for seconds on each call.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from portal.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
#: Fewer would make the GPU test depend on the CPU count of the machine.
MIN_CPUS = 4


class SlurmCluster:
    """munged + slurmctld + slurmd under `dir`. `conf` is the slurm.conf to give the CLI
    (SLURM_CONF); `env` is an environment with it; `host` is the node's name."""

    def __init__(self, directory: Path | None = None):
        self.dir = Path(directory or tempfile.mkdtemp(prefix="aiportal-slurm-"))
        self.dir.chmod(0o755)  # the munge user must reach its socket in here
        self.log_dir = self.dir / "log"
        self.conf = self.dir / "slurm.conf"
        self.munge_socket = self.dir / "munge" / "munge.socket"
        self.host = socket.gethostname().split(".")[0]
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.procs: dict[str, subprocess.Popen] = {}
        self.ctld_port = self.slurmd_port = 0

    # -- configuration ---------------------------------------------------------------------

    def node_line(self) -> str:
        """This machine as slurmd sees it (`slurmd -C`), with at least MIN_CPUS CPUs."""
        out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30, check=True).stdout
        line = next(x for x in out.splitlines() if x.startswith("NodeName="))
        if int(re.search(r"\bCPUs=(\d+)", line).group(1)) < MIN_CPUS:
            line = re.sub(r"CPUs=\d+ Boards=\d+ SocketsPerBoard=\d+ CoresPerSocket=\d+ ThreadsPerCore=\d+",
                          f"CPUs={MIN_CPUS} Boards=1 SocketsPerBoard=1 CoresPerSocket={MIN_CPUS} ThreadsPerCore=1",
                          line)
        return f"{line} NodeAddr=127.0.0.1 Gres=gpu:2 State=UNKNOWN"

    def write_config(self) -> None:
        for sub in ("log", "state", "spool"):
            (self.dir / sub).mkdir(exist_ok=True)
        for i in range(2):
            dev = self.dir / f"fakegpu{i}"
            if not dev.exists():
                os.mknod(dev, 0o666 | 0o020000, os.makedev(1, 3))  # a char device, as /dev/null
        self.ctld_port, self.slurmd_port = free_port(), free_port()
        d = self.dir
        self.conf.write_text(f"""\
ClusterName=aiportal
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=15
OverTimeLimit=0
InactiveLimit=0
MinJobAge=3600
MessageTimeout=5
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={d}/log/jobcomp.txt
GresTypes=gpu
{self.node_line()}
PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
""")
        (d / "gres.conf").write_text(f"NodeName={self.host} Name=gpu File={d}/fakegpu[0-1]\n")

    # -- daemons ---------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> None:
        with (self.log_dir / f"{name}.stdout").open("ab") as out:
            self.procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                env=self.env)

    def _stop(self, name: str, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL: slurmd in its "Unable to register" loop ignores SIGTERM."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def start_munge(self, timeout: float = 15) -> None:
        if not Path("/etc/munge/munge.key").exists():  # the package's postinst normally made it
            subprocess.run(["mungekey", "--create"], check=True, timeout=30)
            shutil.chown("/etc/munge/munge.key", "munge", "munge")
        mdir = self.munge_socket.parent
        mdir.mkdir(exist_ok=True)
        mdir.chmod(0o755)  # munged wants the socket reachable by all (as /run/munge is)
        shutil.chown(mdir, "munge", "munge")
        self._spawn("munged", ["setpriv", "--reuid=munge", "--regid=munge", "--init-groups",
                               "munged", "-F", f"--socket={self.munge_socket}", f"--pid-file={mdir}/munged.pid",
                               f"--seed-file={mdir}/munged.seed", f"--log-file={mdir}/munged.log"])
        self._wait("munged", lambda: subprocess.run(
            f"munge -n -S {self.munge_socket} | unmunge -S {self.munge_socket}", shell=True,
            capture_output=True, timeout=5).returncode == 0, timeout)

    def start_controller(self, timeout: float = 30) -> None:
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        self._wait("slurmctld", lambda: self.scontrol("ping").returncode == 0
                   and "UP" in self.scontrol("ping").stdout, timeout)

    def stop_controller(self) -> None:
        self._stop("slurmctld")

    def start(self, timeout: float = 60) -> SlurmCluster:
        """Everything, then wait until the node is idle (about 1 s on this machine)."""
        t0 = time.monotonic()
        self.write_config()
        self.start_munge()
        self.start_controller()
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        self._wait("slurmd", lambda: self.node_state() == "idle", timeout - (time.monotonic() - t0))
        self.started_s = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Everything, slurmd first (it would otherwise retry the controller). A job's
        slurmstepd outlives slurmd and, with the controller gone, retries its "job complete"
        message for ever, ignoring SIGTERM: this cluster's (SLURM_CONF in their environment)
        are killed. Their containers are the callers' to remove."""
        for name in ("slurmd", "slurmctld", "munged"):
            self._stop(name)
        for pid in self.stepds():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stepds(self) -> list[int]:
        """The pids of this cluster's slurmstepd processes."""
        mine = f"SLURM_CONF={self.conf}".encode()
        pids = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if (proc / "comm").read_text().strip() == "slurmstepd" and \
                        mine in (proc / "environ").read_bytes().split(b"\0"):
                    pids.append(int(proc.name))
            except OSError:
                continue
        return pids

    def _wait(self, name: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + max(timeout, 1)
        while True:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail()}")
            try:
                if ready():
                    return
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.2)

    # -- asking it -------------------------------------------------------------------------

    def scontrol(self, *args: str, timeout: float = 10) -> subprocess.CompletedProcess:
        return subprocess.run(["scontrol", *args], capture_output=True, text=True, env=self.env, timeout=timeout)

    def node_state(self) -> str:
        return subprocess.run(["sinfo", "-h", "-n", self.host, "-o", "%T"], capture_output=True, text=True,
                              env=self.env, timeout=5).stdout.strip()

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as a dict (values with spaces are cut at the first one)."""
        out = self.scontrol("show", "job", "-o", job_id).stdout
        return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)

    def tail(self, chars: int = 3000) -> str:
        """The end of every log, for error messages."""
        parts = []
        for log in sorted(self.log_dir.glob("*")) + sorted(self.munge_socket.parent.glob("*.log")):
            text = log.read_text(errors="replace")[-chars:]
            parts.append(f"--- {log.name}\n{text}")
        return "\n".join(parts)

    def keep_logs(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for log in list(self.log_dir.glob("*")) + list(self.munge_socket.parent.glob("*.log")):
            shutil.copy(log, dest / log.name)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm(request):
    """The session's Slurm cluster. Its logs go to test-artifacts/slurm/ when a test failed."""
    cluster = SlurmCluster()
    failed = True  # until it started
    try:
        cluster.start()
        failed = False
        yield cluster
    finally:
        cluster.stop()
        if failed or request.session.testsfailed:
            cluster.keep_logs(ROOT / "test-artifacts" / "slurm")
        cluster.remove()
