"""Kubernetes benchmark, on the test cluster of tests/kube_cluster.py (real node + kwok):

(a) one dev server through the portal (spawn → JupyterLab answering through the hub's
    proxy) against `kubectl run` of the same image and program with a hub's environment
    (→ HTTP 200 on the pod's IP): the ratio is what the portal adds (hub, KubeSpawner,
    the team namespace's apply, the proxy). Target ≤ 1.3.
(b) the quota race: ten 1-GPU spawns at once in a team with a quota of 2 (on the kwok
    node's 5 GPUs): seconds until every spawn is decided. Target: within 10 s.
Also printed: the cluster's start-up (warm binaries) and the dev image's import.

Runs alone (`.venv/bin/python benchmarks/kubernetes.py`, as root: it runs a kubelet);
the last line printed is one JSON object.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.spawn import BASELINE, USERS, Hub, first_200, log, single_spawn  # noqa: E402
from portal.launcher import Portal  # noqa: E402
from portal.ports import free_port  # noqa: E402
from tests.kube_cluster import KubeCluster  # noqa: E402
from tests.kubernetes.kube_portal import DEV_IMAGE, HOME_CLASS, kube_config  # noqa: E402
from tests.spawners.servers import hub as hub_session  # noqa: E402
from tests.spawners.servers import start_at_once, stop  # noqa: E402


def kubectl_run(cluster: KubeCluster, hub: Hub, n: int) -> float:
    """The baseline: the image's jupyterhub-singleuser with a hub's environment, by kubectl run."""
    user = BASELINE
    hub_api = f"{cluster_hub_url(hub.portal)}/hub/api"
    prefix = f"/user/{user}/"
    env = {"JUPYTERHUB_API_URL": hub_api, "JUPYTERHUB_API_TOKEN": hub.tokens[user], "JUPYTERHUB_USER": user,
           "JUPYTERHUB_SERVICE_PREFIX": prefix, "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:8888{prefix}",
           "JUPYTERHUB_CLIENT_ID": f"jupyterhub-user-{user}", "JUPYTERHUB_BASE_URL": "/",
           "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{prefix}oauth_callback",
           "JUPYTERHUB_ACTIVITY_URL": f"{hub_api}/users/{user}/activity", "HOME": "/tmp"}
    name = f"baseline-{n}"
    container = {"name": name, "image": DEV_IMAGE, "imagePullPolicy": "IfNotPresent",
                 "command": ["jupyterhub-singleuser"], "env": [{"name": k, "value": v} for k, v in env.items()],
                 "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}
    overrides = {"spec": {"securityContext": {"runAsUser": 1000, "runAsGroup": 100},
                          "nodeSelector": {"kubernetes.io/hostname": cluster.node}, "containers": [container]}}
    t0 = time.monotonic()
    cluster.kubectl("run", name, "-n", "aiportal-bench", f"--image={DEV_IMAGE}", "--restart=Never",
                    f"--overrides={json.dumps(overrides)}")
    try:
        ip = ""
        while not ip:
            ip = cluster.kubectl("get", "pod", name, "-n", "aiportal-bench", "-o", "jsonpath={.status.podIP}").stdout
            time.sleep(0.05)
        first_200(f"http://{ip}:8888{prefix}api")
        return time.monotonic() - t0
    finally:
        cluster.kubectl("delete", "pod", name, "-n", "aiportal-bench", "--grace-period=0", "--force", check=False)


def cluster_hub_url(portal: Portal) -> str:
    return portal.config.raw["spawner"]["kubernetes"]["hub_connect_url"].rstrip("/")


def quota_race(portal: Portal, hub: Hub) -> dict:
    t0 = time.monotonic()
    token = hub.tokens.__getitem__
    started, refused = start_at_once(portal, token, [(u, "race") for u in USERS], "bench", "gpu")
    decided = time.monotonic() - t0
    for user, server in started:
        stop(hub_session(portal, token, user), user, server)
    log(f"quota race: {len(started)} admitted, {len(refused)} refused in {decided:.2f} s")
    return {"spawns": len(USERS), "admitted": len(started), "refused": len(refused), "decided_s": round(decided, 2),
            "target": "2 admitted, all decided <=10 s", "ok": len(started) == 2 and decided <= 10}


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="aiportal-kbench-"))
    cluster = KubeCluster(root / "cluster")
    portal = None
    try:
        t0 = time.monotonic()
        cluster.start()
        started_s = time.monotonic() - t0
        t0 = time.monotonic()
        cluster.import_image(DEV_IMAGE)
        import_s = time.monotonic() - t0
        log(f"cluster ready in {started_s:.1f} s, image imported in {import_s:.1f} s")
        config = kube_config(cluster, free_port())
        config["teams"] = [{"name": "bench", "members": [*USERS, BASELINE], "quota": {"gpus": 2},
                            "profiles": ["cpu", "gpu"]}]
        (root / "homes").mkdir()
        cluster.hostpath_volume("home-bench", root / "homes", HOME_CLASS, claim=("aiportal-bench", "home"))
        (root / "portal.yaml").write_text(yaml.safe_dump({**config, "storage": {"port": free_port()}}))
        portal = Portal(root / "data", str(root / "portal.yaml"), port=free_port(), quiet=True).start()
        hub = Hub(portal)
        requests.get(f"{portal.url}hub/api", timeout=30).raise_for_status()
        result = {"bench": "kubernetes", "cluster_start_s": round(started_s, 1), "image_import_s": round(import_s, 1),
                  "spawn": single_spawn(hub, lambda i: kubectl_run(cluster, hub, i), "kubectl run"),
                  "quota_race": quota_race(portal, hub)}
    finally:
        if portal is not None:
            portal.stop()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    result["ok"] = result["spawn"]["ok"] and result["quota_race"]["ok"]
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
