"""Engine detection, and the Podman API service `aiportal up` starts when none answers."""

import pytest

from spawners.engine import Engine, EngineError, PodmanService, probe, resolve


def test_local_backend_is_taken_as_configured():
    assert resolve("local") == (Engine("local", None, "spawner.backend is local in portal.yaml"), None)


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


def test_without_an_engine_servers_fall_back_to_local_processes(tmp_path, monkeypatch):
    sock = f"unix://{tmp_path}/none.sock"
    engine, _ = resolve("auto", sock)  # the hub only looks, it never starts a service
    assert engine == Engine("local", None, f"no container engine: nothing answers at {sock} "
                                           "and podman's API service is not running")
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without podman
    engine, service = resolve("auto", sock, tmp_path / "service.log")
    assert service is None and engine.reason.endswith("and podman is not installed")
    with pytest.raises(EngineError) as e:
        resolve("podman", sock, tmp_path / "service.log")
    assert str(e.value).endswith("and podman is not installed")


def test_the_service_needs_a_unix_socket(tmp_path):
    with pytest.raises(EngineError) as e:
        PodmanService("tcp://127.0.0.1:2375", tmp_path / "log")
    assert "only unix:// sockets" in str(e.value)
