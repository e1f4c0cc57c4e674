"""A portal whose servers are pods of the test cluster (tests/kube_cluster.py).

- `kube_portal`: one `aiportal up` for the session with `spawner.backend: kubernetes`, the
  cluster's admin kubeconfig, and the hub forwarded on the pod gateway (pods reach it there);
  team-a (2 GPUs, 8 CPUs, 32 GiB; alice admin, bob and u0..u9 members, who may not
  delete) and team-b (carol); its SSH endpoint on `kube_portal.ssh_port`.
  Its home volume claims bind to hostPath volumes under `kube_portal.homes`.
- `kube_token`: kube_token(user) → a hub API token of that user.
"""

from __future__ import annotations

import json
import time

import pytest

from portal.launcher import Portal
from portal.ports import free_port
from tests.conftest import tokens_of, write_config

DEV_IMAGE = "localhost/aiportal-dev:latest"
HOME_CLASS = "aiportal-test-home"
GPU_TOLERATION = {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}
MEMBERS = [f"u{i}" for i in range(10)]


def kube_config(cluster, hub_port: int, ssh_port: int) -> dict:
    return {
        "hub": {"admin_users": ["admin"], "named_server_limit": 0},
        "ssh": {"enabled": True, "port": ssh_port, "listen": "127.0.0.1"},
        "auth": {"type": "native", "minimum_password_length": 8},
        "spawner": {"backend": "kubernetes", "kubernetes": {
            "kubeconfig": str(cluster.kubeconfig),
            "hub_connect_url": f"http://{cluster.pod_gateway}:{hub_port}",
            "home": {"storage_class": HOME_CLASS, "size": "1Gi"},
            "gpu_node_selector": {"nvidia.com/gpu.present": "true"},
            "gpu_tolerations": [GPU_TOLERATION]}},
        "profiles": {
            "cpu": {"display_name": "CPU notebook", "image": DEV_IMAGE, "cpu": 0.5, "memory": "1Gi"},
            "prod": {"display_name": "Production model", "image": DEV_IMAGE, "mode": "prod",
                     "cpu": 0.5, "memory": "1Gi"},
            "gpu": {"display_name": "GPU notebook", "image": DEV_IMAGE, "cpu": 1, "memory": "1Gi", "gpus": 1},
        },
        "teams": [
            {"name": "team-a", "display_name": "Team A", "admins": ["alice"], "members": ["bob", *MEMBERS],
             "quota": {"gpus": 2, "cpu": 8, "memory": "32Gi"}, "profiles": ["cpu", "prod", "gpu"],
             "delete_policy": "admins"},
            {"name": "team-b", "display_name": "Team B", "members": ["carol"], "profiles": ["cpu"]},
        ],
    }


def namespace_json(cluster, kind: str, name: str, namespace: str) -> dict:
    return json.loads(cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)


def wait_for(check, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} not met in {timeout} s"
        time.sleep(0.5)


@pytest.fixture(scope="session")
def kube_portal(kube_cluster, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("kube-portal")
    homes = data_dir / "homes"
    for team in ("team-a", "team-b"):
        (homes / team).mkdir(parents=True)
        kube_cluster.hostpath_volume(f"home-{team}", homes / team, HOME_CLASS, claim=(f"aiportal-{team}", "home"))
    kube_cluster.import_image(DEV_IMAGE)
    ssh_port = free_port()
    path = write_config(data_dir / "portal.yaml", kube_config(kube_cluster, free_port(), ssh_port))
    portal = Portal(data_dir, str(path), port=free_port(), quiet=True).start()
    portal.homes, portal.ssh_port = homes, ssh_port
    yield portal
    portal.stop()  # its pods and namespaces go with the session's cluster


@pytest.fixture(scope="session")
def kube_token(kube_portal):
    """kube_token(user) → a hub API token of that user (the form tests/spawners/servers.py takes)."""
    return tokens_of(kube_portal)
