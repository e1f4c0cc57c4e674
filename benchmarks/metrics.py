"""Metrics benchmark: what collecting metrics costs a portal API call, and how long a scrape
of `/services/portal/metrics` takes, at 100 teams / 1,000 users.

Two portals of that size run side by side, one with `monitoring.metrics: false`, and a
member's `GET /teams` alternates between them (so the shared machine's noise falls on both
alike): the ratio of their p95 latencies is what observing every request (the latency
histogram, the counters) costs. Target ≤ 1.05. Then Prometheus' view: the scrape of the
portal with metrics on, as Prometheus sends it (the Bearer metrics token), p95 < 200 ms.
Runs alone (`.venv/bin/python benchmarks/metrics.py`); the last line printed is one JSON object.
"""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.teams import MEMBER, grow, p95, start  # noqa: E402
from portal.tokens import new_token  # noqa: E402

SIZE = (1000, 100)  # users, teams
SAMPLES = 400
SCRAPES = 100
RATIO_TARGET, SCRAPE_TARGET_MS = 1.05, 200


def member_session(portal) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"token {new_token(portal.data.root, MEMBER, str(portal.config_path))}"
    return s


def main() -> None:
    token = secrets.token_hex(32)
    with tempfile.TemporaryDirectory() as d:
        on = start(Path(d), "on", environ={"AIPORTAL_METRICS_TOKEN": token})
        off = start(Path(d), "off", monitoring={"metrics": False})
        try:
            grow(on, *SIZE)
            grow(off, *SIZE)
            portals = {"on": (member_session(on), on.url), "off": (member_session(off), off.url)}
            times = {name: [] for name in portals}
            for i in range(SAMPLES):
                order = list(portals) if i % 2 else list(reversed(portals))
                for name in order:
                    s, url = portals[name]
                    began = time.perf_counter()
                    r = s.get(f"{url}services/portal/api/v1/teams", timeout=30)
                    times[name].append(time.perf_counter() - began)
                    assert r.status_code == 200, (name, r.status_code)
            scrape = requests.Session()
            scrape.headers["Authorization"] = f"Bearer {token}"
            scrapes, size = [], 0
            for _ in range(SCRAPES):
                began = time.perf_counter()
                r = scrape.get(f"{on.url}services/portal/metrics", timeout=30)
                scrapes.append(time.perf_counter() - began)
                assert r.status_code == 200, r.status_code
                size = len(r.content)
            assert 'aiportal_team_gpus_held{team="team-099"}' in r.text, "the scrape misses the 100th team"
            assert off.config.raw["monitoring"]["metrics"] is False
        finally:
            on.stop()
            off.stop()
    p_on, p_off, p_scrape = p95(times["on"]), p95(times["off"]), p95(scrapes)
    ratio = p_on / p_off
    ok = ratio <= RATIO_TARGET and p_scrape * 1000 < SCRAPE_TARGET_MS
    print(json.dumps({"bench": "metrics", "users": SIZE[0], "teams": SIZE[1], "samples": SAMPLES,
                      "api_p95_on_ms": round(p_on * 1000, 1), "api_p95_off_ms": round(p_off * 1000, 1),
                      "ratio": round(ratio, 3), "scrape_p95_ms": round(p_scrape * 1000, 1),
                      "scrape_bytes": size, "target": f"ratio<={RATIO_TARGET}, scrape<{SCRAPE_TARGET_MS}ms",
                      "ok": ok}))


if __name__ == "__main__":
    main()
