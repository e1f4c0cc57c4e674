"""Restarting the portal: running servers keep running, are reached again through the new
proxy, and their GPUs are counted once (neither forgotten nor doubled)."""

import subprocess

from portal.tokens import new_token
from spawners.engine import probe
from tests.conftest import TEST_CONFIG
from tests.http import TimedSession
from tests.spawners.servers import containers, inspect, start, stop, wait_ready
from tests.spawners.test_containers import QUOTA_REFUSAL


def running(container_id: str) -> bool:
    """Asked of podman itself: the portal's API service may be down."""
    out = subprocess.run(["podman", "inspect", "-f", "{{.State.Running}}", container_id],
                         capture_output=True, text=True)
    return out.stdout.strip() == "true"


def session(p, user) -> TimedSession:
    s = TimedSession()
    s.headers["Authorization"] = f"token {new_token(p.data.root, user, str(p.config_path))}"
    s.base = f"{p.url}hub/api"
    return s


def test_restart_reattaches_running_servers(portal_factory, tmp_path):
    # Its own engine socket: this portal starts Podman's service and must stop only that one.
    socket = f"unix://{tmp_path}/podman.sock"
    config = {**TEST_CONFIG, "spawner": {"backend": "podman", "socket": socket}}
    data_dir = tmp_path / "data"
    first = portal_factory(config, data_dir)
    assert first.podman_service is not None
    bob = session(first, "bob")
    assert start(bob, "bob", "keep", "team-a", "gpu").status_code in (201, 202)
    wait_ready(bob, "bob", "keep")
    kept = inspect(first, "bob", "keep")["Id"]

    first.stop()
    assert probe(socket) is None, "the Podman service this portal started is still answering"
    assert running(kept), "the server's container stopped with the hub"

    second = portal_factory(config, data_dir)
    bob = session(second, "bob")
    # New proxy, same container; a new token makes the server ask the restarted hub about it.
    status = bob.get(f"{second.url}user/bob/keep/api/status", allow_redirects=False)
    assert status.status_code == 200 and "started" in status.json(), status.text
    assert bob.get(f"{bob.base}/users/bob").json()["servers"]["keep"]["ready"]

    alice = session(second, "alice")
    assert start(alice, "alice", "more", "team-a", "gpu").status_code in (201, 202)  # 1 + 1 of 2
    wait_ready(alice, "alice", "more")
    r = start(alice, "alice", "over", "team-a", "gpu")
    assert (r.status_code, r.json()["message"]) == (400, QUOTA_REFUSAL)

    stop(bob, "bob", "keep")
    stop(alice, "alice", "more")
    assert containers(second) == []
