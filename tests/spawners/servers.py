"""Starting and stopping servers through the hub REST API (also many at the same moment),
changing a team's quota as an operator, and looking at the servers' containers through the
engine's API, as an operator would with `podman ps`. Every HTTP call has a timeout."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import docker
import requests

from spawners.container import label
from spawners.engine import API_VERSION
from tests.http import TimedSession


def hub(portal, token, user) -> TimedSession:
    s = TimedSession()
    s.headers["Authorization"] = f"token {token(user)}"
    s.base = f"{portal.url}hub/api"
    return s


@contextmanager
def team_quota(portal, token, team, **quota):
    """The team's quota changed as by an operator, while the portal runs; restored after."""
    s = hub(portal, token, "admin")
    url = f"{s.base}/groups/{team}/properties"
    before = s.get(f"{s.base}/groups/{team}").json()["properties"]
    r = s.put(url, json={**before, "quota": {**(before.get("quota") or {}), **quota}})
    assert r.ok, r.text
    try:
        yield
    finally:
        assert s.put(url, json=before).ok


def start(s, user, server, team, profile) -> requests.Response:
    return s.post(f"{s.base}/users/{user}/servers/{server}", json={"team": team, "profile": profile})


def start_at_once(portal, token, wanted, team, profile):
    """Spawn requests for every (user, server) in `wanted`, all sent at the same moment;
    → the (user, server) pairs that started and the refusals' messages."""
    barrier = threading.Barrier(len(wanted))

    def spawn(user, server):
        s = hub(portal, token, user)
        barrier.wait()
        return user, server, start(s, user, server, team, profile)

    with ThreadPoolExecutor(len(wanted)) as pool:
        results = list(pool.map(lambda args: spawn(*args), wanted))
    unexpected = [(r.status_code, r.text) for *_, r in results if r.status_code not in (201, 202, 400)]
    assert unexpected == []
    return ([(u, n) for u, n, r in results if r.status_code in (201, 202)],
            [r.json()["message"] for *_, r in results if r.status_code == 400])


def stop(s, user, server) -> None:
    r = s.delete(f"{s.base}/users/{user}/servers/{server}", json={"remove": True})
    assert r.status_code in (202, 204), r.text
    wait_gone(s, user, server)


def wait_ready(s, user, server="", timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = s.get(f"{s.base}/users/{user}").json()
        srv = model["servers"].get(server)
        if srv and srv["ready"]:
            return srv
        if srv is None or not srv.get("pending"):
            raise AssertionError(f"server stopped: {model}")
        time.sleep(0.3)
    raise AssertionError("server not ready in time")


def wait_gone(s, user, server, timeout=60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server not in s.get(f"{s.base}/users/{user}").json()["servers"]:
            return
        time.sleep(0.3)
    raise AssertionError(f"{user}/{server} still listed after {timeout} s")


def engine(portal) -> docker.APIClient:
    return docker.APIClient(base_url=portal.engine.socket, version=API_VERSION)


def containers(portal, **filters) -> list[dict]:
    """This portal's containers, running or not; filters are label=value pairs."""
    labels = [f"{label('portal')}={portal.data.instance_id}"] + [f"{label(k)}={v}" for k, v in filters.items()]
    with engine(portal) as client:
        return client.containers(all=True, filters={"label": labels})


def inspect(portal, user, server) -> dict:
    found = containers(portal, user=user, server=server)
    assert len(found) == 1, found
    with engine(portal) as client:
        return client.inspect_container(found[0]["Id"])


def remove_all(portal) -> None:
    """Remove what a failed test left behind, so other tests start from nothing."""
    with engine(portal) as client:
        for c in containers(portal):
            client.remove_container(c["Id"], force=True)
