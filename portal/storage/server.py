"""Run a local S3 server as a child process: start, wait until S3 answers, stop.

The server runs in its own process group, so ``stop()`` can end it together with
anything it forked, and a Ctrl-C in the portal's terminal does not reach it first.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import urllib3
from minio import Minio
from minio.error import S3Error

from ..lifeline import tied_to_this_thread
from ..ports import port_is_free
from .credentials import Credentials, load_or_create

log = logging.getLogger(__name__)


class StorageServerError(RuntimeError):
    """The storage server could not be started."""


class ServerProcess:
    """A local S3 server whose data, keys and log live in ``data_dir``.

    Contract: ``start()`` returns once the admin keys (``admin``, created once in
    ``data_dir/s3-admin.json``, mode 0600) can list buckets at ``endpoint``, or raises
    ``StorageServerError`` with the end of the log. ``stop()`` ends the whole process
    group (SIGTERM, then SIGKILL after ``stop_grace`` seconds) and is idempotent.
    Everything stored survives ``stop()``/``start()``.
    """

    kind: ClassVar[str]
    log_name: ClassVar[str]
    stop_grace: ClassVar[float] = 2.0
    #: what a server launched with ``tied`` gets when the launching thread dies
    death_signal: ClassVar[int] = signal.SIGTERM

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1",
                 start_timeout: float = 60.0):
        self.data_dir = Path(data_dir)
        self.port = int(port)
        self.host = host
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen | None = None
        self._started = 0.0
        self._admin: Credentials | None = None

    # -- public API -------------------------------------------------------------
    @property
    def connect_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host

    @property
    def endpoint(self) -> str:
        return f"http://{self.connect_host}:{self.port}"

    @property
    def admin(self) -> Credentials:
        if self._admin is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._admin = load_or_create(self.data_dir / "s3-admin.json")
        return self._admin

    @property
    def log_path(self) -> Path:
        return self.data_dir / self.log_name

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def store_options(self) -> dict[str, Any]:
        """Server-specific keyword arguments for ``open_store``."""
        return {}

    def open_store(self, keys, **options):
        """The ``StoreAdmin`` of this server; team keys are recorded in ``keys`` (a ``TeamKeys``);
        ``options`` go to the store (e.g. ``cors_origins``)."""
        from . import open_store

        return open_store(self.kind, self.endpoint, self.admin, keys=keys, **self.store_options, **options)

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self, tied: bool = False) -> None:
        """Start the process without waiting for S3 to answer (see ``wait_ready``).

        ``tied``: the server gets ``death_signal`` when the calling thread dies, even when
        killed outright (``portal.lifeline``); `aiportal up` launches it from its main thread.
        """
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        admin = self.admin
        if not port_is_free(self.port, self.connect_host):
            raise StorageServerError(f"{self.kind}: port {self.port} is already in use")
        argv, env = self._command(admin)
        log.info("starting %s: %s", self.kind, " ".join(argv))
        self._started = time.monotonic()
        with open(self.log_path, "ab") as logf:
            self._proc = subprocess.Popen(
                argv, env={**os.environ, **env}, cwd=self.data_dir,
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=tied_to_this_thread(self.death_signal) if tied else None,
            )
        atexit.register(self.stop)

    def wait_ready(self) -> None:
        """Return once S3 answers the admin keys; on failure stop the server and raise."""
        try:
            self._wait_ready(self.admin, self._started + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        log.info("%s answered at %s after %.1fs", self.kind, self.endpoint,
                 time.monotonic() - self._started)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(self.stop_grace)
        except subprocess.TimeoutExpired:
            pass
        # The leader may be gone while children of its group live on: kill the group.
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
        self._after_stop()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- for subclasses -----------------------------------------------------------
    def _command(self, admin: Credentials) -> tuple[Sequence[str], dict[str, str]]:
        """argv and extra environment of the server process."""
        raise NotImplementedError

    def _ready(self) -> bool:
        """Extra readiness condition, checked after S3 answered."""
        return True

    def _after_stop(self) -> None:
        """Clean-up once the process group is gone."""

    # -- internals ----------------------------------------------------------------
    def _wait_ready(self, admin: Credentials, deadline: float) -> None:
        probe = Minio(
            f"{self.connect_host}:{self.port}", admin.access_key, admin.secret_key,
            secure=False, region="us-east-1",
            http_client=urllib3.PoolManager(timeout=urllib3.Timeout(2), retries=False),
        )
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise StorageServerError(
                    f"{self.kind} exited with code {self._proc.returncode} while starting; "
                    f"end of {self.log_path}:\n{self._log_tail()}")
            try:
                probe.list_buckets()
                if self._ready():
                    return
            except (S3Error, urllib3.exceptions.HTTPError, OSError) as e:
                last_error = e
            time.sleep(0.2)
        raise StorageServerError(
            f"{self.kind} did not answer S3 at {self.endpoint} within {self.start_timeout:.0f}s "
            f"(last error: {last_error}); end of {self.log_path}:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
