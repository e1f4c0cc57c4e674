"""Engine detection, the Podman API service `aiportal up` starts when none answers, and
what `aiportal up` says when it has nowhere to run servers."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.ports import free_port
from spawners.engine import Engine, EngineError, PodmanService, probe, resolve
from tests.conftest import TEST_CONFIG, write_config

AIPORTAL = str(Path(sys.executable).parent / "aiportal")


def aiportal_up(tmp_path, spawner: dict, **env) -> subprocess.CompletedProcess:
    config = write_config(tmp_path / "portal.yaml", {**TEST_CONFIG, "spawner": spawner})
    return subprocess.run([AIPORTAL, "up", "--data-dir", str(tmp_path / "data"), "--config", str(config),
                           "--port", str(free_port())], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


def test_local_backend_is_taken_as_configured_by_an_unprivileged_portal(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert resolve("local") == (Engine("local", None, "spawner.backend is local in portal.yaml"), None)


def test_local_backend_refuses_to_run_servers_as_root(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    with pytest.raises(EngineError) as e:
        resolve("local")
    assert str(e.value) == ("spawner.backend is local, which runs servers as the portal's own user, and that "
                            "is root: run aiportal as an unprivileged user, or use containers "
                            "(spawner.backend: auto with podman installed)")


def test_podman_service_is_started_when_nothing_answers_and_stopped_by_its_owner(tmp_path):
    sock = f"unix://{tmp_path}/podman.sock"
    assert probe(sock) is None
    engine, service = resolve("auto", sock, tmp_path / "service.log")
    try:
        assert (engine.backend, engine.socket, engine.reason) == (
            "podman", sock, f"podman system service started at {sock}")
        assert probe(sock) == "podman"
        again, started = resolve("podman", sock, tmp_path / "service.log")
        assert again == Engine("podman", sock, f"podman API at {sock}") and started is None
    finally:
        service.stop()
    assert service.proc.returncode is not None and probe(sock) is None


def test_an_engine_asked_for_by_name_must_answer(tmp_path):
    sock = f"unix://{tmp_path}/docker.sock"
    with pytest.raises(EngineError) as e:
        resolve("docker", sock, tmp_path / "service.log")
    assert str(e.value) == f"spawner.backend is docker but no engine answers at {sock}"


def test_without_an_engine_auto_is_an_error_naming_the_fix_never_local_processes(tmp_path, monkeypatch):
    sock = f"unix://{tmp_path}/none.sock"
    with pytest.raises(EngineError) as e:
        resolve("auto", sock)  # the hub only looks, it never starts a service
    assert str(e.value) == (f"no container engine: nothing answers at {sock} and podman's API service is "
                            "not running; start it (aiportal up does) or set spawner.backend: local in portal.yaml")
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without podman
    with pytest.raises(EngineError) as e:
        resolve("auto", sock, tmp_path / "service.log")
    assert str(e.value) == (f"no container engine: nothing answers at {sock} and podman is not installed; "
                            "install podman (make up does it as root) or set spawner.backend: local in portal.yaml")
    with pytest.raises(EngineError) as e:
        resolve("podman", sock, tmp_path / "service.log")
    assert str(e.value).endswith("and podman is not installed")


def test_the_service_needs_a_unix_socket(tmp_path):
    with pytest.raises(EngineError) as e:
        PodmanService("tcp://127.0.0.1:2375", tmp_path / "log")
    assert "only unix:// sockets" in str(e.value)


def test_aiportal_up_without_an_engine_or_podman_stops_and_names_the_fix(tmp_path):
    sock = f"unix://{tmp_path}/none.sock"
    up = aiportal_up(tmp_path, {"backend": "auto", "socket": sock}, PATH=str(tmp_path))  # no podman on PATH
    assert (up.returncode, up.stderr) == (1, (
        f"aiportal up: no container engine: nothing answers at {sock} and podman is not installed; "
        "install podman (make up does it as root) or set spawner.backend: local in portal.yaml\n"))


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal is of root; test_local_servers runs unprivileged")
def test_aiportal_up_as_root_refuses_local_servers(tmp_path):
    up = aiportal_up(tmp_path, {"backend": "local"})
    assert up.returncode == 1 and up.stderr.startswith(
        "aiportal up: spawner.backend is local, which runs servers as the portal's own user, and that is root"), \
        up.stderr
