"""The test cluster is a real Kubernetes, with the facts the other Kubernetes tests rely on."""

from __future__ import annotations

import http.server
import ipaddress
import json
import secrets
import threading
import time
import urllib.request

import pytest
from kubernetes_asyncio import client, config

from tests.kube_cluster import SANDBOX_IMAGE, KubeCluster

GPU_TOLERATION = {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}


def pod(name: str, image: str, gpus: int = 0, args: list[str] | None = None, **spec) -> dict:
    container = {"name": "main", "image": image, "imagePullPolicy": "Never"}
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
        spec.setdefault("tolerations", [GPU_TOLERATION])
    if args:
        container["args"] = args
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [container], "terminationGracePeriodSeconds": 1, **spec}}


def apply(cluster: KubeCluster, namespace: str, *objects: dict, check: bool = True):
    return cluster.kubectl("-n", namespace, "apply", "-f", "-", check=check,
                           input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


def get(cluster: KubeCluster, namespace: str, kind: str, name: str) -> dict:
    return json.loads(cluster.kubectl("-n", namespace, "get", kind, name, "-o", "json").stdout)


def wait_phase(cluster: KubeCluster, namespace: str, name: str, phase: str, timeout: int = 90) -> dict:
    done = cluster.kubectl("-n", namespace, "wait", f"--for=jsonpath={{.status.phase}}={phase}", f"pod/{name}",
                           f"--timeout={timeout}s", check=False, timeout=timeout + 10)
    assert done.returncode == 0, (f"pod {name} not {phase}: {done.stderr}\n"
                                  + cluster.kubectl("-n", namespace, "describe", "pod", name).stdout[-3000:])
    return get(cluster, namespace, "pod", name)


def test_api_server_is_v1_37_2(kube_cluster):
    version = json.loads(kube_cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.37.2"


async def test_python_client_uses_admin_kubeconfig(kube_cluster):
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kube_cluster.kubeconfig), client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        nodes = await client.CoreV1Api(api).list_node()
    assert {n.metadata.name for n in nodes.items} == {kube_cluster.node, kube_cluster.gpu_node}


def test_pause_pod_runs_on_real_node_with_bridge_ip(kube_cluster, namespace):
    apply(kube_cluster, namespace, pod("pause", SANDBOX_IMAGE))
    p = wait_phase(kube_cluster, namespace, "pause", "Running")
    assert p["spec"]["nodeName"] == kube_cluster.node
    assert ipaddress.ip_address(p["status"]["podIP"]) in ipaddress.ip_network("10.244.0.0/24")
    assert p["status"]["podIP"] != kube_cluster.pod_gateway


def test_gpu_pod_runs_on_kwok_gpu_node(kube_cluster, namespace):
    apply(kube_cluster, namespace, pod("gpu", SANDBOX_IMAGE, gpus=1))
    p = wait_phase(kube_cluster, namespace, "gpu", "Running")
    assert p["spec"]["nodeName"] == kube_cluster.gpu_node == "kwok-gpu-0"
    node = get(kube_cluster, "default", "node", kube_cluster.gpu_node)
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "5"
    assert node["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"


def test_gpu_quota_rejects_second_gpu_pod(kube_cluster, namespace):
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "gpus"},
             "spec": {"hard": {"requests.nvidia.com/gpu": "1"}}}
    apply(kube_cluster, namespace, quota)
    deadline = time.monotonic() + 30  # the controller-manager fills in status.hard; until then nothing is limited
    while not get(kube_cluster, namespace, "resourcequota", "gpus").get("status", {}).get("hard"):
        assert time.monotonic() < deadline, "kube-controller-manager never set the quota's status"
        time.sleep(0.2)
    apply(kube_cluster, namespace, pod("first", SANDBOX_IMAGE, gpus=1))
    second = apply(kube_cluster, namespace, pod("second", SANDBOX_IMAGE, gpus=1), check=False)
    assert second.returncode != 0, "a second GPU pod was admitted past a 1-GPU quota"
    assert "Forbidden" in second.stderr and "exceeded quota" in second.stderr, second.stderr


@pytest.mark.timeout(600)  # the first use builds the hello image (a Go compile) and imports it
def test_cluster_ip_service_routes_to_real_pod_from_this_machine(kube_cluster, namespace, hello_image):
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hello"},
               "spec": {"selector": {"app": "hello"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    apply(kube_cluster, namespace, pod("hello", hello_image), service)
    assert wait_phase(kube_cluster, namespace, "hello", "Running")["spec"]["nodeName"] == kube_cluster.node
    kube_cluster.kubectl("-n", namespace, "wait", "--for=condition=Ready", "pod/hello", "--timeout=60s")
    cluster_ip = get(kube_cluster, namespace, "service", "hello")["spec"]["clusterIP"]
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network("10.0.0.0/24")
    deadline, error = time.monotonic() + 20, None  # kube-proxy syncs its rules within a second or two
    while time.monotonic() < deadline:
        try:
            body = urllib.request.urlopen(f"http://{cluster_ip}/", timeout=3).read().decode()
            break
        except OSError as e:
            error = e
            time.sleep(0.5)
    else:
        pytest.fail(f"http://{cluster_ip}/ did not answer from this machine: {error}")
    assert body == "hello from hello\n"


@pytest.mark.timeout(600)
def test_pods_find_services_through_env_variables(kube_cluster, namespace, hello_image):
    """No CoreDNS: a pod created after a Service gets HELLO_SERVICE_HOST/PORT and reaches it."""
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hello"},
               "spec": {"selector": {"app": "hello"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    apply(kube_cluster, namespace, pod("hello", hello_image), service)
    kube_cluster.kubectl("-n", namespace, "wait", "--for=condition=Ready", "pod/hello", "--timeout=90s")
    apply(kube_cluster, namespace, pod("client", hello_image, restartPolicy="Never",
                                       args=["fetch", "http://$(HELLO_SERVICE_HOST):$(HELLO_SERVICE_PORT)/"]))
    wait_phase(kube_cluster, namespace, "client", "Succeeded")
    assert kube_cluster.kubectl("-n", namespace, "logs", "client").stdout == "hello from hello\n"


@pytest.mark.timeout(600)
def test_pods_reach_this_machine_at_pod_gateway(kube_cluster, namespace, hello_image):
    word = secrets.token_hex(8)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(word.encode())

    server = http.server.ThreadingHTTPServer((kube_cluster.pod_gateway, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://{kube_cluster.pod_gateway}:{server.server_port}/"
        apply(kube_cluster, namespace, pod("client", hello_image, restartPolicy="Never", args=["fetch", url]))
        wait_phase(kube_cluster, namespace, "client", "Succeeded")
        assert kube_cluster.kubectl("-n", namespace, "logs", "client").stdout == word
    finally:
        server.shutdown()
        server.server_close()


def test_user_kubeconfig_is_subject_to_rbac(kube_cluster, namespace):
    alice = str(kube_cluster.user_kubeconfig("alice", ("team-a",)))
    denied = kube_cluster.kubectl("--kubeconfig", alice, "-n", namespace, "get", "pods", check=False)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr, denied.stderr
    kube_cluster.kubectl("-n", namespace, "create", "rolebinding", "team-a-view", "--clusterrole=view",
                         "--group=team-a")
    deadline = time.monotonic() + 10  # RBAC caches catch up within moments
    while kube_cluster.kubectl("--kubeconfig", alice, "-n", namespace, "get", "pods", check=False).returncode:
        assert time.monotonic() < deadline, "the RoleBinding for alice's group never took effect"
        time.sleep(0.2)
    assert kube_cluster.kubectl("--kubeconfig", alice, "get", "nodes", check=False).returncode != 0


def test_hostpath_volume_binds_its_claim_and_mounts(kube_cluster, namespace, tmp_path):
    kube_cluster.hostpath_volume(f"{namespace}-data", tmp_path / "data", "test-hostpath", claim=(namespace, "data"))
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
             "spec": {"storageClassName": "test-hostpath", "accessModes": ["ReadWriteMany"],
                      "resources": {"requests": {"storage": "1Gi"}}}}
    user = pod("user", SANDBOX_IMAGE, volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}])
    user["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    apply(kube_cluster, namespace, claim, user)
    kube_cluster.kubectl("-n", namespace, "wait", "--for=jsonpath={.status.phase}=Bound", "pvc/data",
                         "--timeout=30s")
    assert get(kube_cluster, namespace, "pvc", "data")["spec"]["volumeName"] == f"{namespace}-data"
    wait_phase(kube_cluster, namespace, "user", "Running")
    kube_cluster.kubectl("delete", "pod", "-n", namespace, "user", "--wait=true")
    kube_cluster.kubectl("delete", "pv", f"{namespace}-data", "--wait=false")
