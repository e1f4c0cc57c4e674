"""MinIO: the production store (and a local server for tests), and its team identities.

A team identity is a MinIO user whose access key is the team's key, with the canned
policy named after the identity attached (``store.team_policy``: the team's bucket only),
managed through ``minio.MinioAdmin``. MinIO never returns a user's secret: the keys the
portal handed out are recorded in the portal database (``keys.py``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from minio import MinioAdmin
from minio.credentials import StaticProvider
from minio.error import MinioAdminException

from .credentials import Credentials
from .server import ServerProcess, StorageServerError
from .store import StorageAdminError, StoreAdmin


def default_minio_binary() -> Path:
    cache = Path(os.environ.get("AIPORTAL_CACHE") or Path.home() / ".cache" / "aiportal")
    return cache / "bin" / "minio"


def find_minio() -> Path:
    """MinIO built by ``scripts/install-minio.sh`` (else ``minio`` on PATH)."""
    path = default_minio_binary()
    if path.exists():
        return path
    found = shutil.which("minio")
    if found:
        return Path(found)
    raise StorageServerError(
        f"MinIO binary not found at {path} nor on PATH: run scripts/install-minio.sh")


class MinioServer(ServerProcess):
    """``minio server`` on one drive, ``data_dir/data``; log in ``data_dir/minio.log``.

    The admin keys are MinIO's root user.
    """

    kind = "minio"
    log_name = "minio.log"
    stop_grace = 5.0  # MinIO exits promptly on SIGTERM

    def __init__(self, data_dir: Path, port: int, binary: Path | None = None,
                 host: str = "127.0.0.1", start_timeout: float = 60.0):
        super().__init__(data_dir, port, host, start_timeout)
        self.binary = Path(binary) if binary else find_minio()
        if not self.binary.exists():
            raise StorageServerError(
                f"MinIO binary not found at {self.binary}: run scripts/install-minio.sh")

    def _command(self, admin: Credentials):
        data = self.data_dir / "data"
        data.mkdir(exist_ok=True)
        argv = [str(self.binary), "server", str(data),
                "--address", f"{self.host}:{self.port}", "--quiet"]
        env = {"MINIO_ROOT_USER": admin.access_key, "MINIO_ROOT_PASSWORD": admin.secret_key,
               "MINIO_BROWSER": "off", "MINIO_UPDATE": "off"}
        return argv, env


class MinioStore(StoreAdmin):
    """Team identity = MinIO users with the canned policy named after the identity.

    MinIO's user name is the access key, so an identity is the set of users its policy is
    attached to: one, except during a rotation.
    """

    kind = "minio"

    def __init__(self, endpoint: str, admin: Credentials, **kwargs):
        super().__init__(endpoint, admin, **kwargs)
        self._madmin = MinioAdmin(
            endpoint=self._netloc, secure=self._secure,
            credentials=StaticProvider(admin.access_key, admin.secret_key))

    def _identity(self, name):
        users = json.loads(self._call(self._madmin.user_list) or "{}")
        keys = {key: None for key, user in users.items()
                if name in (user.get("policyName") or "").split(",")}
        return keys, self._policy(name)

    def _put_policy(self, name, policy):
        self._call(self._madmin.policy_add, name, policy=policy)

    def _issue(self, name, new):
        self._call(self._madmin.user_add, new.access_key, new.secret_key)
        self._call(self._madmin.attach_policy, [name], user=new.access_key)
        for key in self._identity(name)[0]:
            if key != new.access_key:
                self._call(self._madmin.user_remove, key)

    def _policy(self, name: str) -> dict | None:
        try:
            return json.loads(self._madmin.policy_info(name))
        except MinioAdminException as e:
            if "XMinioAdminNoSuchPolicy" in str(e):
                return None
            raise StorageAdminError(f"minio: {e}") from None

    def _call(self, method, *args, **kwargs):
        """A MinioAdmin call; its failures (e.g. admin keys MinIO refuses) as StorageAdminError."""
        try:
            return method(*args, **kwargs)
        except MinioAdminException as e:
            raise StorageAdminError(f"minio: {e}") from None
