"""`aiportal ops dashboards OUTDIR`: the Grafana JSON files, and every query in them judged
by a real Prometheus (after Grafana's own substitutions of its variables)."""

from __future__ import annotations

import json
import re

import pytest

from portal.cli import main

#: What Grafana puts in place of its variables before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$team": "team-a"}
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


def as_sent(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a variable Grafana would not fill: {expr}"
    return expr


@pytest.fixture(scope="module")
def boards(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("dashboards") / "grafana"
    assert main(["ops", "dashboards", str(out)]) == 0
    return {path.name: json.loads(path.read_text()) for path in sorted(out.iterdir())}


def queries(board: dict) -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in board["panels"] for target in panel.get("targets", [])]


def test_one_file_per_dashboard_with_its_panels(boards):
    assert set(boards) == {"aiportal-overview.json", "aiportal-team.json"}
    overview = {title for title, _ in queries(boards["aiportal-overview.json"])}
    assert {"Hub", "Proxy", "Portal", "S3 storage", "Active users", "Spawns per minute",
            "Spawn failures per minute", "API latency (p95)"} <= overview
    team = boards["aiportal-team.json"]
    assert {"GPUs held vs quota", "GPU utilisation", "Servers by profile", "Storage vs quota"} <= {
        title for title, _ in queries(team)}
    assert [v["name"] for v in team["templating"]["list"]] == ["datasource", "team"]
    # every query of the team board is about the chosen team
    assert all('team="$team"' in expr for _, expr in queries(team))
    for board in boards.values():
        assert board["uid"] and all(p["datasource"]["uid"] == "${datasource}" for p in board["panels"])


def test_every_panel_query_is_accepted_by_prometheus(boards, prometheus):
    checked = 0
    for name, board in boards.items():
        for title, expr in queries(board):
            try:
                prometheus.query(as_sent(expr))
            except AssertionError as e:
                raise AssertionError(f"{name}, panel {title!r}: {e}") from None
            checked += 1
    assert checked >= 15


def test_the_team_variable_query_is_accepted_by_prometheus(boards, prometheus):
    team = next(v for v in boards["aiportal-team.json"]["templating"]["list"] if v["name"] == "team")
    match = LABEL_VALUES.match(team["query"])
    assert match, team["query"]
    # what Grafana asks for label_values(selector, label)
    prometheus.get(f"/api/v1/label/{match['label']}/values", **{"match[]": match["selector"]})


@pytest.mark.parametrize("expr", ["sum(rate(x[$__rate_interval])", 'aiportal_team_servers{team="$team"} by (x)'])
def test_an_invalid_query_fails_the_check(prometheus, expr):
    with pytest.raises(AssertionError, match="bad_data"):
        prometheus.query(as_sent(expr))
