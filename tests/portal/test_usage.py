"""The operators' usage charts on a real portal that a real Prometheus scrapes every second
(with the scrape config `aiportal ops prometheus` writes), on top of a day of backfilled
history: the API's data, who may read it, what a hung Prometheus does to it, the page
without a Prometheus, and the charts as Chromium draws them."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import pytest
import requests
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from portal.launcher import Portal
from portal.ops import scrape
from portal.ports import free_port
from tests.browser import chromium, signed_in
from tests.conftest import TEST_CONFIG, remove_containers, tokens_of, write_config
from tests.http import HTTP_TIMEOUT
from tests.ops.prom import Prometheus
from tests.portal.usage_prom import GIB, MIB, backfill, hung

SCRAPE_TOKEN = "scrape-" + uuid.uuid4().hex
QUERY_TIMEOUT = 2  # the portal's monitoring.timeout here: a hung Prometheus fails fast


@dataclass
class Site:
    portal: Portal
    prom: Prometheus
    token: object  # token(user) → a hub API token

    def get(self, path: str, user: str | None = "admin", **params) -> requests.Response:
        headers = {"Authorization": f"token {self.token(user)}"} if user else {}
        return requests.get(f"{self.portal.url}services/portal/{path}", params=params, headers=headers,
                            timeout=HTTP_TIMEOUT)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder, port = tmp_path_factory.mktemp("usage"), free_port()
    (folder / "scrape-token").write_text(SCRAPE_TOKEN)
    backfill(folder / "prometheus" / "data", int(time.time()))
    config = scrape.config(f"http://127.0.0.1:{port}/", str(folder / "scrape-token"), interval="1s")
    with Prometheus(folder / "prometheus", config) as prom:
        path = write_config(folder / "portal.yaml", dict(
            TEST_CONFIG, monitoring={"prometheus_url": prom.url, "timeout": QUERY_TIMEOUT}))
        portal = Portal(folder / "data", str(path), port=port, quiet=True,
                        environ={"AIPORTAL_METRICS_TOKEN": SCRAPE_TOKEN}).start()
        try:
            prom.wait_for('aiportal_team_gpus_quota{team="team-a", instance!="history:8000"}')
            yield Site(portal, prom, tokens_of(portal))
        finally:
            portal.stop()
            remove_containers(portal)


def at(charts: dict, hours_ago: float) -> int:
    return charts["timestamps"].index(charts["end"] - int(hours_ago * 3600))


def conforms(site, body: dict, schema: str) -> list[str]:
    """Where `body` breaks the schema the live OpenAPI document gives it."""
    doc = site.get("api/v1/openapi.json").json()
    registry = Registry().with_resource("urn:doc", Resource.from_contents(doc, default_specification=DRAFT202012))
    validator = Draft202012Validator({"$ref": f"urn:doc#/components/schemas/{schema}"}, registry=registry)
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)]


def test_history_and_the_live_portal_in_one_answer(site):
    r = site.get("api/v1/usage")
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    charts = r.json()
    assert conforms(site, charts, "UsageCharts") == []
    assert (charts["range"], charts["step"], len(charts["timestamps"])) == ("6h", 60, 361)
    assert abs(charts["end"] - time.time()) < 30
    gpus, storage = charts["gpus"], charts["storage"]
    assert list(gpus["used"]) == list(storage["used"]) == ["team-a", "team-b"]  # and not HOSTILE_TEAM
    assert list(gpus["quota"]) == list(storage["quota"]) == ["team-a"]
    three = at(charts, 3)  # from the history
    assert (gpus["used"]["team-a"][three], gpus["used"]["team-b"][three], gpus["quota"]["team-a"][three]) == (2, 1, 3)
    assert (storage["used"]["team-b"][three], storage["quota"]["team-a"][three]) == (300 * MIB, 8 * GIB)
    # now: from the running portal, whose portal.yaml gives team-a 2 GPUs and 10Gi, team-b nothing
    assert (gpus["quota"]["team-a"][-1], storage["quota"]["team-a"][-1]) == (2, 10 * GIB)
    assert (gpus["used"]["team-a"][-1], gpus["used"]["team-b"][-1]) == (0, 0)


@pytest.mark.parametrize("name,step,points", [("24h", 300, 289), ("7d", 1800, 337)])
def test_longer_ranges_keep_about_300_points(site, name, step, points):
    charts = site.get("api/v1/usage", range=name).json()
    assert (charts["range"], charts["step"], len(charts["timestamps"])) == (name, step, points)
    assert max(v for v in charts["gpus"]["used"]["team-a"] if v is not None) == 2


@pytest.mark.parametrize("sent", ["1h", "", "6H", "sum(aiportal_team_gpus_held)", 'up{job=~".+"}', "6h or vector(1)"])
def test_range_is_a_name_never_promql(site, sent):
    r = site.get("api/v1/usage", range=sent)
    assert r.status_code == 400 and r.json() == {"status": 400, "message": "range: must be one of 6h, 24h, 7d"}


def test_only_operators_may_read_usage(site):
    anonymous = site.get("api/v1/usage", user=None)
    assert anonymous.status_code == 401 and anonymous.json()["status"] == 401
    for user in ("bob", "alice"):  # a member, a team admin
        api, page = site.get("api/v1/usage", user), site.get("usage", user)
        assert api.status_code == 403 and api.json()["message"] == "this is for operators"
        assert page.status_code == 403 and "for operators" in page.text
    page = site.get("usage")
    assert page.status_code == 200 and 'id="chart-gpus"' in page.text and "vendor/uPlot.iife.min.js" in page.text


def test_a_hung_prometheus_is_503_with_its_cause_then_recovers(site):
    with hung(site.prom.proc):
        r = site.get("api/v1/usage")
    assert r.status_code == 503, r.text
    assert r.json() == {"status": 503, "message": f"Prometheus did not answer within {QUERY_TIMEOUT} s "
                                                  "(Timeout during request)"}
    assert site.get("api/v1/usage").status_code == 200


def test_without_prometheus_the_page_says_so(portal, token):
    """The session portal has no monitoring section: no charts, and where to configure them."""
    def get(path, user="admin"):
        return requests.get(f"{portal.url}services/portal/{path}", headers={"Authorization": f"token {token(user)}"},
                            timeout=HTTP_TIMEOUT)

    page = get("usage")
    assert page.status_code == 200 and 'id="usage-off"' in page.text
    assert "Prometheus is not configured" in page.text and "prometheus_url" in page.text
    assert "docs/operations.md" in page.text
    assert "uPlot" not in page.text and 'id="chart-gpus"' not in page.text
    api = get("api/v1/usage")
    assert api.status_code == 404 and "monitoring.prometheus_url" in api.json()["message"]
    assert get("api/v1/usage", "bob").status_code == 403


# --- in Chromium ----------------------------------------------------------------------


def legend(page, chart: str) -> dict[str, str]:
    """uPlot's legend of a chart: series label → the value it shows at the cursor (the time
    axis' own row left out)."""
    rows = page.locator(f"#chart-{chart} .u-legend tr.u-series")
    labels = [rows.nth(i).locator(".u-label").inner_text() for i in range(rows.count())]
    assert labels[:1] == ["Time"], labels
    return {label: rows.nth(i).locator(".u-value").inner_text() for i, label in enumerate(labels) if i}


def hover(page, chart: str, fraction: float) -> None:
    """The mouse over a chart's plot, `fraction` of the way from its start to its end."""
    box = page.locator(f"#chart-{chart} .u-over").bounding_box()
    page.mouse.move(box["x"] + (box["width"] - 1) * fraction, box["y"] + box["height"] / 2)


def test_operator_sees_one_line_per_team_and_a_member_is_refused(site, artifacts):
    with chromium() as browser:
        page = signed_in(browser, site.portal, "admin")
        page.set_viewport_size({"width": 1280, "height": 1000})
        page.goto(f"{site.portal.url}services/portal/teams")
        page.click("#usage-link")
        page.wait_for_selector("#usage[data-loaded='6h']")
        assert page.locator("nav a.nav-link", has_text="Usage").count() == 1
        assert page.locator("#chart-gpus canvas").count() == 1 and page.locator("#chart-storage canvas").count() == 1
        teams = ["team-a", "team-a quota", "team-b"]
        assert list(legend(page, "gpus")) == teams and list(legend(page, "storage")) == teams

        hover(page, "gpus", 0.5)  # three hours ago, from the history
        assert legend(page, "gpus") == {"team-a": "2", "team-a quota": "3", "team-b": "1"}
        hover(page, "storage", 0.5)
        assert legend(page, "storage") == {"team-a": "4.0 GiB", "team-a quota": "8.0 GiB", "team-b": "300.0 MiB"}
        hover(page, "gpus", 1)  # now, from the running portal
        assert legend(page, "gpus")["team-a quota"] == "2"
        page.screenshot(path=str(artifacts / "usage-charts.png"), full_page=True)

        page.click("label[for=range-7d]")
        page.wait_for_selector("#usage[data-loaded='7d']")
        assert list(legend(page, "gpus")) == teams
        assert page.csp_errors == [] and page.locator("#usage-alert").is_hidden()

        # a member, signed in with a token (the same hub user resolution as a login cookie)
        member = browser.new_context(extra_http_headers={"Authorization": f"token {site.token('bob')}"}).new_page()
        answer = member.goto(f"{site.portal.url}services/portal/usage")
        assert answer.status == 403 and "for operators" in member.locator("#portal-main").inner_text()
        assert member.locator("nav a.nav-link", has_text="Usage").count() == 0
