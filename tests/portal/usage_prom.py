"""Prometheus as the usage-chart tests need it (the process itself is tests/ops/prom.py's).

`backfill` writes a day of the portal's team metrics into its data folder before it starts
(`promtool tsdb create-blocks-from openmetrics`), so the charts have a past to draw: the
series portal/metrics.py exports, as a portal scraped under two instances would have left
them. `value` says what they were `h` hours before the `now` given to `backfill`; the
history stops 30 minutes before it, so the newest points of a chart can only come from a
live scrape. `hung(proc)` stops the process (SIGSTOP) for the length of a `with` block.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

GIB, MIB = 2**30, 2**20
START_H, END_H = 26, 0.5  # the history covers from 26 h to 30 min before `now`
HOSTILE_TEAM = '<img src=x onerror=alert(1)>'


def value(metric: str, team: str, h: float) -> float | None:
    """What the history says `metric` of `team` was `h` hours before `now` (None: no series)."""
    held = {"team-a": 2 if 2 <= h < 4 else 0, "team-b": 1 if 1 <= h < 3.5 else 3 if 10.1 <= h < 10.25 else 0,
            HOSTILE_TEAM: 5}  # team-b's 3 GPUs: a 9-minute peak between two points 30 minutes apart
    return {
        "aiportal_team_gpus_held": held.get(team),
        "aiportal_team_gpus_quota": {"team-a": 3}.get(team),
        "aiportal_team_storage_bytes": {"team-a": 4 * GIB if h >= 2 else 6 * GIB, "team-b": 300 * MIB}.get(team),
        "aiportal_team_storage_quota_bytes": {"team-a": 8 * GIB}.get(team),
    }[metric]


def openmetrics(now: int, step: int = 60) -> str:
    """The history as OpenMetrics text, one sample every `step` seconds. team-a's GPUs were
    scraped by two instances (a second job, or a replica): the charts must count them once."""
    lines = []
    for metric in ("aiportal_team_gpus_held", "aiportal_team_gpus_quota", "aiportal_team_storage_bytes",
                   "aiportal_team_storage_quota_bytes"):
        lines.append(f"# TYPE {metric} gauge")
        for team in ("team-a", "team-b", HOSTILE_TEAM):
            if value(metric, team, START_H) is None:
                continue
            instances = ["history:8000", "replica:8000"] if (metric, team) == ("aiportal_team_gpus_held", "team-a") \
                else ["history:8000"]
            for instance in instances:
                labels = f'team="{team}",job="aiportal-portal",instance="{instance}"'
                for t in range(now - int(START_H * 3600), now - int(END_H * 3600), step):
                    lines.append(f"{metric}{{{labels}}} {value(metric, team, (now - t) / 3600)} {t}")
    return "\n".join(lines + ["# EOF"]) + "\n"


def backfill(data_dir: Path, now: int) -> None:
    """Write the history into `data_dir` (a Prometheus --storage.tsdb.path not yet in use)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / "history.om"
    source.write_text(openmetrics(now))
    done = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=24h",
                           str(source), str(data_dir)], capture_output=True, text=True, timeout=60)  # 3 blocks, not 14
    assert done.returncode == 0, done.stdout + done.stderr


@contextlib.contextmanager
def hung(proc):
    """The process stopped: connections are still accepted (by the kernel), never answered."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 5
        while not all(Path(t, "stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
                      for t in Path(f"/proc/{proc.pid}/task").iterdir()):  # every thread, not only the first
            assert time.monotonic() < deadline, "the process did not stop"
            time.sleep(0.01)
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)
