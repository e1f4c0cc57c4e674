"""`aiportal up`: the single-machine portal, supervised from one foreground process.

Picks the container engine (starting Podman's API service when Podman is installed and no
engine answers), starts the embedded S3 server and JupyterHub (which starts the proxy and
the portal service), prints where to log in, and on Ctrl-C or SIGTERM stops everything it
started in order, so no `weed`, proxy, service or local server process is left behind.
Server containers are the exception on purpose: they keep running and the next start
re-attaches them (stop servers in the hub to remove them).

Ctrl-C works even when `aiportal up` was started in the background by a script (which
starts it with SIGINT ignored): the handler is installed explicitly. A launcher killed
outright (SIGKILL) takes its children with it: the kernel signals each (``portal.lifeline``),
and the hub stops its proxy and service as on any SIGTERM. The children are started from
the main thread, the thread the kernel ties that signal to. Containers reach the hub API
through the engine's bridge address, forwarded by this process (``portal.hub_bridge``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from spawners.engine import EngineError, bridge_gateway, resolve

from . import config as portal_config
from .datadir import DataDir
from .hub_bridge import HubBridge
from .lifeline import tied_to_this_thread
from .ports import free_port, port_is_free

HUB_CONFIG = Path(__file__).resolve().parent.parent / "hub_config" / "jupyterhub_config.py"
PROJECT = Path(__file__).resolve().parent.parent


class LaunchError(RuntimeError):
    """A one-line reason why the portal cannot start."""


def check_port(ip: str, port: int, what: str) -> None:
    if not port_is_free(port, ip):
        raise LaunchError(f"port {port} on {ip} is already in use ({what}); "
                          "stop what uses it or choose another port")


def remembered_port(path: Path) -> int:
    """A port kept in `path` across restarts, or a new one when it is taken.

    The hub's: running server containers were told its URL and outlive a restart.
    """
    if path.exists() and port_is_free(port := int(path.read_text()), "0.0.0.0"):
        return port
    port = free_port()
    path.write_text(f"{port}\n")
    return port


def find_proxy() -> str:
    local = PROJECT / "node_modules" / ".bin" / "configurable-http-proxy"
    found = str(local) if local.exists() else shutil.which("configurable-http-proxy")
    if not found:
        raise LaunchError("configurable-http-proxy not found: run `npm install` in the project "
                          "(make up does it)")
    return found


def ensure_config(data: DataDir, config_path: str | None) -> Path:
    """The config to use; a commented default is written into the data dir on first run."""
    if config_path:
        return Path(config_path).resolve()
    if not data.config.exists():
        data.config.write_text(resources.files("portal").joinpath("default_portal.yaml").read_text())
    return data.config


def failure(error: urllib.error.HTTPError) -> str | None:
    """The cause a failed portal service reports on /health (500 {"status": "failed"})."""
    if error.code != 500:
        return None
    try:
        body = json.loads(error.read())
    except ValueError:
        return None
    return f"the portal service could not start: {body['error']}" if body.get("status") == "failed" else None


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise LaunchError(f"JupyterHub exited with status {proc.returncode} during start-up "
                              "(see its log above)")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError as e:
            failed = failure(e)
            if failed:
                raise LaunchError(failed) from None
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise LaunchError(f"{url} did not answer within {timeout:.0f} s")


class Portal:
    """The running single-machine portal (also used by the tests and benchmarks)."""

    def __init__(self, data_dir: str | Path, config_path: str | None = None,
                 port: int | None = None, quiet: bool = False, environ: dict[str, str] | None = None):
        self.data = DataDir(data_dir).ensure()
        self.environ = dict(environ or {})  # added to the hub's environment (e.g. AIPORTAL_GITLAB_TOKEN)
        self.config_path = ensure_config(self.data, config_path)
        self.config = portal_config.load(self.config_path)
        self.port = port or self.config.hub_port
        self.url = f"http://{self.config.hub_ip}:{self.port}/"
        self.quiet = quiet
        self.hub: subprocess.Popen | None = None
        self.storage = None
        self.timings: dict[str, float] = {}  # seconds from start() to the hub API / portal ready
        self.engine = None
        self.podman_service = None  # only when this portal started it
        self.bridge: HubBridge | None = None  # the hub API on the engine's bridge address

    def start(self) -> Portal:
        began = time.perf_counter()
        cfg = self.config
        check_port(cfg.hub_ip, self.port, "hub.port")
        if cfg.storage_endpoint is None:
            check_port("127.0.0.1", cfg.storage_port, "storage.port")
        else:
            missing = [k for k in ("AIPORTAL_S3_ACCESS_KEY", "AIPORTAL_S3_SECRET_KEY") if not os.environ.get(k)]
            if missing:
                raise LaunchError(f"storage.endpoint is {cfg.storage_endpoint}: set its admin keys in "
                                  f"{' and '.join(missing)}")
        proxy = find_proxy()
        storage = ThreadPoolExecutor(1)
        try:
            try:
                # Podman's service comes up while the hub imports (the hub config waits for it)
                self.engine, self.podman_service = resolve(
                    cfg.spawner_backend, cfg.spawner_socket, self.data.root / "logs" / "podman-service.log",
                    wait=False)
            except EngineError as e:
                raise LaunchError(str(e)) from None
            # the hub does not need S3 to start (the service waits for it), so start both at
            # once: launched here (the main thread: see portal.lifeline), awaited in a thread
            self._launch_storage()
            storage_ready = storage.submit(self.storage.wait_ready) if self.storage else None
            hub_port = remembered_port(self.data.root / "hub-port")
            env = dict(os.environ, **self.environ, AIPORTAL_CONFIG=str(self.config_path),
                       AIPORTAL_DATA_DIR=str(self.data.root), AIPORTAL_PORT=str(self.port),
                       AIPORTAL_HUB_PORT=str(hub_port),
                       AIPORTAL_PROXY_API_PORT=str(free_port()),
                       AIPORTAL_SERVICE_PORT=str(free_port()), AIPORTAL_CHP=proxy, **self.engine.as_env())
            log = open(self.data.root / "logs" / "jupyterhub.log", "ab") if self.quiet else None
            self.hub = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)], cwd=self.data.root,
                env=env, stdout=log, stderr=subprocess.STDOUT if log else None,
                start_new_session=True, preexec_fn=tied_to_this_thread())
            if log:
                log.close()  # the hub has its own copy
            try:
                if self.podman_service is not None:
                    self.podman_service.wait_ready()
                self.bridge = self._hub_bridge(hub_port)
            except EngineError as e:
                raise LaunchError(str(e)) from None
            except OSError as e:
                raise LaunchError(f"cannot listen where {self.engine.backend} servers reach the hub "
                                  f"(port {hub_port} or spawner.kubernetes.hub_connect_url): {e.strerror}") from None
            if storage_ready is not None:
                storage_ready.result()
            wait_http(f"{self.url}hub/api/", 120, self.hub)
            self.timings["hub_api_s"] = time.perf_counter() - began
            wait_http(f"{self.url}services/portal/health", 120, self.hub)
            self.timings["ready_s"] = time.perf_counter() - began
        except BaseException:
            storage.shutdown(wait=True)
            self.stop()
            raise
        storage.shutdown()
        return self

    def _hub_bridge(self, hub_port: int) -> HubBridge | None:
        """Where servers reach the hub, forwarded to it: the engine's bridge address, or the
        address a cluster's pods reach this machine at (spawner.kubernetes.hub_connect_url)."""
        if self.engine.backend == "local":
            return None
        if self.engine.backend == "kubernetes":
            url = self.config.raw["spawner"]["kubernetes"]["hub_connect_url"]
            if not url:
                raise LaunchError("spawner.backend is kubernetes with the hub outside the cluster: set "
                                  "spawner.kubernetes.hub_connect_url to an address of this machine that pods reach")
            where = urlsplit(url)
            return HubBridge(where.hostname, where.port or 80, target_port=hub_port).start()
        return HubBridge(bridge_gateway(self.engine), hub_port).start()

    def _launch_storage(self) -> None:
        if self.config.storage_endpoint is not None:
            return
        from .storage import SERVERS

        # Containers reach the host's S3 through the engine's bridge, not through loopback.
        reach = self.engine is not None and self.engine.backend != "local"
        kind = self.config.storage_type
        extra = ({"s3_bind": "0.0.0.0"} if kind == "seaweedfs" else {"host": "0.0.0.0"}) if reach else {}
        self.storage = SERVERS[kind](self.data.s3, self.config.storage_port, **extra)
        self.storage.launch(tied=True)

    def stop(self, timeout: float = 30) -> None:
        """Stop the hub (it stops the proxy, the service and local servers), then what we started."""
        if self.hub is not None and self.hub.poll() is None:
            self.hub.send_signal(signal.SIGTERM)
            try:
                self.hub.wait(timeout)
            except subprocess.TimeoutExpired:
                self.hub.kill()
                self.hub.wait()
        if self.hub is not None:
            try:  # anything the hub left in its session (it should leave nothing)
                os.killpg(self.hub.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._stop_orphaned_proxy()
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None
        if self.podman_service is not None:
            self.podman_service.stop()
            self.podman_service = None
        if self.storage is not None:
            self.storage.stop()
            self.storage = None

    def _stop_orphaned_proxy(self) -> None:
        """A hub that exits on an error leaves its proxy running: JupyterHub keeps proxies across
        its own restarts, but `aiportal up` must leave no process behind."""
        try:
            pid = int(self.data.proxy_pid.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"configurable-http-proxy" in cmdline:
            os.kill(pid, signal.SIGTERM)
        self.data.proxy_pid.unlink(missing_ok=True)

    def banner(self) -> str:
        admin = self.config.first_admin
        lines = [f"aiportal is running at {self.url} (ready in {self.timings.get('ready_s', 0):.1f} s)"]
        if self.config.auth["type"] == "native":
            lines += [f"  admin user: {admin}",
                      f"  password:   {self.data.admin_password(admin)}"
                      f"   (kept in {self.data.root / 'secrets' / f'password-{admin}'})"]
        servers = {"local": "local processes", "kubernetes": "Kubernetes pods"}.get(
            self.engine.backend, f"{self.engine.backend} containers")
        lines += [f"  servers:    {servers} ({self.engine.reason})"]
        if (ssh := self.config.raw["ssh"])["enabled"]:
            host = self.config.hub_ip if self.config.hub_ip not in ("0.0.0.0", "::", "") else "HOST"
            lines += [f"  ssh:        ssh -p {ssh['port']} USER@{host}   (a token or a key of the "
                      f"portal's SSH keys page; listening on {ssh['listen']})"]
        lines += [f"  config:     {self.config_path}", "Press Ctrl-C to stop."]
        return "\n".join(lines)


def _interrupt(*_):
    raise KeyboardInterrupt


def run(data_dir: str, config_path: str | None, port: int | None) -> int:
    """Foreground `aiportal up`: returns the exit status."""
    # SIGINT explicitly: started with `&` from a script, it is inherited as ignored, and
    # Python then installs no KeyboardInterrupt handler of its own.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    portal = Portal(data_dir, config_path, port)
    try:
        portal.start()
        print(portal.banner(), flush=True)
        while portal.hub.poll() is None:
            time.sleep(0.2)
        print(f"aiportal: JupyterHub exited with status {portal.hub.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        portal.stop()
        print("aiportal stopped.", flush=True)
