"""Teams at scale: a one-team member's `GET /teams` and home page at 1,000 users/300 teams
against the same at 10 users/2 teams.

A member's request must cost the same whatever the size of the deployment: the portal
reads the caller's own groups, not every group of the hub. Two portals run side by side,
a small one and a large one, and requests alternate between them, so the shared
machine's noise falls on both alike. The operator of the large one must still see all 300
teams (following the pages). Last line: one JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal.launcher import Portal  # noqa: E402
from portal.ports import free_port  # noqa: E402
from portal.tokens import new_token  # noqa: E402

SMALL = (10, 2)  # users, teams
LARGE = (1000, 300)
SAMPLES = 300
TARGET = 1.2
MEMBER = "user-0"  # in exactly one team in both portals


def start(tmp: Path, name: str, environ: dict | None = None, **config) -> Portal:
    """A portal whose team-000 has MEMBER; `config`: more top-level portal.yaml sections."""
    data = tmp / name
    data.mkdir()
    path = data / "portal.yaml"
    path.write_text(yaml.safe_dump({
        "storage": {"port": free_port(), "usage_interval": 3600},
        "teams": [{"name": "team-000", "members": [MEMBER]}], **config}))
    return Portal(data, str(path), port=free_port(), quiet=True, environ=environ).start()


def grow(portal: Portal, users: int, teams: int) -> None:
    """Users user-0…, teams team-000…; every user in exactly one team."""
    hub = f"{portal.url}hub/api"
    admin = {"Authorization": f"token {new_token(portal.data.root, 'admin', str(portal.config_path))}"}
    names = [f"user-{i}" for i in range(users)]
    for i in range(0, users, 200):
        r = requests.post(f"{hub}/users", headers=admin, json={"usernames": names[i:i + 200]}, timeout=60)
        assert r.status_code in (201, 409), r.text
    groups = [f"team-{t:03d}" for t in range(1, teams)]
    r = requests.post(f"{hub}/groups", headers=admin, json={"groups": groups}, timeout=60)
    assert r.status_code == 201, r.text
    for t in range(1, teams):
        members = [n for i, n in enumerate(names) if i % teams == t]
        r = requests.post(f"{hub}/groups/team-{t:03d}/users", headers=admin, json={"users": members}, timeout=60)
        assert r.ok, r.text


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def operator_sees(portal: Portal) -> int:
    admin = {"Authorization": f"token {new_token(portal.data.root, 'admin', str(portal.config_path))}"}
    url, seen = f"{portal.url}services/portal/api/v1/teams?limit=100", 0
    while url:
        page = requests.get(url, headers=admin, timeout=60).json()
        seen += len(page["items"])
        following = page["_pagination"]["next"]
        url = f"{portal.url.rstrip('/')}{following['url']}" if following else None
    return seen


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        small, large = start(Path(d), "small"), start(Path(d), "large")
        try:
            grow(small, *SMALL)
            grow(large, *LARGE)
            sessions = {}
            for name, p in (("small", small), ("large", large)):
                s = requests.Session()
                s.headers["Authorization"] = f"token {new_token(p.data.root, MEMBER, str(p.config_path))}"
                sessions[name] = (s, p.url)
            times = {(size, what): [] for size in sessions for what in ("api", "page")}
            for _ in range(SAMPLES):
                for size, (s, url) in sessions.items():
                    for what, path in (("api", "services/portal/api/v1/teams"), ("page", "services/portal/")):
                        began = time.perf_counter()
                        r = s.get(url + path, timeout=30)
                        times[(size, what)].append(time.perf_counter() - began)
                        assert r.status_code == 200, (size, what, r.status_code)
            listed = operator_sees(large)
        finally:
            small.stop()
            large.stop()
    result = {"bench": "teams", "samples": SAMPLES, "small": SMALL, "large": LARGE, "operator_listed": listed}
    ok = listed == LARGE[1]
    for what in ("api", "page"):
        a, b = p95(times[("large", what)]), p95(times[("small", what)])
        ratio = a / b
        result.update({f"{what}_p95_large_ms": round(a * 1000, 1), f"{what}_p95_small_ms": round(b * 1000, 1),
                       f"{what}_ratio": round(ratio, 2)})
        ok = ok and ratio <= TARGET
    print(json.dumps({**result, "target": f"<={TARGET}", "ok": ok}))


if __name__ == "__main__":
    main()
