"""Spawn benchmark: (a) one server through the portal against `podman run` of the same image,
(b) ten users spawning at once: all ready, and the hub API's p95 latency during the storm
against idle.

(a) The baseline runs the image's own command (jupyterhub-singleuser) by hand, with the
environment a hub gives it, the same limits, uid and /src mount: the ratio is what the
portal adds (hub, Docker API, proxy), not a different server program. Clients wait the
way the spawn page does: on the hub's progress stream, then through the proxy.

Runs alone (`.venv/bin/python benchmarks/spawn.py`): starts a portal in a temporary data
dir, measures, stops everything. The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal.launcher import Portal  # noqa: E402
from portal.ports import free_port  # noqa: E402
from portal.tokens import new_token  # noqa: E402
from spawners.homes import ensure_home  # noqa: E402

IMAGE = "localhost/aiportal-dev:latest"
USERS = [f"user{i:02d}" for i in range(10)]
BASELINE = "baseline"  # a hub user whose server is started by hand
ROUNDS = 3
CONFIG = {
    "hub": {"admin_users": ["admin"]},
    "profiles": {"cpu": {"image": IMAGE, "cpu": 1, "memory": "1Gi"}},
    "teams": [{"name": "bench", "members": [*USERS, BASELINE], "profiles": ["cpu"]}],
}


def log(message: str) -> None:
    print(f"spawn-bench: {message}", file=sys.stderr, flush=True)


def first_200(url: str, headers: dict | None = None, timeout: float = 120) -> None:
    """Wait until a Jupyter server answers its /api (version) with 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = requests.get(url, headers=headers, allow_redirects=False, timeout=5)
            if r.status_code == 200 and "version" in r.json():
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s")


def podman_run(portal: Portal, token: str) -> float:
    """The baseline: the image's own command with a hub's environment, started by hand."""
    home = ensure_home(portal.data.homes, BASELINE)
    hub_api = f"http://host.containers.internal:{(portal.data.root / 'hub-port').read_text().strip()}/hub/api"
    prefix = f"/user/{BASELINE}/"
    env = {"JUPYTERHUB_API_URL": hub_api, "JUPYTERHUB_API_TOKEN": token, "JUPYTERHUB_USER": BASELINE,
           "JUPYTERHUB_SERVICE_PREFIX": prefix, "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:8888{prefix}",
           "JUPYTERHUB_CLIENT_ID": f"jupyterhub-user-{BASELINE}", "JUPYTERHUB_BASE_URL": "/",
           "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{prefix}oauth_callback",
           "JUPYTERHUB_ACTIVITY_URL": f"{hub_api}/users/{BASELINE}/activity", "HOME": "/tmp"}
    port = free_port()
    name = f"aiportal-bench-baseline-{port}"
    t0 = time.monotonic()
    subprocess.run(["podman", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:8888",
                    "--cpus", "1", "--memory", "1g", "--user", f"{home.uid}:{home.gid}",
                    *[f"--env={k}={v}" for k, v in env.items()], "-v", f"{home.src}:/src", "-w", "/src", IMAGE],
                   check=True, capture_output=True)
    try:
        first_200(f"http://127.0.0.1:{port}{prefix}api")
        return time.monotonic() - t0
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True)


class Hub:
    def __init__(self, portal: Portal):
        self.portal = portal
        self.tokens = {u: new_token(portal.data.root, u, str(portal.config_path)) for u in [*USERS, BASELINE]}

    def headers(self, user: str) -> dict:
        return {"Authorization": f"token {self.tokens[user]}"}

    def spawn(self, user: str) -> float:
        """Seconds from the spawn request to the server answering through the proxy."""
        t0 = time.monotonic()
        api = f"{self.portal.url}hub/api/users/{user}/server"
        r = requests.post(api, headers=self.headers(user), json={"team": "bench", "profile": "cpu"})
        r.raise_for_status()
        if r.status_code == 202:  # still starting: follow the progress stream, as the spawn page does
            with requests.get(f"{api}/progress", headers=self.headers(user), stream=True, timeout=180) as events:
                for line in events.iter_lines():
                    if line.startswith(b"data:"):
                        event = json.loads(line[5:])
                        if event.get("ready") or event.get("failed"):
                            break
        first_200(f"{self.portal.url}user/{user}/api", self.headers(user))
        return time.monotonic() - t0

    def stop(self, user: str) -> None:
        requests.delete(f"{self.portal.url}hub/api/users/{user}/server", headers=self.headers(user))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            model = requests.get(f"{self.portal.url}hub/api/users/{user}", headers=self.headers(user)).json()
            if "" not in model["servers"]:
                return
            time.sleep(0.2)

    def latency(self, user: str) -> float:
        t0 = time.monotonic()
        requests.get(f"{self.portal.url}hub/api/user", headers=self.headers(user)).raise_for_status()
        return time.monotonic() - t0


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def single_spawn(hub: Hub, baseline_run, name: str = "podman run") -> dict:
    """Median spawn through the portal against `baseline_run(round)`, the same server by hand."""
    portal_s, baseline_s = [], []
    for i in range(ROUNDS):
        baseline_s.append(baseline_run(i))
        portal_s.append(hub.spawn(USERS[0]))
        hub.stop(USERS[0])
        log(f"round {i + 1}: {name} {baseline_s[-1]:.2f} s, portal {portal_s[-1]:.2f} s")
    portal, baseline = statistics.median(portal_s), statistics.median(baseline_s)
    return {"portal_s": round(portal, 2), "baseline_s": round(baseline, 2), "ratio": round(portal / baseline, 2),
            "target": "<=1.3", "ok": portal / baseline <= 1.3}


def storm(hub: Hub) -> dict:
    """Idle latency is sampled before and after the storm: the machine's other load drifts."""
    idle = [hub.latency(USERS[0]) for _ in range(150)]
    during: list[float] = []
    done = threading.Event()

    def probe():
        while not done.is_set():
            during.append(hub.latency(USERS[0]))
            time.sleep(0.02)

    prober = threading.Thread(target=probe)
    t0 = time.monotonic()
    prober.start()
    with ThreadPoolExecutor(len(USERS)) as pool:
        results = list(pool.map(lambda u: _try(hub.spawn, u), USERS))
    ready_s = time.monotonic() - t0
    done.set()
    prober.join()
    for user in USERS:
        hub.stop(user)
    time.sleep(2)  # let the last stopped servers go
    idle += [hub.latency(USERS[0]) for _ in range(150)]
    ratio = p95(during) / p95(idle)
    ready = sum(isinstance(r, float) for r in results)
    log(f"storm: {ready}/{len(USERS)} ready in {ready_s:.1f} s, p95 idle {p95(idle) * 1e3:.1f} ms, "
        f"during {p95(during) * 1e3:.1f} ms ({len(during)} samples)")
    return {"users": len(USERS), "ready": ready, "all_ready": ready == len(USERS), "ready_s": round(ready_s, 1),
            "idle_p95_ms": round(p95(idle) * 1e3, 1), "storm_p95_ms": round(p95(during) * 1e3, 1),
            "ratio": round(ratio, 2), "target": "<=3", "ok": ready == len(USERS) and ratio <= 3}


def _try(fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # a failed spawn is a result here, reported as not ready
        log(f"{args}: {e}")
        return e


def main() -> int:
    data = Path(tempfile.mkdtemp(prefix="aiportal-bench-"))
    config = data / "portal.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "storage": {"port": free_port()}}))
    portal = Portal(data, str(config), port=free_port(), quiet=True)
    try:
        portal.start()
        log(f"portal at {portal.url}, servers: {portal.engine.reason}")
        hub = Hub(portal)
        result = {"bench": "spawn", "spawn": single_spawn(hub, lambda _: podman_run(portal, hub.tokens[BASELINE])),
                  "storm": storm(hub)}
    finally:
        portal.stop()  # every server was stopped through the hub
        shutil.rmtree(data, ignore_errors=True)
    result["ok"] = result["spawn"]["ok"] and result["storm"]["ok"]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
