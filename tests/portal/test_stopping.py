"""Stopping `aiportal up` as scripts and the kernel do it: SIGINT from a script that started
it in the background, SIGTERM, SIGKILL; and the hub API listening only where it must."""

from __future__ import annotations

import ipaddress
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_CONFIG, free_port, write_config
from tests.http import TimedSession

ROOT = Path(__file__).resolve().parents[2]


def processes_of(data_dir: Path) -> dict[int, str]:
    """Live processes that belong to the portal in ``data_dir`` ({pid: comm}): its data dir is in
    their command line (weed, podman's service) or their environment (the hub, its proxy and
    service)."""
    needle = str(data_dir).encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == 1:
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            if needle in (entry / "cmdline").read_bytes() or needle in (entry / "environ").read_bytes():
                found[int(entry.name)] = (entry / "comm").read_text().strip()
        except (OSError, IndexError):
            continue
    return found


def wait_gone(data_dir: Path, seconds: float) -> dict[int, str]:
    deadline = time.monotonic() + seconds
    while (left := processes_of(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def wait_banner(log: Path, seconds: float = 180) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if "Press Ctrl-C" in text:
            return text
        if "aiportal up:" in text or "Traceback" in text:
            pytest.fail(f"aiportal up failed to start:\n{text}")
        time.sleep(0.2)
    pytest.fail(f"aiportal up did not start within {seconds} s:\n{log.read_text() if log.exists() else ''}")


def up_argv(tmp_path: Path) -> tuple[list[str], Path, int]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config = write_config(data_dir / "portal.yaml", TEST_CONFIG)
    port = free_port()
    argv = [sys.executable, "-m", "portal.cli", "up", "--config", str(config), "--data-dir", str(data_dir),
            "--port", str(port)]
    return argv, data_dir.resolve(), port


def check_running(data_dir: Path, port: int, banner: str) -> dict[int, str]:
    """Everything is up: the portal answers, and each kind of process it starts is running."""
    assert TimedSession().get(f"http://127.0.0.1:{port}/services/portal/health").ok
    running = processes_of(data_dir)
    names = set(running.values())
    assert {"weed", "node"} <= names, running  # S3, the proxy
    if "podman system service started" in banner:  # none was running: the launcher started it
        assert "podman" in names, running
    assert sum(1 for n in running.values() if n.startswith("python")) >= 3, running  # launcher, hub, service
    return running


def ignores_sigint(sigign_line: str) -> bool:
    """From the ``SigIgn:`` line of /proc/PID/status."""
    return bool(int(sigign_line.split()[1], 16) & (1 << (signal.SIGINT - 1)))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_started_in_background_by_a_script_stops_on(sig, tmp_path):
    argv, data_dir, port = up_argv(tmp_path)
    log = tmp_path / "up.log"
    status, pidfile, probe = tmp_path / "status", tmp_path / "pid", tmp_path / "probe"
    # `&` in a non-interactive shell: the launcher inherits SIGINT as ignored (as does the
    # probe started the same way). The shell around it waits for it and records its exit
    # status for the test to read.
    q = shlex.quote
    script = (f"grep ^SigIgn: /proc/self/status > {q(str(probe))} & "
              f"{shlex.join(argv)} > {q(str(log))} 2>&1 & echo $! > {q(str(pidfile))}; "
              f"wait $!; echo $? > {q(str(status))}")
    subprocess.run(["bash", "-c", f"({script}) < /dev/null > /dev/null 2>&1 &"], timeout=30, cwd=ROOT, check=True)
    try:
        banner = wait_banner(log)
        pid = int(pidfile.read_text())
        assert ignores_sigint(probe.read_text())  # really the case this test is about
        check_running(data_dir, port, banner)
        os.kill(pid, sig)
        deadline = time.monotonic() + 60
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status.exists(), f"aiportal up did not exit within 60 s of {sig.name}:\n{log.read_text()}"
        assert status.read_text().strip() == "0", log.read_text()
        assert "aiportal stopped." in log.read_text()
        assert processes_of(data_dir) == {}, "processes left after the launcher exited"
    finally:
        for left in processes_of(data_dir):
            subprocess.run(["kill", "-9", str(left)], capture_output=True)


def hub_pid(launcher: int) -> int:
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and b"jupyterhub" in (entry / "cmdline").read_bytes()
                    and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == launcher):
                return int(entry.name)
        except OSError:
            continue
    raise AssertionError(f"no hub process under {launcher}")


@pytest.mark.parametrize("victims", ["launcher", "launcher and hub"])
def test_killed_launcher_leaves_nothing_running(victims, tmp_path):
    """SIGKILL to the launcher: its children notice and exit. With the hub killed at the same
    moment, nothing stops the proxy and the service but their own parent-death signal."""
    argv, data_dir, port = up_argv(tmp_path)
    log = tmp_path / "up.log"
    with log.open("w") as sink:
        up = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        running = check_running(data_dir, port, wait_banner(log))
        pids = [up.pid] + ([hub_pid(up.pid)] if victims == "launcher and hub" else [])
        subprocess.run(["kill", "-KILL", *map(str, pids)], check=True, timeout=10)
        up.wait(10)
        left = wait_gone(data_dir, 15)
        assert left == {}, f"still running 15 s after SIGKILL to the {victims}: {left} (of {running})"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        for pid in processes_of(data_dir):
            subprocess.run(["kill", "-9", str(pid)], capture_output=True)


def listening(port: int) -> set[str]:
    """The IPv4 and IPv6 addresses a TCP socket listens on at ``port`` (from /proc/net)."""
    found = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hexport = fields[1].split(":")
            if fields[3] != "0A" or int(hexport, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # /proc/net shows each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, width, 4))
            found.add(str(ipaddress.ip_address(raw)))
    return found


def own_addresses() -> set[str]:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, timeout=10).stdout
    return {line.split()[3].split("/")[0] for line in out.splitlines()}


def test_hub_api_listens_on_loopback_and_the_bridge_only(portal):
    from spawners.engine import bridge_gateway

    hub_port = int((portal.data.root / "hub-port").read_text())
    bridge = bridge_gateway(portal.engine)
    assert listening(hub_port) == {"127.0.0.1", bridge}
    assert TimedSession().get(f"http://127.0.0.1:{hub_port}/hub/api/").ok
    others = own_addresses() - {"127.0.0.1", bridge}
    assert others, "this machine has no other address to try"
    for address in others:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, hub_port), timeout=5).close()
