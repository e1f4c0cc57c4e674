"""GET /services/portal/metrics on a real portal: who may scrape it, and what it says."""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer

from portal.app import make_app
from portal.config import validate
from portal.launcher import Portal
from portal.metrics import Metrics
from portal.ops import dashboards, rules
from spawners.container import label
from spawners.gpus import MiB, parse_readings
from tests.conftest import TEST_CONFIG, free_port, remove_containers, tokens_of, write_config
from tests.datasets import flow
from tests.http import HTTP_TIMEOUT, TimedSession
from tests.spawners.servers import containers, hub, start, stop, team_quota, wait_ready

SCRAPE_TOKEN = "scrape-" + uuid.uuid4().hex
FAKE_NVIDIA = Path(__file__).resolve().parent.parent / "fake_nvidia"  # answers the GPU query for 4 GPUs


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One portal whose service has AIPORTAL_METRICS_TOKEN set and the fake nvidia-smi on its PATH
    (its GPU indexes are TEST_CONFIG's `gpus`)."""
    data_dir = tmp_path_factory.mktemp("metrics")
    path = write_config(data_dir / "test-portal.yaml", TEST_CONFIG)
    p = Portal(data_dir, str(path), port=free_port(), quiet=True,
               environ={"AIPORTAL_METRICS_TOKEN": SCRAPE_TOKEN,
                        "PATH": f"{FAKE_NVIDIA}{os.pathsep}{os.environ['PATH']}"}).start()
    yield p, tokens_of(p)
    p.stop()
    remove_containers(p)


def scrape(site, authorization: str | None) -> requests.Response:
    portal, _ = site
    headers = {"Authorization": authorization} if authorization else {}
    return requests.get(f"{portal.url}services/portal/metrics", headers=headers, timeout=HTTP_TIMEOUT)


def samples(site) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) → value, from the operator's scrape."""
    r = scrape(site, f"token {site[1]('admin')}")
    assert r.status_code == 200, r.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def team(name: str) -> frozenset:
    return frozenset({"team": name}.items())


def api(site, user: str) -> requests.Session:
    portal, token = site
    s = TimedSession()
    s.headers["Authorization"] = f"token {token(user)}"
    s.base = f"{portal.url}services/portal/api/v1/teams/team-a"
    return s


def test_who_may_scrape(site):
    anonymous = scrape(site, None)
    assert anonymous.status_code == 401 and anonymous.headers["Content-Type"] == "application/json"
    member = scrape(site, f"token {site[1]('bob')}")
    assert member.status_code == 403 and "read:metrics" in member.json()["message"]
    operator = scrape(site, f"token {site[1]('admin')}")
    assert operator.status_code == 200
    assert operator.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert scrape(site, f"Bearer {SCRAPE_TOKEN}").status_code == 200  # Prometheus, without a hub user
    wrong = scrape(site, f"Bearer {SCRAPE_TOKEN}x")
    assert wrong.status_code == 401 and wrong.json()["status"] == 401


def test_team_figures_and_service_counters(site):
    before = samples(site)
    assert before[("aiportal_team_gpus_quota", team("team-a"))] == 2  # as portal.yaml says
    assert before[("aiportal_team_storage_quota_bytes", team("team-a"))] == 10 * 2**30
    assert ("aiportal_team_gpus_quota", team("team-b")) not in before  # team-b has no limits
    assert before[("aiportal_team_gpus_held", team("team-a"))] == 0
    assert before[("aiportal_gpus", frozenset())] == 4
    assert before[("aiportal_hub_up", frozenset())] == 1 and before[("aiportal_storage_up", frozenset())] == 1
    assert all("user" not in dict(labels) for _, labels in before)

    bob, data = api(site, "bob"), b"x" * 1234
    key = f"metrics/{uuid.uuid4().hex}.bin"
    flow.upload(bob, key, data)
    r = bob.post(f"{bob.base}/shares", json={"key": key, "expires_in": 60})
    assert r.status_code == 201, r.text

    after = samples(site)

    def grew(name: str) -> float:
        return after[(name, team("team-a"))] - before.get((name, team("team-a")), 0)

    assert grew("aiportal_uploads_completed_total") == 1
    assert grew("aiportal_upload_bytes_total") == len(data)
    assert grew("aiportal_share_links_created_total") == 1


def test_servers_are_counted_by_team_profile_and_mode_without_a_hub():
    from portal.config import Profile
    from portal.metrics import Metrics, Snapshot, servers_by_profile
    from portal.teams import Team

    profiles = {"cpu": Profile("cpu", "img", "CPU", "", "dev", 1, 2**30, 0, "jupyter"),
                "prod": Profile("prod", "img", "Prod", "", "prod", 1, 2**30, 0, "jupyter")}
    users = [{"name": "u", "servers": {"": {"user_options": {"team": "team-a", "profile": "cpu"}},
                                       "b": {"user_options": {"team": "team-a", "profile": "prod"}},
                                       "c": {"user_options": {"team": "team-a", "profile": "removed"}},
                                       "d": {"user_options": {"team": "elsewhere", "profile": "cpu"}}}}]
    metrics = Metrics()
    metrics.collector.snapshot = Snapshot(True, True, 0, servers=servers_by_profile(
        [Team("team-a", {}, [])], users, profiles), promotions={("team-a", "success"): 2})
    found = {(s.name, tuple(sorted(s.labels.values()))): s.value for family in metrics.collector.collect()
             for s in family.samples if s.name in ("aiportal_team_servers", "aiportal_team_promotions")}
    assert found == {("aiportal_team_servers", ("cpu", "dev", "team-a")): 1,
                     ("aiportal_team_servers", ("prod", "prod", "team-a")): 1,
                     ("aiportal_team_servers", ("team-a", "unknown", "unknown")): 1,
                     ("aiportal_team_promotions", ("success", "team-a")): 2}


def labelled(**labels) -> frozenset:
    return frozenset(labels.items())


def failures(site) -> dict[tuple[str, str], float]:
    return {(dict(labels)["team"], dict(labels)["reason"]): value for (name, labels), value in samples(site).items()
            if name == "aiportal_team_spawn_failures_total"}


def test_failed_spawns_are_counted_by_team_and_reason(site):
    portal, token = site
    before = failures(site)
    bob, carol = hub(portal, token, "bob"), hub(portal, token, "carol")
    try:
        with team_quota(portal, token, "team-a", gpus=0):
            r = start(bob, "bob", "refused", "team-a", "gpu")
            assert r.status_code == 400 and "GPUs" in r.json()["message"], r.text
        r = start(carol, "carol", "broken", "team-b", "missing")
        assert r.status_code == 500 and "aiportal-missing" in r.json()["message"], r.text
        expected = {("team-a", "quota"): 1, ("team-b", "image"): 1}
        deadline = time.monotonic() + 15  # the hub writes each failure just after answering
        while True:
            after = failures(site)
            grown = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
            if grown == expected or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert grown == expected
    finally:
        for s, user, server in ((bob, "bob", "refused"), (carol, "carol", "broken")):
            s.delete(f"{s.base}/users/{user}/servers/{server}", json={"remove": True})


def test_gpu_utilisation_and_memory_name_the_team_holding_the_gpu(site):
    portal, token = site
    recorded = {r.index: r for r in parse_readings((FAKE_NVIDIA / "query-gpu.csv").read_text())}
    bob = hub(portal, token, "bob")
    assert start(bob, "bob", "trainer", "team-a", "gpu").status_code in (201, 202)
    try:
        wait_ready(bob, "bob", "trainer")
        (held,) = containers(portal, user="bob", server="trainer")[0]["Labels"][label("gpus")].split(",")
        found = samples(site)
    finally:
        stop(bob, "bob", "trainer")
    # team-a holds GPU `held` at its recorded utilisation; the others are free
    assert found[("aiportal_gpu_utilization_ratio", labelled(gpu=held, team="team-a"))] == recorded[held].utilization
    assert found[("aiportal_gpu_memory_used_bytes", labelled(gpu=held, team="team-a"))] == recorded[held].memory_used
    free = sorted(set(recorded) - {held})
    assert all(("aiportal_gpu_memory_used_bytes", labelled(gpu=gpu, team="")) in found for gpu in free)
    assert {dict(labels)["gpu"] for name, labels in found if name == "aiportal_gpu_memory_total_bytes"} == set(recorded)
    assert found[("aiportal_gpu_memory_total_bytes", labelled(gpu="1"))] == 81920 * MiB
    # GPU 3 reports no utilisation ("[N/A]"): no sample rather than a made-up 0
    assert not any(name == "aiportal_gpu_utilization_ratio" and dict(labels)["gpu"] == "3" for name, labels in found)


def test_request_latencies_by_handler_method_and_code(site):
    portal, token = site
    secret = f"bob-private-{uuid.uuid4().hex}"
    r = requests.get(f"{portal.url}services/portal/api/v1/{secret}", timeout=HTTP_TIMEOUT,
                     headers={"Authorization": f"token {token('bob')}"})
    assert r.status_code == 404
    r = requests.request("PROPFIND", f"{portal.url}services/portal/metrics", timeout=HTTP_TIMEOUT)
    assert r.status_code == 405
    found = samples(site)
    count = "aiportal_request_duration_seconds_count"
    assert found[(count, labelled(handler="NoSuchEndpointHandler", method="GET", code="404"))] >= 1
    assert found[(count, labelled(handler="MetricsHandler", method="other", code="405"))] >= 1
    assert found[(count, labelled(handler="MetricsHandler", method="GET", code="200"))] >= 1  # earlier scrapes
    values = {v for name, labels in found if name.startswith("aiportal_request_duration") for _, v in labels}
    assert not any(secret in v or "/" in v for v in values)


def test_metrics_off_observe_nothing_and_answer_404():
    config = validate({**TEST_CONFIG, "monitoring": {"metrics": False}})
    metrics = Metrics.from_config(config)

    async def run() -> list[int]:
        port = free_port()
        app = make_app(config, hub_api_url="http://127.0.0.1:9/hub/api/", api_token="unused",
                       prefix="/services/portal/", cookie_secret=uuid.uuid4().hex, metrics=metrics)
        server = HTTPServer(app)
        server.listen(port, "127.0.0.1")
        try:
            client = AsyncHTTPClient()
            return [(await client.fetch(f"http://127.0.0.1:{port}/services/portal/{path}", raise_error=False,
                                        request_timeout=HTTP_TIMEOUT)).code
                    for path in ("metrics", "api/v1/nothing")]
        finally:
            server.stop()

    assert asyncio.run(run()) == [404, 404]
    assert not metrics.enabled
    assert [s for family in metrics.registry.collect() for s in family.samples
            if s.name.startswith("aiportal_request_duration")] == []


def test_every_metric_the_dashboards_and_alert_rules_read_is_exported(site):
    """Runs last in the module: by then the portal has counted failed spawns, uploads and share
    links, and nvidia-smi readings; the hub's /hub/metrics gives the jupyterhub_ series."""
    portal, token = site
    hub_metrics = requests.get(f"{portal.url}hub/metrics", timeout=HTTP_TIMEOUT,
                               headers={"Authorization": f"token {token('admin')}"})
    assert hub_metrics.status_code == 200, hub_metrics.text
    scrape_ = scrape(site, f"token {token('admin')}")
    families = [f for text in (scrape_.text, hub_metrics.text) for f in text_string_to_metric_families(text)]
    # sample names (counters' _total, histograms' _bucket), and the names of families with no
    # sample now (servers by profile while none runs)
    exported = {f.name for f in families} | {s.name for f in families for s in f.samples}
    queries = [t["expr"] for board in dashboards.BOARDS for b in [dashboards.build(board)]
               for panel in b["panels"] for t in panel.get("targets", [])]
    queries += [rule.expr for group in rules.GROUPS.values() for rule in group]
    read = {name for q in queries for name in re.findall(r"\b(?:aiportal|jupyterhub)_[a-z0-9_]+", q)}
    assert len(read) >= 15, read  # the pattern finds the names
    assert read - exported == set(), f"read by dashboards or rules, exported by neither: {sorted(read - exported)}"
