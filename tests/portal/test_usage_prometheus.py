"""The usage charts' reading of Prometheus (portal/usage_charts.py, portal/prometheus.py)
against a real Prometheus holding a day of backfilled team metrics, and each way reading
it fails: unreachable, hung, not Prometheus, a refused query, refused credentials."""

from __future__ import annotations

import os
import time

import pytest
from tornado import httpclient, httpserver, web

from portal.config import validate
from portal.ports import free_port
from portal.prometheus import TOKEN_ENV, Prometheus, PrometheusError
from portal.usage_charts import RANGES, usage
from tests.ops.prom import Prometheus as PrometheusServer
from tests.portal.usage_prom import GIB, HOSTILE_TEAM, MIB, backfill, hung

NOW = int(time.time())


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    folder = tmp_path_factory.mktemp("usage-prometheus")
    backfill(folder / "data", NOW)
    with PrometheusServer(folder, {"scrape_configs": []}) as server:
        yield server


def at(charts: dict, hours_ago: float) -> int:
    """The index of the point `hours_ago` hours before the chart's end."""
    return charts["timestamps"].index(charts["end"] - int(hours_ago * 3600))


async def test_six_hours_of_history_per_team(prom):
    charts = await usage(Prometheus(prom.url), "6h", now=NOW)
    assert (charts["step"], len(charts["timestamps"]), charts["end"]) == (60, 361, NOW)
    assert charts["timestamps"][0] == NOW - 6 * 3600
    gpus, storage = charts["gpus"], charts["storage"]
    # one line per team; the hostile label is no team; team-b has no quotas
    assert list(gpus["used"]) == list(storage["used"]) == ["team-a", "team-b"]
    assert list(gpus["quota"]) == list(storage["quota"]) == ["team-a"]
    three = at(charts, 3)  # team-a trained on 2 GPUs (scraped twice: counted once), team-b on 1
    assert (gpus["used"]["team-a"][three], gpus["used"]["team-b"][three], gpus["quota"]["team-a"][three]) == (2, 1, 3)
    assert (storage["used"]["team-a"][three], storage["used"]["team-b"][three]) == (4 * GIB, 300 * MIB)
    assert storage["quota"]["team-a"][three] == 8 * GIB
    five = at(charts, 5)
    assert (gpus["used"]["team-a"][five], gpus["used"]["team-b"][five]) == (0, 0)
    assert storage["used"]["team-a"][at(charts, 1)] == 6 * GIB
    # the history stops 30 minutes ago and nothing scrapes this Prometheus: no newer points
    assert gpus["used"]["team-a"][-1] is None and gpus["used"]["team-a"][at(charts, 0.6)] == 0


async def test_a_short_peak_between_two_points_still_shows(prom):
    """team-b held 3 GPUs from 10.25 to 10.1 hours ago; the week's points are 30 minutes
    apart (10.5 and 10 hours ago), and the one after the peak shows it."""
    charts = await usage(Prometheus(prom.url), "7d", now=NOW)
    assert (charts["step"], len(charts["timestamps"])) == (1800, 337)
    team_b = charts["gpus"]["used"]["team-b"]
    assert (team_b[at(charts, 10.5)], team_b[at(charts, 10)], team_b[at(charts, 9.5)]) == (0, 3, 0)
    assert charts["gpus"]["used"]["team-a"][0] is None  # a week ago: before the history


@pytest.mark.parametrize("name", RANGES)
async def test_every_range_stays_near_300_points(prom, name):
    charts = await usage(Prometheus(prom.url), name, now=NOW)
    span, step = RANGES[name]
    assert 280 <= len(charts["timestamps"]) <= 370
    assert charts["timestamps"] == list(range(NOW - span, NOW + 1, step))
    assert all(len(values) == len(charts["timestamps"]) for chart in ("gpus", "storage")
               for lines in charts[chart].values() for values in lines.values())


async def test_the_hostile_label_is_in_prometheus_but_not_in_the_charts(prom):
    """The filter is what keeps it out: Prometheus itself returns it."""
    raw = await Prometheus(prom.url).query_range("aiportal_team_gpus_held", NOW - 3600, NOW, 60)
    assert HOSTILE_TEAM in {s["metric"].get("team") for s in raw}
    charts = await usage(Prometheus(prom.url), "6h", now=NOW)
    assert HOSTILE_TEAM not in charts["gpus"]["used"]


async def failure(prometheus: Prometheus, query: str = "up") -> PrometheusError:
    with pytest.raises(PrometheusError) as caught:
        await prometheus.query_range(query, NOW - 600, NOW, 60)
    return caught.value


async def test_unreachable_is_503():
    error = await failure(Prometheus(f"http://127.0.0.1:{free_port()}", timeout=2))
    assert error.status == 503 and "unreachable" in error.message and "refused" in error.message.lower()


async def test_hung_is_503_after_the_timeout(prom):
    with hung(prom.proc):
        t0 = time.monotonic()
        error = await failure(Prometheus(prom.url, timeout=1))
        took = time.monotonic() - t0
    assert error.status == 503 and "did not answer within 1 s" in error.message
    assert 0.9 < took < 5


async def test_a_url_that_is_not_prometheus_is_502(prom):
    error = await failure(Prometheus(prom.url + "/somewhere-else"))
    assert error.status == 502 and "monitoring.prometheus_url" in error.message


async def test_a_query_prometheus_refuses_is_502_with_its_reason(prom):
    error = await failure(Prometheus(prom.url), "sum by (team) (")
    assert error.status == 502 and "400" in error.message and "bad_data" in error.message


class BearerGate(web.RequestHandler):
    """What stands before a protected Prometheus: a proxy that wants a Bearer token."""

    def initialize(self, upstream: str, token: str):
        self.upstream, self.token = upstream, token

    async def get(self, path):
        if self.request.headers.get("Authorization") != f"Bearer {self.token}":
            self.set_status(401)
            return self.finish("<html>401 Authorization Required</html>")
        answer = await httpclient.AsyncHTTPClient().fetch(self.upstream + self.request.uri, raise_error=False)
        self.set_status(answer.code)
        self.finish(answer.body)


async def test_the_token_from_the_environment_opens_a_protected_prometheus(prom):
    token, port = "prom-" + os.urandom(8).hex(), free_port()
    server = httpserver.HTTPServer(web.Application([(r"(/.*)", BearerGate, {"upstream": prom.url, "token": token})]))
    server.listen(port, "127.0.0.1")
    try:
        config = validate({"hub": {"admin_users": ["admin"]},
                           "monitoring": {"prometheus_url": f"http://127.0.0.1:{port}/", "timeout": 5}})
        charts = await usage(Prometheus.from_config(config, {TOKEN_ENV: token}), "6h", now=NOW)
        assert charts["gpus"]["used"]["team-a"][at(charts, 3)] == 2
        refused = await failure(Prometheus.from_config(config, {TOKEN_ENV: token + "x"}))
        assert refused.status == 502 and TOKEN_ENV in refused.message and token not in refused.message
        assert token not in repr(Prometheus.from_config(config, {TOKEN_ENV: token}))
    finally:
        server.stop()
