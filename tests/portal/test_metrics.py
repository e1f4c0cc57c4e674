"""GET /services/portal/metrics on a real portal: who may scrape it, and what it says."""

from __future__ import annotations

import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from portal.launcher import Portal
from tests.conftest import TEST_CONFIG, free_port, remove_containers, tokens_of, write_config
from tests.datasets import flow
from tests.http import HTTP_TIMEOUT, TimedSession

SCRAPE_TOKEN = "scrape-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One portal whose service has AIPORTAL_METRICS_TOKEN set."""
    data_dir = tmp_path_factory.mktemp("metrics")
    path = write_config(data_dir / "test-portal.yaml", TEST_CONFIG)
    p = Portal(data_dir, str(path), port=free_port(), quiet=True,
               environ={"AIPORTAL_METRICS_TOKEN": SCRAPE_TOKEN}).start()
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
