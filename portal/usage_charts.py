"""The operators' usage charts: what each team held and stored over time, read from Prometheus.

The queries are fixed here and the range is one of RANGES: a browser picks a range, never
PromQL. Each range has a step that keeps a chart near 300 points. A point is the highest
value in the window before it (at least Prometheus' own 5-minute look-back), so a peak
between two points still shows, and `max by (team)` counts a team once however many jobs
scrape the portal (each reports the same hub).
"""

from __future__ import annotations

import asyncio
import time

from .names import is_team_name
from .prometheus import Prometheus

#: range name → (seconds covered, step in seconds)
RANGES = {"6h": (6 * 3600, 60), "24h": (24 * 3600, 300), "7d": (7 * 86400, 1800)}
LOOK_BACK = 300

#: chart → line kind → metric the portal exports (portal/metrics.py)
METRICS = {
    "gpus": {"used": "aiportal_team_gpus_held", "quota": "aiportal_team_gpus_quota"},
    "storage": {"used": "aiportal_team_storage_bytes", "quota": "aiportal_team_storage_quota_bytes"},
}


def query(metric: str, step: int) -> str:
    return f"max by (team) (max_over_time({metric}[{max(step, LOOK_BACK)}s]))"


async def usage(prometheus: Prometheus, range_name: str, now: float | None = None) -> dict:
    """Every chart's lines for `range_name`, on one time axis: ``{"timestamps": [...],
    "gpus": {"used": {team: values}, "quota": {...}}, "storage": {...}}``, a value None
    where Prometheus has none. The last point is `now`: the charts end with the present."""
    span, step = RANGES[range_name]
    end = int(now if now is not None else time.time())
    start = end - span
    kinds = [(chart, kind, metric) for chart, lines in METRICS.items() for kind, metric in lines.items()]
    results = await asyncio.gather(*(prometheus.query_range(query(metric, step), start, end, step)
                                     for _, _, metric in kinds))
    timestamps = list(range(start, end + 1, step))
    out = {"range": range_name, "start": start, "end": end, "step": step, "timestamps": timestamps}
    for (chart, kind, _), series in zip(kinds, results, strict=True):
        out.setdefault(chart, {})[kind] = _by_team(series, start, step, len(timestamps))
    return out


def _by_team(series: list[dict], start: int, step: int, points: int) -> dict[str, list]:
    """Each team's values on the common axis; a label that is no team name is dropped
    (anything that writes to Prometheus could send one)."""
    teams = {}
    for s in series:
        team = s["metric"].get("team")
        if not is_team_name(team):
            continue
        values = [None] * points
        for t, v in s["values"]:
            i, off = divmod(t - start, step)
            if not off and 0 <= i < points:
                values[i] = int(v) if v is not None and v.is_integer() else v
        teams[team] = values
    return dict(sorted(teams.items()))
