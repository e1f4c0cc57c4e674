"""The chart in a real cluster (tests/kube_cluster.py): install, serve through the proxy's
Service, upgrade without losing users or teams, start a server pod from the hub in the
cluster, SSH into it through the chart's SSH Service (the hub's own service account doing
the exec), uninstall.

The hub image is built by scripts/build-images.sh and imported into the cluster; its data
volume is a hostPath PersistentVolume on this machine; S3 is a MinIO on this machine at the
address pods see it at (the pod gateway), its admin keys in the chart's S3 Secret.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import asyncssh
import pytest
import yaml

from portal.ports import free_port
from portal.storage.minio import MinioServer

from .conftest import ROOT, HelmError, run_helm

NAMESPACE = "aiportal"
RELEASE = "aiportal"  # contains the chart's name: objects are aiportal-hub, aiportal-proxy-public, …
IMAGE = "localhost/aiportal-hub"
STORAGE_CLASS = "aiportal-hub-test"
SERVER_IMAGE = "localhost/aiportal-dev:latest"  # a prod-mode profile: no home volume needed


def http(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict | None]:
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {token}"} if token else {})
    try:
        # 30 s: starting a server answers after up to the hub's slow_spawn_timeout (10 s) plus its own work
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, None


def wait_for(what: str, check, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if result := check():
                return result
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(1)


@pytest.fixture(scope="module")
def hub_image(kube_cluster) -> str:
    subprocess.run([str(ROOT / "scripts" / "build-images.sh"), "hub"], check=True, timeout=1800)
    kube_cluster.import_image(f"{IMAGE}:latest")
    kube_cluster.import_image(SERVER_IMAGE)
    return f"{IMAGE}:latest"


@pytest.fixture
def s3(tmp_path, kube_cluster):
    """MinIO where the cluster's pods reach this machine."""
    server = MinioServer(tmp_path / "minio", free_port(), host=kube_cluster.pod_gateway)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def release(helm, chart, kube_cluster, hub_image, s3, tmp_path):
    """Install arguments for a release in NAMESPACE; uninstalled with its volume and namespace after."""
    kube = ("--kubeconfig", str(kube_cluster.kubeconfig))
    kube_cluster.kubectl("create", "namespace", NAMESPACE)
    kube_cluster.kubectl("-n", NAMESPACE, "create", "secret", "generic", "aiportal-s3",
                         f"--from-literal=accessKey={s3.admin.access_key}",
                         f"--from-literal=secretKey={s3.admin.secret_key}")
    data = tmp_path / "hub-data"
    data.mkdir()
    os.chown(data, 1000, 1000)  # the hub runs as 1000; a hostPath volume ignores fsGroup
    kube_cluster.hostpath_volume(f"{NAMESPACE}-hub-data", data, STORAGE_CLASS, access_modes=("ReadWriteOnce",),
                                 claim=(NAMESPACE, f"{RELEASE}-hub"))
    values = {
        "portal": {"hub": {"admin_users": ["operator"]},
                   "storage": {"type": "minio", "endpoint": s3.endpoint},
                   "spawner": {"backend": "kubernetes"},
                   "profiles": {"model": {"display_name": "Model", "image": SERVER_IMAGE, "mode": "prod",
                                          "cpu": 0.5, "memory": "1Gi"}},
                   "teams": [{"name": "radiology", "display_name": "Radiology", "profiles": ["model"]}],
                   "ssh": {"enabled": True}},
        "hub": {"sshService": {"type": "ClusterIP"}},
        "image": {"repository": IMAGE, "tag": "latest", "pullPolicy": "Never"},
        "persistence": {"storageClass": STORAGE_CLASS, "size": "1Gi"},
    }

    def helm_run(command: str, changed: dict | None = None) -> str:
        path = tmp_path / f"values-{command}.yaml"
        path.write_text(yaml.safe_dump(changed or values))
        try:
            return run_helm(helm, command, RELEASE, str(chart), "-n", NAMESPACE, "-f", str(path), "--wait",
                            "--timeout", "5m", *kube, timeout=330)
        except HelmError as e:
            raise AssertionError(f"helm {command} failed: {e}\n{diagnosis(kube_cluster)}") from None

    yield values, helm_run
    run_helm(helm, "uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--ignore-not-found", *kube, timeout=120)
    kube_cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=true", timeout=120)
    kube_cluster.kubectl("delete", "pv", f"{NAMESPACE}-hub-data", "--ignore-not-found", timeout=60)


def diagnosis(kube_cluster) -> str:
    """What the release's pods are doing, for a failed install or upgrade."""
    parts = [kube_cluster.kubectl("-n", NAMESPACE, "get", "pods,pvc,events", "-o", "wide", check=False).stdout]
    for component in ("hub", "proxy"):
        parts.append(kube_cluster.kubectl("-n", NAMESPACE, "logs", "--tail=40", "-l",
                                          f"app.kubernetes.io/component={component}", check=False).stdout)
    return "\n".join(parts)


def hub_pod(kube_cluster) -> dict:
    pods = json.loads(kube_cluster.kubectl("-n", NAMESPACE, "get", "pods", "-l", "app.kubernetes.io/component=hub",
                                           "-o", "json").stdout)["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
    assert len(running) == 1, [(p["metadata"]["name"], p["status"].get("phase")) for p in pods]
    return running[0]


def display_name(public: str, token: str, team: str) -> str | None:
    """A team's display name as the hub stores it; None while the group does not exist."""
    status, group = http("GET", f"{public}/hub/api/groups/{team}", token)
    return group["properties"].get("display_name") if status == 200 else None


def service_ip(kube_cluster, name: str) -> str:
    return kube_cluster.kubectl("-n", NAMESPACE, "get", "service", name, "-o", "jsonpath={.spec.clusterIP}").stdout


def proxy_token(kube_cluster) -> str:
    return kube_cluster.kubectl("-n", NAMESPACE, "get", "secret", f"{RELEASE}-proxy-token",
                                "-o", "jsonpath={.data.token}").stdout


@pytest.mark.timeout(1500)
def test_install_serve_upgrade_keeps_users_and_teams_and_the_hub_starts_pods(kube_cluster, release, helm, chart):
    values, helm_run = release
    t0 = time.monotonic()
    helm_run("install")
    install_s = time.monotonic() - t0
    pod = hub_pod(kube_cluster)
    assert pod["spec"]["nodeName"] == kube_cluster.node

    public = f"http://{service_ip(kube_cluster, f'{RELEASE}-proxy-public')}"
    status, info = wait_for("the hub API through the proxy-public Service",
                            lambda: (r := http("GET", f"{public}/hub/api"))[0] == 200 and r)
    assert "version" in info

    # An operator's token, made by the hub image's own CLI on the hub's database.
    token = kube_cluster.kubectl("-n", NAMESPACE, "exec", pod["metadata"]["name"], "--", "aiportal", "token",
                                 "operator", "--data-dir", "/srv/aiportal", "--config", "/etc/aiportal/portal.yaml",
                                 timeout=60).stdout.strip()
    # the portal service, listening on the hub pod's IP, answers through the proxy and seeds the teams
    status, teams = wait_for("the portal service through the proxy", lambda: (
        r := http("GET", f"{public}/services/portal/api/v1/teams", token))[0] == 200 and r)
    assert "radiology" in json.dumps(teams)
    wait_for("the team seeded", lambda: display_name(public, token, "radiology") == "Radiology")
    assert http("POST", f"{public}/hub/api/users/alice", token)[0] == 201
    assert http("POST", f"{public}/hub/api/groups/radiology/users", token, {"users": ["alice"]})[0] == 200

    token_before = proxy_token(kube_cluster)
    # portal.yaml and a hub resource change: the hub restarts and seeds; what is in its database stays
    values["portal"]["teams"][0]["display_name"] = "Radiology (upgraded)"
    values["portal"]["teams"].append({"name": "pathology", "display_name": "Pathology"})
    values["hub"]["resources"] = {"requests": {"cpu": "100m", "memory": "256Mi"}}
    t0 = time.monotonic()
    helm_run("upgrade", values)
    upgrade_s = time.monotonic() - t0
    new_pod = hub_pod(kube_cluster)
    assert new_pod["metadata"]["uid"] != pod["metadata"]["uid"]
    assert proxy_token(kube_cluster) == token_before  # read back with lookup, not made anew

    wait_for("the upgraded hub through the proxy", lambda: http("GET", f"{public}/hub/api")[0] == 200)
    status, user = http("GET", f"{public}/hub/api/users/alice", token)  # the token lives in the hub's database too
    assert status == 200 and "radiology" in user["groups"]
    # the portal service seeds the teams once it has started
    wait_for("the changed display name seeded",
             lambda: display_name(public, token, "radiology") == "Radiology (upgraded)")
    assert http("GET", f"{public}/hub/api/groups/radiology", token)[1]["users"] == ["alice"]
    wait_for("the new team seeded", lambda: display_name(public, token, "pathology") == "Pathology")
    assert new_pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}

    # the hub in the cluster starts a server as a pod in the team's namespace: the pod reaches
    # the hub through its Service, the proxy pod reaches the server on the pod's IP
    server = f"{public}/hub/api/users/alice/servers/model"
    status = http("POST", server, token, {"team": "radiology", "profile": "model"})[0]
    assert status in (201, 202), f"{status}\n{diagnosis(kube_cluster)}"
    wait_for("alice's server ready", lambda: (http("GET", f"{public}/hub/api/users/alice", token)[1] or {})
             .get("servers", {}).get("model", {}).get("ready"), timeout=300)
    assert http("GET", f"{public}/user/alice/model/api", token)[0] == 200
    pods = json.loads(kube_cluster.kubectl("-n", "aiportal-radiology", "get", "pods", "-o", "json").stdout)["items"]
    assert [p["metadata"]["labels"]["aiportal.org/user"] for p in pods] == ["alice"]
    assert http("DELETE", server, token, {"remove": True})[0] in (202, 204)
    wait_for("the server's pod removed", lambda: not json.loads(kube_cluster.kubectl(
        "-n", "aiportal-radiology", "get", "pods", "-o", "json").stdout)["items"])

    # SSH through the chart's Service into alice's default server's pod: the hub's service
    # account may exec there, and the endpoint tells users the Service's port
    assert http("POST", f"{public}/hub/api/users/alice/server", token,
                {"team": "radiology", "profile": "model"})[0] in (201, 202)
    wait_for("alice's default server ready", lambda: (http("GET", f"{public}/hub/api/users/alice", token)[1] or {})
             .get("servers", {}).get("", {}).get("ready"), timeout=300)
    alice = kube_cluster.kubectl("-n", NAMESPACE, "exec", new_pod["metadata"]["name"], "--", "aiportal", "token",
                                 "alice", "--data-dir", "/srv/aiportal", "--config", "/etc/aiportal/portal.yaml",
                                 timeout=60).stdout.strip()
    assert http("GET", f"{public}/services/portal/api/v1/ssh-keys", alice)[1]["ssh"] == {"enabled": True, "port": 22}
    status, out, err = asyncio.run(ssh_run(service_ip(kube_cluster, f"{RELEASE}-hub-ssh"), 22, "alice", alice,
                                           'id -un; echo "$HOSTNAME"; echo to-stderr >&2; exit 7'))
    name, hostname = out.split()
    assert (status, name, err) == (7, "alice", "to-stderr\n")
    pods = json.loads(kube_cluster.kubectl("-n", "aiportal-radiology", "get", "pods", "-o", "json").stdout)["items"]
    assert [p["metadata"]["name"] for p in pods] == [hostname]
    assert http("DELETE", f"{public}/hub/api/users/alice/server", token)[0] in (202, 204)
    print(f"helm install --wait: {install_s:.1f} s, helm upgrade --wait: {upgrade_s:.1f} s")


async def ssh_run(host: str, port: int, user: str, token: str, command: str) -> tuple[int, str, str]:
    """`command` over SSH, logging in with a hub token as the password."""
    async with asyncssh.connect(host, port, username=user, password=token, known_hosts=None, client_keys=None,
                                connect_timeout=30) as conn:
        result = await asyncio.wait_for(conn.run(command, check=False), 120)
        return result.exit_status, result.stdout, result.stderr
