"""A real Kubernetes v1.37.2 cluster on this machine for the test session (docs/kubernetes.md).

Nothing here is mocked: etcd, kube-apiserver, kube-controller-manager (quota status, default
ServiceAccounts, PV binding), kube-scheduler, kube-proxy in iptables mode (Services' cluster
IPs route from this machine and from pods), a kwok fake node with 5 GPUs (what the GPU
scheduling and quota tests need: this machine has no GPU), and a real node (kubelet +
Debian's containerd + the CNI bridge plugin) that runs pods from images imported out of Podman.

The binaries come from scripts/install-kubernetes.sh (a cache outside the clone). The run
directory is per session; containerd's image store lives in the cache, so images imported
once survive between sessions. One cluster per machine: the ports are the fixed upstream
ones and cni0, iptables and containerd's store are shared, so a lock file in the cache is held
from start to stop; a second session fails at start, naming the holder (or the taken port).

Needs root (containerd, CNI, iptables) and the hostname resolving to 127.0.0.1: the API
server reaches the kubelet (logs, exec) by the node's name, and the kubelet listens on
loopback only (recipe fix 5).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from portal.hub_bridge import HubBridge

VERSION = "v1.37.2"
CACHE = Path(os.environ.get("AIPORTAL_CACHE", Path.home() / ".cache" / "aiportal")) / f"k8s-{VERSION}"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet",
            "kubectl", "kwok")
PORTS = {2379: "etcd", 2380: "etcd (peer)", 6443: "kube-apiserver", 10257: "kube-controller-manager",
         10259: "kube-scheduler", 10249: "kube-proxy (metrics)", 10256: "kube-proxy (healthz)",
         10248: "kubelet (healthz)", 10250: "kubelet"}
SANDBOX_IMAGE = "localhost/pause:3.10-local"
SERVICE_CIDR, POD_CIDR, KWOK_CIDR = "10.0.0.0/24", "10.244.0.0/24", "10.245.0.0/24"
CNI_NETWORK = "aiportal-test"  # names the host-local IPAM folder under /var/lib/cni/networks
KWOK_STAGES = ("node/fast/node-initialize", "node/heartbeat-with-lease/node-heartbeat-with-lease",
               "pod/fast/pod-ready", "pod/fast/pod-complete", "pod/fast/pod-delete")
GPU_NODE_MANIFEST = {
    "apiVersion": "v1", "kind": "Node",
    "metadata": {"name": "kwok-gpu-0",
                 "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                 "labels": {"type": "kwok", "kubernetes.io/hostname": "kwok-gpu-0", "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64", "nvidia.com/gpu.present": "true"}},
    "spec": {"taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]},
    "status": {"capacity": {"cpu": "32", "memory": "256Gi", "pods": "110", "nvidia.com/gpu": "5"},
               "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110", "nvidia.com/gpu": "5"}},
}


def run(args: list, timeout: float = 60, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """subprocess.run with a timeout, text output, and an error that carries stderr."""
    args = [str(a) for a in args]
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and done.returncode:
        raise RuntimeError(f"{shlex.join(args)} failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    return done


def tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else ["(no log)"]
    return f"--- last lines of {path}:\n" + "\n".join(text[-lines:])


def netns_names() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


def remove_kubelet_chains() -> None:
    """The chains every kubelet makes (kube-proxy --cleanup leaves them): the hint and canary
    chains and KUBE-FIREWALL, whose rule drops non-loopback packets to 127.0.0.0/8."""
    for tool in ("iptables", "ip6tables"):
        for table, *rule in (("filter", "-D", "INPUT", "-j", "KUBE-FIREWALL"),
                             ("filter", "-D", "OUTPUT", "-j", "KUBE-FIREWALL"),
                             ("filter", "-F", "KUBE-FIREWALL"), ("filter", "-X", "KUBE-FIREWALL"),
                             ("filter", "-X", "KUBE-KUBELET-CANARY"), ("nat", "-X", "KUBE-KUBELET-CANARY"),
                             ("mangle", "-X", "KUBE-KUBELET-CANARY"), ("mangle", "-X", "KUBE-IPTABLES-HINT")):
            run([tool, "-w", "5", "-t", table, *rule], check=False)


class KubeCluster:
    """One cluster in `run_dir`; `start()` brings it up, `stop()` leaves nothing behind."""

    gpu_node = "kwok-gpu-0"
    pod_gateway = "10.244.0.1"
    api_url = "https://127.0.0.1:6443"

    def __init__(self, run_dir: Path, cache: Path = CACHE):
        self.cache, self.bin, self.run_dir = cache, cache / "bin", run_dir
        self.pki, self.logs = run_dir / "pki", run_dir / "logs"
        self.kubeconfig = self.pki / "admin.kubeconfig"
        self.node = socket.gethostname()
        self.containerd_sock = run_dir / "containerd" / "containerd.sock"
        self.procs: dict[str, subprocess.Popen] = {}
        self.api_bridge: HubBridge | None = None  # the pod gateway's 6443 to the API server
        self.imported: dict[str, str] = {}  # ref -> image id imported this session
        self.netns_before: set[str] = set()
        self.lock = None  # the open lock file while this cluster owns the machine's shared parts
        self.last_body = b""  # of the last get()

    # ---- the interface the tests use

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess:
        return run([str(self.bin / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
                   input=input, check=check, timeout=timeout)

    def ctr(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        return run(["ctr", f"--address={self.containerd_sock}", "-n", "k8s.io", *args], timeout=timeout, check=check)

    def import_image(self, ref: str) -> None:
        """Copy a Podman image into containerd's k8s.io namespace, unless it holds that image id already.

        Pods must then say `imagePullPolicy: Never` or `IfNotPresent` (a `:latest` tag
        defaults to Always, and there is no registry to pull from).
        """
        image_id = run(["podman", "image", "inspect", "--format", "{{.Id}}", ref]).stdout.strip()
        if self.imported.get(ref) == image_id or self.containerd_image_id(ref) == f"sha256:{image_id}":
            self.imported[ref] = image_id
            return
        pipe = (f"podman save --format oci-archive {shlex.quote(ref)} | "
                f"ctr --address={shlex.quote(str(self.containerd_sock))} -n k8s.io images import -")
        for attempt in range(3):
            done = run(["bash", "-o", "pipefail", "-c", pipe], timeout=900, check=False)
            # containerd race (containerd#2382, #10835): re-tagging a ref drops the old image's
            # label that kept shared parent snapshots; GC may collect one mid-unpack. A second
            # import unpacks the whole chain again.
            if not done.returncode or "failed to prepare extraction snapshot" not in done.stderr or attempt == 2:
                break
        if done.returncode:
            raise RuntimeError(f"{pipe} failed ({done.returncode}): {done.stderr.strip()}")
        if self.containerd_image_id(ref) != f"sha256:{image_id}":
            raise RuntimeError(f"{ref} imported, but containerd does not list it with id {image_id}")
        self.imported[ref] = image_id

    def containerd_image_id(self, ref: str) -> str | None:
        """The config digest (what Podman and the CRI call the image id) of `ref` in containerd."""
        rows = self.ctr("images", "ls", f"name=={ref}").stdout.splitlines()[1:]
        if not rows:
            return None
        manifest = json.loads(self.ctr("content", "get", rows[0].split()[2]).stdout)
        return manifest.get("config", {}).get("digest")

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig whose client certificate says `user` in `groups` (what RBAC sees)."""
        name = "user-" + "-".join((user, *groups)).replace(":", "_").replace("/", "_")
        if not (self.pki / f"{name}.kubeconfig").exists():
            self._cert(name, user, groups)
            self._kubeconfig(name)
        return self.pki / f"{name}.kubeconfig"

    def hostpath_volume(self, name: str, path: Path, storage_class: str, access_modes=("ReadWriteMany",),
                        size: str = "1Gi", claim: tuple[str, str] | None = None) -> None:
        """A PersistentVolume on a folder of this machine (there is no dynamic provisioner).

        With `claim=(namespace, name)` it is pre-bound, so only that claim can take it.
        """
        Path(path).mkdir(parents=True, exist_ok=True)
        spec = {"capacity": {"storage": size}, "accessModes": list(access_modes),
                "storageClassName": storage_class, "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(path), "type": "DirectoryOrCreate"}}
        if claim:
            spec["claimRef"] = {"namespace": claim[0], "name": claim[1]}
        pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}
        self.kubectl("apply", "-f", "-", input=json.dumps(pv))

    # ---- start

    def start(self) -> KubeCluster:
        self.take_lock()
        try:
            self.preflight()
        except BaseException:
            self.release_lock()  # nothing started: nothing of the machine's to clean
            raise
        self.netns_before = netns_names()
        try:
            self.logs.mkdir(parents=True, exist_ok=True)
            self.make_pki()
            self.make_bridge()
            self.start_containerd()
            self.spawn("etcd", self.bin / "etcd", "--data-dir", self.run_dir / "etcd",
                       "--listen-client-urls=http://127.0.0.1:2379", "--advertise-client-urls=http://127.0.0.1:2379",
                       "--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
                       "--initial-cluster=default=http://127.0.0.1:2380", "--name=default", "--log-level=warn")
            self.wait("etcd healthy", lambda: self.get("http://127.0.0.1:2379/health") == 200, 30, "etcd")
            self.start_apiserver()
            self.wait("kube-apiserver ready", lambda: self.get(f"{self.api_url}/readyz") == 200, 60, "kube-apiserver")
            self.route_kubernetes_service()
            self.start_controllers()
            self.start_kwok()
            self.start_kubelet()
            self.start_kube_proxy()
            self.wait("kube-scheduler healthy",
                      lambda: self.get("https://127.0.0.1:10259/healthz", verify=False) == 200, 60, "kube-scheduler")
            self.wait("the default ServiceAccount (kube-controller-manager)",
                      lambda: self.get(f"{self.api_url}/api/v1/namespaces/default/serviceaccounts/default") == 200,
                      60, "kube-controller-manager")
            self.wait(f"node {self.gpu_node} Ready", lambda: self.node_ready(self.gpu_node), 60, "kwok")
            self.wait(f"node {self.node} Ready", lambda: self.node_ready(self.node), 90, "kubelet")
            self.wait("kube-proxy synced", lambda: self.get("http://127.0.0.1:10256/healthz") == 200, 60,
                      "kube-proxy")
        except BaseException:
            self.stop()
            raise
        return self

    def route_kubernetes_service(self) -> None:
        """Pods reach the API server through the `kubernetes` Service, as in any cluster (the
        in-cluster client of a hub in a pod): the API server listens on loopback only and
        reconciles no endpoints (recipe fix 6), so this machine forwards the pod gateway's
        port 6443 to it and the Service's EndpointSlice names that address."""
        self.api_bridge = HubBridge(self.pod_gateway, 6443).start()
        self.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes-test", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes",
                                    "endpointslice.kubernetes.io/managed-by": "aiportal-tests"}},
            "addressType": "IPv4", "endpoints": [{"addresses": [self.pod_gateway]}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}))

    def take_lock(self) -> None:
        """One cluster per machine: ports, cni0, the IPAM folder, iptables chains and containerd's
        store are shared, and stop() removes them. A second session fails here, before touching any."""
        self.cache.mkdir(parents=True, exist_ok=True)
        lock = open(self.cache / "cluster.lock", "a+")  # noqa: SIM115 (held until stop())
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip()
            lock.close()
            raise RuntimeError(f"another test Kubernetes cluster runs on this machine ({holder}); "
                               "sessions that use it cannot overlap") from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}, run dir {self.run_dir}")
        lock.flush()
        self.lock = lock

    def release_lock(self) -> None:
        self.lock.close()
        self.lock = None

    def preflight(self) -> None:
        """Fail before starting anything, saying what this machine lacks."""
        problems = []
        if os.geteuid() != 0:
            problems.append("the test cluster needs root (containerd, CNI, iptables)")
        missing = [b for b in BINARIES if not (self.bin / b).exists()]
        if missing:
            problems.append(f"missing {', '.join(missing)} in {self.bin}: run scripts/install-kubernetes.sh")
        for tool in ("containerd", "ctr", "runc", "iptables", "podman"):
            if not shutil.which(tool):
                problems.append(f"{tool} is not installed: run scripts/install-kubernetes.sh")
        if not Path("/usr/lib/cni/bridge").exists():
            problems.append("CNI plugins missing (/usr/lib/cni): apt-get install containernetworking-plugins")
        if not (self.cache / "images" / "pause-oci.tar").exists():
            problems.append(f"missing {self.cache}/images/pause-oci.tar: run scripts/install-kubernetes.sh")
        try:
            addresses = {a[4][0] for a in socket.getaddrinfo(self.node, None, socket.AF_INET)}
        except socket.gaierror:
            addresses = set()
        if addresses != {"127.0.0.1"}:
            problems.append(f"hostname {self.node!r} resolves to {sorted(addresses)}, not 127.0.0.1: "
                            f"add '127.0.0.1 {self.node}' to /etc/hosts (the API server reaches the kubelet by it)")
        for port, user in PORTS.items():
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    holder = run(["ss", "-Hltnp", f"sport = :{port}"], check=False).stdout.strip()
                    problems.append(f"port {port} ({user}) is taken, another test cluster running? {holder}")
        if problems:
            raise RuntimeError("cannot start the test Kubernetes cluster:\n- " + "\n- ".join(problems))

    def make_pki(self) -> None:
        """A CA and one client/server certificate per component (the recipe's mkcerts.sh)."""
        self.pki.mkdir(parents=True)
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-noenc", "-keyout", self.pki / "ca.key",
             "-out", self.pki / "ca.crt", "-subj", "/CN=aiportal-test-ca", "-days", "3650"])
        run(["openssl", "genrsa", "-out", self.pki / "sa.key", "2048"])
        run(["openssl", "rsa", "-in", self.pki / "sa.key", "-pubout", "-out", self.pki / "sa.pub"])
        certs = [
            ("apiserver", "kube-apiserver", (), "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
             "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.0.0.1"),
            ("admin", "admin", ("system:masters",), None),
            ("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",), None),
            ("controller-manager", "system:kube-controller-manager", (), None),
            ("scheduler", "system:kube-scheduler", (), None),
            ("kube-proxy", "system:kube-proxy", (), None),
            ("kubelet", f"system:node:{self.node}", ("system:nodes",), f"DNS:{self.node},DNS:localhost,IP:127.0.0.1"),
        ]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda c: self._cert(*c), certs))
        for name in ("admin", "controller-manager", "scheduler", "kube-proxy", "kubelet"):
            self._kubeconfig(name)

    def _cert(self, name: str, cn: str, groups: tuple[str, ...] = (), san: str | None = None) -> None:
        p = self.pki
        subject = f"/CN={cn}" + "".join(f"/O={g}" for g in groups)
        run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-noenc", "-keyout", p / f"{name}.key",
             "-subj", subject, "-out", p / f"{name}.csr"])
        usage = f"subjectAltName={san}\nextendedKeyUsage=serverAuth,clientAuth\n" if san else ""
        (p / f"{name}.ext").write_text(usage or "extendedKeyUsage=clientAuth\n")
        run(["openssl", "x509", "-req", "-in", p / f"{name}.csr", "-CA", p / "ca.crt", "-CAkey", p / "ca.key",
             "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "3650",
             "-extfile", p / f"{name}.ext", "-out", p / f"{name}.crt"])

    def _kubeconfig(self, name: str) -> None:
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "local",
                  "clusters": [{"name": "local", "cluster": {"server": self.api_url,
                                                             "certificate-authority": str(self.pki / "ca.crt")}}],
                  "users": [{"name": name, "user": {"client-certificate": str(self.pki / f"{name}.crt"),
                                                    "client-key": str(self.pki / f"{name}.key")}}],
                  "contexts": [{"name": "local", "context": {"cluster": "local", "user": name}}]}
        (self.pki / f"{name}.kubeconfig").write_text(json.dumps(config, indent=1))

    def make_bridge(self) -> None:
        """cni0 with the pods' gateway address before any pod: servers on this machine can bind
        `pod_gateway` from the start. The bridge plugin adopts it; stop() removes it."""
        if not Path("/sys/class/net/cni0").exists():
            run(["ip", "link", "add", "cni0", "type", "bridge"])
        if self.pod_gateway not in run(["ip", "-4", "addr", "show", "dev", "cni0"]).stdout:
            run(["ip", "addr", "add", f"{self.pod_gateway}/24", "dev", "cni0"])
        run(["ip", "link", "set", "cni0", "up"])

    def start_containerd(self) -> None:
        """Containerd with the recipe's fixes; its image store (root) is the persistent cache."""
        d = self.run_dir / "containerd"
        (d / "cni").mkdir(parents=True)
        (d / "cni" / "10-bridge.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": CNI_NETWORK, "plugins": [
                {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False, "hairpinMode": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]],
                          "routes": [{"dst": "0.0.0.0/0"}]}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "loopback"}]}))
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        (d / "config.toml").write_text(f"""version = 2
root = "{self.cache / 'containerd-root'}"
state = "{d / 'state'}"
[grpc]
  address = "{self.containerd_sock}"
[{cri}]
  sandbox_image = "{SANDBOX_IMAGE}"
  # root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj (recipe fix 3)
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d / 'cni'}"
""")
        self.spawn("containerd", "containerd", "--config", d / "config.toml")
        self.wait("containerd", lambda: self.ctr("version", check=False, timeout=5).returncode == 0, 30, "containerd")
        if not self.ctr("images", "ls", "-q", f"name=={SANDBOX_IMAGE}").stdout.strip():
            self.ctr("images", "import", str(self.cache / "images" / "pause-oci.tar"), timeout=120)

    def start_apiserver(self) -> None:
        p = self.pki
        self.spawn("kube-apiserver", self.bin / "kube-apiserver", "--etcd-servers=http://127.0.0.1:2379",
                   "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=6443",
                   # a loopback endpoint for the `kubernetes` Service is invalid (recipe fix 6)
                   "--endpoint-reconciler-type=none",
                   f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
                   f"--client-ca-file={p / 'ca.crt'}",
                   "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                   f"--service-account-key-file={p / 'sa.pub'}", f"--service-account-signing-key-file={p / 'sa.key'}",
                   f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=Node,RBAC",
                   "--enable-admission-plugins=NodeRestriction", "--allow-privileged=true",
                   # reach the kubelet by its name, which resolves to 127.0.0.1 (recipe fix 5)
                   "--kubelet-preferred-address-types=Hostname",
                   f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
                   f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}")

    def start_controllers(self) -> None:
        p = self.pki
        cm = p / "controller-manager.kubeconfig"
        self.spawn("kube-controller-manager", self.bin / "kube-controller-manager", f"--kubeconfig={cm}",
                   f"--authentication-kubeconfig={cm}", f"--authorization-kubeconfig={cm}",
                   "--bind-address=127.0.0.1", "--leader-elect=false", "--use-service-account-credentials=true",
                   f"--service-account-private-key-file={p / 'sa.key'}", f"--root-ca-file={p / 'ca.crt'}",
                   f"--cluster-signing-cert-file={p / 'ca.crt'}", f"--cluster-signing-key-file={p / 'ca.key'}",
                   f"--service-cluster-ip-range={SERVICE_CIDR}")
        sc = p / "scheduler.kubeconfig"
        self.spawn("kube-scheduler", self.bin / "kube-scheduler", f"--kubeconfig={sc}",
                   f"--authentication-kubeconfig={sc}", f"--authorization-kubeconfig={sc}",
                   "--bind-address=127.0.0.1", "--leader-elect=false")

    def start_kwok(self) -> None:
        """kwok plays the 5-GPU node: it marks the node Ready and the pods bound to it Running."""
        gomodcache = run(["go", "env", "GOMODCACHE"]).stdout.strip()
        stages = Path(gomodcache) / "sigs.k8s.io" / "kwok@v0.8.0" / "kustomize" / "stage"
        try:
            text = "".join(f"---\n{(stages / f'{s}.yaml').read_text()}" for s in KWOK_STAGES)
        except FileNotFoundError as e:
            raise RuntimeError(f"kwok's stage files are missing ({e.filename}): "
                               "run scripts/install-kubernetes.sh") from e
        (self.run_dir / "kwok-stages.yaml").write_text(text)
        self.spawn("kwok", self.bin / "kwok", f"--config={self.run_dir / 'kwok-stages.yaml'}",
                   f"--kubeconfig={self.kubeconfig}", "--manage-all-nodes=false",
                   "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake", f"--cidr={KWOK_CIDR}",
                   "--node-ip=127.0.0.1", "--node-lease-duration-seconds=40")
        self.kubectl("apply", "-f", "-", input=json.dumps(GPU_NODE_MANIFEST))

    def start_kubelet(self) -> None:
        d = self.run_dir / "kubelet"
        d.mkdir()
        (d / "config.json").write_text(json.dumps({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": "127.0.0.1",
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(self.pki / "ca.crt")}},
            "authorization": {"mode": "Webhook"},
            "tlsCertFile": str(self.pki / "kubelet.crt"), "tlsPrivateKeyFile": str(self.pki / "kubelet.key"),
            "containerRuntimeEndpoint": f"unix://{self.containerd_sock}",
            # cgroup v1 host: kubelet 1.37 refuses it unless told (recipe fix 4)
            "cgroupDriver": "cgroupfs", "failCgroupV1": False, "failSwapOn": False,
            "cgroupsPerQOS": False, "enforceNodeAllocatable": [],
            "clusterDomain": "cluster.local", "resolvConf": "/etc/resolv.conf", "podLogsDir": str(d / "pod-logs"),
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                             "nodefs.inodesFree": "1%"},
            # imported images have no registry to come back from: never collect them
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "podPidsLimit": -1}))
        self.spawn("kubelet", self.bin / "kubelet", f"--config={d / 'config.json'}",
                   f"--kubeconfig={self.pki / 'kubelet.kubeconfig'}", f"--root-dir={d / 'root'}",
                   f"--cert-dir={d / 'pki'}", f"--hostname-override={self.node}")

    def start_kube_proxy(self) -> None:
        """iptables mode; every setting that would change this host's sysctls is off."""
        path = self.run_dir / "kube-proxy.json"
        path.write_text(json.dumps({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "mode": "iptables", "clientConnection": {"kubeconfig": str(self.pki / "kube-proxy.kubeconfig")},
            "hostnameOverride": self.node, "clusterCIDR": POD_CIDR, "bindAddress": "127.0.0.1",
            "healthzBindAddress": "127.0.0.1:10256", "metricsBindAddress": "127.0.0.1:10249",
            "iptables": {"localhostNodePorts": False},
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"}}))
        self.spawn("kube-proxy", self.bin / "kube-proxy", f"--config={path}")

    # ---- helpers of start

    def spawn(self, name: str, *args) -> None:
        with open(self.logs / f"{name}.log", "wb") as log:
            # a session of its own: ^C in pytest reaches pytest, whose teardown then stops them in order
            self.procs[name] = subprocess.Popen([str(a) for a in args], stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)

    def wait(self, what: str, ready: Callable[[], bool], timeout: float, log: str) -> None:
        """Poll `ready`; fail early, with the log, when a component exits."""
        deadline = time.monotonic() + timeout
        while not self.probe(ready):
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}) while waiting for {what}\n"
                                       + tail(self.logs / f"{name}.log"))
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}\n"
                                   + tail(self.logs / f"{log}.log"))
            time.sleep(0.2)

    @staticmethod
    def probe(ready: Callable[[], bool]) -> bool:
        try:
            return ready()
        except subprocess.TimeoutExpired:
            return False

    def get(self, url: str, verify: bool = True) -> int | None:
        """HTTP status of `url` (as admin on the API server); None when nothing answers yet.

        verify=False for the components' own self-signed serving certificates.
        """
        ctx = self.ssl_context() if verify else ssl._create_unverified_context()
        try:
            with urllib.request.urlopen(url, timeout=5, context=ctx) as r:
                self.last_body = r.read()
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(self.pki / "admin.crt", self.pki / "admin.key")
        return ctx

    def node_ready(self, name: str) -> bool:
        """Ready, and the controller manager has lifted the `not-ready` taint: pods schedule at once."""
        if self.get(f"{self.api_url}/api/v1/nodes/{name}") != 200:
            return False
        node = json.loads(self.last_body)
        taints = {t["key"] for t in node["spec"].get("taints", [])}
        return "node.kubernetes.io/not-ready" not in taints and any(
            c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))

    # ---- stop

    def stop(self) -> None:
        """Stop every process, then remove what they left on the host: tasks, mounts, netns, cni0, chains."""
        if self.lock is None:
            return
        if "kubelet" in self.procs and self.procs["kubelet"].poll() is None:
            # let the kubelet tear its pods down (CNI DEL releases IPs and veths, volumes unmount)
            self.kubectl("delete", "pods", "-A", "--all", f"--field-selector=spec.nodeName={self.node}",
                         "--grace-period=1", "--timeout=30s", check=False, timeout=40)
        for name in ("kubelet", "kwok", "kube-proxy", "kube-scheduler", "kube-controller-manager"):
            self.terminate(name)
        if "containerd" in self.procs and self.procs["containerd"].poll() is None:
            self.remove_containers()
        for name in ("containerd", "kube-apiserver", "etcd"):
            self.terminate(name)
        if self.api_bridge is not None:
            self.api_bridge.stop()
            self.api_bridge = None
        if "kube-proxy" in self.procs:
            run([str(self.bin / "kube-proxy"), "--cleanup"], check=False, timeout=60)
        if "kubelet" in self.procs:
            remove_kubelet_chains()
        self.kill_leftovers()
        for ns in netns_names() - self.netns_before:
            if ns.startswith("cni-"):
                run(["ip", "netns", "delete", ns], check=False)
        if Path("/sys/class/net/cni0").exists():
            run(["ip", "link", "delete", "cni0"], check=False)
        shutil.rmtree(f"/var/lib/cni/networks/{CNI_NETWORK}", ignore_errors=True)
        for link in Path("/var/log/containers").glob("*.log"):  # the kubelet's links to its pods' logs
            if link.is_symlink() and os.readlink(link).startswith(f"{self.run_dir}/"):
                link.unlink()
        # CRI's per-sandbox files in the persistent root belong to containers that are gone now
        for sub in ("sandboxes", "containers"):
            shutil.rmtree(self.cache / "containerd-root" / "io.containerd.grpc.v1.cri" / sub, ignore_errors=True)
        self.procs.clear()
        try:
            self.unmount()
        finally:
            self.release_lock()

    def terminate(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def remove_containers(self) -> None:
        tasks = self.ctr("tasks", "ls", "-q", check=False).stdout.split()
        for t in tasks:
            self.ctr("tasks", "kill", "-s", "SIGKILL", t, check=False)
        for t in tasks:
            self.ctr("tasks", "delete", "-f", t, check=False)
        containers = self.ctr("containers", "ls", "-q", check=False).stdout.split()
        if containers:
            self.ctr("containers", "delete", *containers, check=False)

    def kill_leftovers(self) -> None:
        """containerd's shims and their containers outlive containerd; they all name the run dir."""
        marker = f"{self.run_dir}/".encode()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline and int(pid) != os.getpid():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def mounts(self) -> list[str]:
        targets = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        return sorted((t for t in targets if t.startswith(f"{self.run_dir}/")), key=len, reverse=True)

    def unmount(self) -> None:
        """Deepest first, lazily where busy; then the pods', containers' and etcd's folders go (logs stay).

        Only once nothing is mounted there: deleting through a leftover bind mount of a
        hostPath volume would delete the host's files.
        """
        for target in self.mounts():
            if run(["umount", target], check=False).returncode:
                run(["umount", "-l", target], check=False)
        if self.mounts():
            raise RuntimeError(f"still mounted after the cluster stopped: {self.mounts()}")
        for sub in ("kubelet/root", "containerd/state", "etcd"):
            shutil.rmtree(self.run_dir / sub, ignore_errors=True)


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory):
    """The session's Kubernetes cluster, started on first use (~20 s warm)."""
    cluster = KubeCluster(tmp_path_factory.mktemp("kube"))
    try:
        cluster.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    yield cluster
    cluster.stop()
