"""Idle culling in a real portal (hub, jupyterhub-idle-culler as its managed service, Podman
servers) with short timeouts: a GPU server is stopped after its profile's few idle seconds,
a CPU server with an hour's limit and a server whose profile has none keep running, and the
home page shows each server's time left in Chromium."""

import re
import time
from datetime import UTC, datetime

import pytest

from portal.launcher import Portal
from portal.ports import free_port
from tests.browser import chromium, login
from tests.conftest import TEST_CONFIG, remove_containers, tokens_of, write_config
from tests.spawners.servers import hub, start, wait_ready

IMAGE = "localhost/aiportal-dev:latest"
GPU_IDLE_S = 3
CONFIG = {
    "hub": TEST_CONFIG["hub"], "auth": TEST_CONFIG["auth"], "gpus": ["0"],
    "culling": {"cull_every": 1},
    "profiles": {
        "gpu": {"display_name": "GPU notebook", "image": IMAGE, "memory": "1Gi", "gpus": 1, "idle_timeout": GPU_IDLE_S},
        "cpu": {"display_name": "CPU notebook", "image": IMAGE, "memory": "1Gi", "idle_timeout": "1h"},
        "keep": {"display_name": "Long training", "image": IMAGE, "memory": "1Gi"},  # culling.idle_timeout: never
    },
    # the operator signs in with the generated password: no sign-up and approval in the browser
    "teams": [{"name": "team-a", "members": ["admin"], "profiles": ["cpu", "keep"]},
              # dave's one team allows one profile: his server starts with no options at all
              {"name": "team-g", "members": ["dave"], "profiles": ["gpu"]}],
}


@pytest.fixture(scope="module")
def culling_portal(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("culling")
    p = Portal(data_dir, str(write_config(data_dir / "portal.yaml", CONFIG)), port=free_port(), quiet=True).start()
    p.token = tokens_of(p)
    yield p
    p.stop()
    remove_containers(p)


@pytest.fixture(scope="module")
def lasting(culling_portal) -> dict[str, dict]:
    """The operator's servers whose profiles have an hour's limit and none (servers start one at a time:
    two for the module, not per test)."""
    s = hub(culling_portal, culling_portal.token, "admin")
    for name, profile in (("hour", "cpu"), ("forever", "keep")):
        r = start(s, "admin", name, "team-a", profile)
        assert r.status_code in (201, 202), r.text
    return {name: wait_ready(s, "admin", name) for name in ("hour", "forever")}


def idle_seconds(model: dict) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(model["last_activity"])).total_seconds()


def test_only_the_server_past_its_profiles_idle_timeout_is_culled(culling_portal, lasting):
    s = hub(culling_portal, culling_portal.token, "admin")
    # options left to the defaults: the culler still knows the server's profile (the spawner fills them in)
    assert s.post(f"{s.base}/users/dave/servers/short", json={}).status_code in (201, 202)
    short = wait_ready(s, "dave", "short")
    assert short["user_options"] == {"team": "team-g", "profile": "gpu"}
    deadline = time.monotonic() + GPU_IDLE_S + 20
    while "short" in (daves := s.get(f"{s.base}/users/dave").json()["servers"]):
        assert time.monotonic() < deadline, f"the GPU server idle {GPU_IDLE_S} s was not culled: {daves}"
        time.sleep(0.3)
    assert idle_seconds(short) >= GPU_IDLE_S  # not before its limit
    servers = s.get(f"{s.base}/users/admin").json()["servers"]
    # the others stay while idle past the GPU profile's limit and two more rounds of the culler (cull_every: 1)
    while min(map(idle_seconds, servers.values())) < GPU_IDLE_S + 2:
        assert time.monotonic() < deadline, f"activity while idle? {servers}"
        time.sleep(0.3)
        servers = s.get(f"{s.base}/users/admin").json()["servers"]
    assert sorted(servers) == ["forever", "hour"] and all(srv["ready"] for srv in servers.values()), servers
    stopped = s.get(f"{s.base}/users/dave", params={"include_stopped_servers": 1}).json()["servers"]["short"]
    assert stopped["stopped"]  # stopped, not removed: the user may start it again with the same options


def test_the_home_page_shows_the_time_left_before_culling(culling_portal, lasting, artifacts):
    with chromium() as browser:
        page = browser.new_page()
        login(page, culling_portal.url, "admin", culling_portal.data.admin_password("admin"))
        hour = page.locator(".server-card[data-server=hour]")
        assert "CPU notebook · team-a" in hour.inner_text()
        assert re.fullmatch(r"Culled after 60 min idle; about (59|60) min left",
                            hour.locator(".idle-note").inner_text().strip())
        forever = page.locator(".server-card[data-server=forever]")
        assert "Long training" in forever.inner_text()
        assert forever.locator(".idle-note").count() == 0  # no limit: none shown
        page.screenshot(path=str(artifacts / "culling-home-time-left.png"), full_page=True)
