"""MinIO: the production store (and a local server for tests), and its team identities.

A team identity is a MinIO user whose access key is the team's key, with the canned
policy ``aiportal-team-<team>`` attached (object read/write/delete and listing on the
team's bucket only), managed through ``minio.MinioAdmin``. MinIO never returns a
user's secret, so the portal keeps the team keys it handed out in a 0600 JSON file
(``keys_file``; without one, in memory for the life of the process). When the team
has no known keys, or they no longer match a MinIO user of the team,
``team_credentials`` issues new keys and removes the team's other users.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from minio import MinioAdmin
from minio.credentials import StaticProvider

from .credentials import Credentials, KeyFile, KeyMemory
from .server import ServerProcess, StorageServerError
from .store import StoreAdmin

BUCKET_ACTIONS = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                  "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
                  "s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging"]


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

    The admin keys are MinIO's root user. Team keys are kept in ``data_dir/team-keys.json``.
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

    @property
    def store_options(self) -> dict:
        return {"keys_file": str(self.data_dir / "team-keys.json")}

    def _command(self, admin: Credentials):
        data = self.data_dir / "data"
        data.mkdir(exist_ok=True)
        argv = [str(self.binary), "server", str(data),
                "--address", f"{self.host}:{self.port}", "--quiet"]
        env = {"MINIO_ROOT_USER": admin.access_key, "MINIO_ROOT_PASSWORD": admin.secret_key,
               "MINIO_BROWSER": "off", "MINIO_UPDATE": "off"}
        return argv, env


def team_policy(bucket: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": BUCKET_ACTIONS, "Resource": [f"arn:aws:s3:::{bucket}"]},
        {"Effect": "Allow", "Action": OBJECT_ACTIONS, "Resource": [f"arn:aws:s3:::{bucket}/*"]},
    ]}


class MinioStore(StoreAdmin):
    """Team identity = a MinIO user with the policy ``aiportal-team-<team>``."""

    kind = "minio"

    def __init__(self, endpoint: str, admin: Credentials, *,
                 keys_file: str | Path | None = None, **kwargs):
        super().__init__(endpoint, admin, **kwargs)
        self.keys = KeyFile(Path(keys_file)) if keys_file else KeyMemory()
        self._madmin = MinioAdmin(
            endpoint=self._netloc, secure=self._secure,
            credentials=StaticProvider(admin.access_key, admin.secret_key))

    @staticmethod
    def policy_name(team: str) -> str:
        return f"aiportal-team-{team}"

    def _users(self) -> dict[str, dict]:
        return json.loads(self._madmin.user_list() or "{}")

    def _team_users(self, team: str) -> list[str]:
        name = self.policy_name(team)
        return [key for key, user in self._users().items()
                if name in (user.get("policyName") or "").split(",")]

    def _policy_matches(self, team: str, bucket: str) -> bool:
        info = json.loads(self._madmin.policy_info(self.policy_name(team)))
        return info.get("Policy", info) == team_policy(bucket)

    def _existing_team_credentials(self, team, bucket):
        creds = self.keys.get(team)
        if creds is None or creds.access_key not in self._team_users(team):
            return None
        if not self._policy_matches(team, bucket):
            self._madmin.policy_add(self.policy_name(team), policy=team_policy(bucket))
        return creds

    def _new_team_credentials(self, team, bucket, previous):
        name = self.policy_name(team)
        self._madmin.policy_add(name, policy=team_policy(bucket))
        new = Credentials.generate()
        self._madmin.user_add(new.access_key, new.secret_key)
        self._madmin.attach_policy([name], user=new.access_key)
        self.keys.put(team, new)
        for key in self._team_users(team):
            if key != new.access_key:
                self._madmin.user_remove(key)
        return new
