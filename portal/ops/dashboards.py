"""Grafana dashboards as data, built with grafana-foundation-sdk: `aiportal ops dashboards
OUTDIR` writes one JSON file per dashboard, ready for Grafana's file provisioning or import.

Queries read the metrics of the jobs `aiportal-hub` and `aiportal-portal`
(portal/ops/scrape.py); every one is checked against a real Prometheus in tests/ops.
The data source is a dashboard variable, so the files fit any Grafana.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, Threshold, ThresholdsMode

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"  # or "stat": the last value, red below 1 (up/down)
    width: int = 12  # of 24 columns


@dataclass(frozen=True)
class Board:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    team_variable: bool = False


def _up(title: str, expr: str) -> Panel:
    return Panel(title, ((expr, title),), unit="none", kind="stat", width=6)


def _p95(metric: str) -> str:
    return f"histogram_quantile(0.95, sum by (le) (rate({metric}[{RATE}])))"


BOARDS = (
    Board("aiportal-overview", "aiportal: platform overview",
          "Is the platform up, who uses it, do servers start, how fast the APIs answer.", (
              _up("Hub", 'min(up{job="aiportal-hub"})'),
              # both scrapes go through the proxy: it is up when either answers
              _up("Proxy", 'max(up{job=~"aiportal-hub|aiportal-portal"})'),
              _up("Portal", 'min(up{job="aiportal-portal"})'),
              _up("S3 storage", "min(aiportal_storage_up)"),
              Panel("Active users", (("max by (period) (jupyterhub_active_users)", "{{period}}"),
                                     ("sum(jupyterhub_running_servers)", "running servers"))),
              Panel("Spawns per minute", (
                  (f"sum by (status) (rate(jupyterhub_server_spawn_duration_seconds_count[{RATE}])) * 60",
                   "{{status}}"),)),
              Panel("Spawn failures per minute", (
                  (f"sum by (team, reason) (rate(aiportal_team_spawn_failures_total[{RATE}])) * 60",
                   "{{team}}: {{reason}}"),)),
              Panel("API latency (p95)", ((_p95("aiportal_request_duration_seconds_bucket"), "portal"),
                                          (_p95("jupyterhub_request_duration_seconds_bucket"), "hub")), unit="s"),
          )),
    Board("aiportal-team", "aiportal: team", "One team's GPUs, servers and storage against its quotas.", (
        Panel("GPUs held vs quota", (('sum(aiportal_team_gpus_held{team="$team"})', "held"),
                                     ('sum(aiportal_team_gpus_quota{team="$team"})', "quota"))),
        Panel("GPU utilisation", (('aiportal_gpu_utilization_ratio{team="$team"}', "GPU {{gpu}}"),),
              unit="percentunit"),
        Panel("GPU memory used", (('aiportal_gpu_memory_used_bytes{team="$team"}', "GPU {{gpu}}"),),
              unit="bytes"),
        Panel("Servers by profile", (('sum by (profile, mode) (aiportal_team_servers{team="$team"})',
                                      "{{profile}} ({{mode}})"),)),
        Panel("CPUs held vs quota", (('sum(aiportal_team_cpu_held{team="$team"})', "held"),
                                     ('sum(aiportal_team_cpu_quota{team="$team"})', "quota"))),
        Panel("Memory held vs quota", (('sum(aiportal_team_memory_held_bytes{team="$team"})', "held"),
                                       ('sum(aiportal_team_memory_quota_bytes{team="$team"})', "quota")),
              unit="bytes"),
        Panel("Storage vs quota", (('sum(aiportal_team_storage_bytes{team="$team"})', "stored"),
                                   ('sum(aiportal_team_storage_quota_bytes{team="$team"})', "quota")),
              unit="bytes", width=24),
    ), team_variable=True),
)


def _panel(spec: Panel):
    builder = stat.Panel() if spec.kind == "stat" else timeseries.Panel()
    builder = builder.title(spec.title).datasource(DATASOURCE).unit(spec.unit).span(spec.width).height(
        4 if spec.kind == "stat" else 8)
    if spec.kind == "stat":
        builder = builder.thresholds(dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
            [Threshold(value=None, color="red"), Threshold(value=1, color="green")]))
    for i, (expr, legend) in enumerate(spec.queries):
        builder = builder.with_target(prometheus.Dataquery().expr(expr).legend_format(legend)
                                      .ref_id(chr(ord("A") + i)).datasource(DATASOURCE))
    return builder


def build(board: Board) -> dict:
    """The dashboard's JSON model."""
    builder = (dashboard.Dashboard(board.title).uid(board.uid).description(board.description)
               .tags(["aiportal"]).refresh("1m").time("now-6h", "now")
               .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")))
    if board.team_variable:
        builder = builder.with_variable(dashboard.QueryVariable("team").label("Team").datasource(DATASOURCE)
                                        .query("label_values(aiportal_team_gpus_held, team)"))
    for spec in board.panels:
        builder = builder.with_panel(_panel(spec))
    return json.loads(json.dumps(builder.build(), cls=JSONEncoder))


def files() -> dict[str, str]:
    """<uid>.json → its text, for every dashboard (also the Helm chart's dashboards/, portal/chart.py)."""
    return {f"{board.uid}.json": json.dumps(build(board), indent=2, sort_keys=True) + "\n" for board in BOARDS}


def render(outdir: str | Path) -> list[Path]:
    """Write <uid>.json for every dashboard into `outdir` (made if missing)."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in files().items():
        (path := out / name).write_text(text)
        paths.append(path)
    return paths
