"""Apps benchmark: from a launch to the first desktop frame, against a launch to a ready
JupyterLab, in the same run.

Both are sessions launched through the portal API (POST /sessions) by a signed-in user,
and both are watched in Chromium as the user sees them: the Desktop until its noVNC canvas
shows a drawn XFCE desktop, JupyterLab until its shell is on the page. Both images start
the same jupyterhub-singleuser, so the ratio is what the desktop adds (Xvnc, XFCE, noVNC).
Rounds alternate the two apps after one warm-up each; the medians are compared.

Runs alone (`.venv/bin/python benchmarks/apps.py`); the last line printed is one JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.teams import start  # noqa: E402
from portal.tokens import new_token  # noqa: E402
from tests.browser import chromium, desktop_frame, signed_in  # noqa: E402
from tests.http import TimedSession  # noqa: E402

USER = "bench"
ROUNDS = 3
TARGET = 1.5
CONFIG = {
    "hub": {"admin_users": ["admin"]},
    "auth": {"type": "native", "minimum_password_length": 8},
    "profiles": {"cpu": {"display_name": "CPU", "image": "localhost/aiportal-dev:latest", "cpu": 2, "memory": "4Gi"}},
    "teams": [{"name": "bench", "display_name": "Bench", "members": [USER], "profiles": ["cpu"]}],
}


def launch_and_open(api: TimedSession, base: str, page, portal_url: str, app: str, shown) -> float:
    """Seconds from the launch request to `shown(page)` returning; the session is removed after."""
    t0 = time.monotonic()
    r = api.post(f"{base}/sessions", json={"app": app, "hours": 1})
    r.raise_for_status()
    name = r.json()["name"]
    try:
        while (session := api.get(f"{base}/sessions/{name}").json())["state"] != "running":
            if session["state"] == "completed" or time.monotonic() - t0 > 180:
                raise SystemExit(f"{app} did not start: {session}")
            time.sleep(0.1)
        page.goto(f"{portal_url}{session['connect_url'].lstrip('/')}")
        shown(page)
        return time.monotonic() - t0
    finally:
        api.delete(f"{base}/sessions/{name}")
        while api.get(f"{base}/sessions/{name}").json()["state"] != "completed":
            time.sleep(0.2)
        api.delete(f"{base}/sessions/{name}")


def lab_ready(page) -> None:
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)


def desktop_drawn(page) -> None:
    page.wait_for_selector("canvas", timeout=120_000)
    desktop_frame(page, timeout=120)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="aiportal-bench-apps-") as tmp:
        portal = start(Path(tmp), "apps", **CONFIG)
        try:
            api = TimedSession()
            api.headers["Authorization"] = f"token {new_token(portal.data.root, USER, str(portal.config_path))}"
            base = f"{portal.url}services/portal/api/v1"
            times = {"jupyterlab": [], "desktop": []}
            with chromium() as browser:
                page = signed_in(browser, portal, USER)
                page.set_viewport_size({"width": 1280, "height": 800})
                for round_ in range(ROUNDS + 1):  # round 0 warms up each
                    for app, shown in (("jupyterlab", lab_ready), ("desktop", desktop_drawn)):
                        seconds = launch_and_open(api, base, page, portal.url, app, shown)
                        print(f"round {round_} {app}: {seconds:.2f} s", flush=True)
                        if round_:
                            times[app].append(seconds)
        finally:
            portal.stop()
    desktop, lab = statistics.median(times["desktop"]), statistics.median(times["jupyterlab"])
    ratio = desktop / lab
    print(json.dumps({"bench": "apps", "desktop_first_frame_s": round(desktop, 2), "jupyterlab_ready_s": round(lab, 2),
                      "rounds": ROUNDS, "ratio": round(ratio, 3), "target": f"<={TARGET}", "ok": ratio <= TARGET}))


if __name__ == "__main__":
    main()
