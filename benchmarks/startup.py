"""Start-up time: `aiportal up` until the hub API answers, against a bare JupyterHub.

The baseline is `jupyterhub` with the same configurable-http-proxy and an otherwise empty
config, measured in the same run, alternating with the portal, so the ratio holds on a
noisy shared machine. Each run uses a fresh data directory (a first start, the slow case).
Last line: one JSON object.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal.launcher import Portal, find_proxy, wait_http  # noqa: E402
from portal.ports import free_port  # noqa: E402

RUNS = 3
TARGET = 1.5


def time_portal(tmp: Path) -> tuple[float, float]:
    """Seconds to the hub API answering, and to the portal being ready (teams seeded)."""
    port = free_port()
    config = tmp / "portal.yaml"
    config.write_text(f"storage: {{port: {free_port()}}}\n"
                      "teams: [{name: bench, members: [a, b], quota: {gpus: 1}}]\n")
    portal = Portal(tmp / "data", str(config), port=port, quiet=True)
    try:
        portal.start()  # includes starting SeaweedFS, which the baseline does not have
    finally:
        portal.stop()
    return portal.timings["hub_api_s"], portal.timings["ready_s"]


def time_bare(tmp: Path) -> float:
    port = free_port()
    config = tmp / "jupyterhub_config.py"
    config.write_text(
        f"c.JupyterHub.port = {port}\n"
        f"c.JupyterHub.hub_port = {free_port()}\n"
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{free_port()}'\n"
        f"c.ConfigurableHTTPProxy.command = [{find_proxy()!r}]\n"
        f"c.JupyterHub.db_url = 'sqlite:///{tmp}/jupyterhub.sqlite'\n"
        f"c.JupyterHub.cookie_secret_file = '{tmp}/cookie_secret'\n")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=tmp,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/hub/api/", 120, proc)
        return time.perf_counter() - start
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> None:
    portal_hub, portal_ready, bare = [], [], []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as d:
            bare.append(time_bare(Path(d)))
        with tempfile.TemporaryDirectory() as d:
            hub, ready = time_portal(Path(d))
            portal_hub.append(hub)
            portal_ready.append(ready)
    p, b = statistics.median(portal_hub), statistics.median(bare)
    ratio = p / b
    print(json.dumps({"bench": "startup", "runs": RUNS, "portal_s": round(p, 2),
                      "portal_ready_s": round(statistics.median(portal_ready), 2),
                      "baseline_s": round(b, 2), "ratio": round(ratio, 2),
                      "target": f"<={TARGET}", "ok": ratio <= TARGET}))


if __name__ == "__main__":
    main()
