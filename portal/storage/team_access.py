"""Acting in S3 as a team: the portal's requests, the URLs it signs, and notebooks' keys.

The portal lists, stats, deletes and signs with the team's own keys, not the admin
keys. A presigned URL (a download, a share link, an upload part) can then reach that
team's bucket and nothing else, whatever the portal gets wrong, and the admin keys
never appear in a URL that a page or an outsider sees. Rotating a team's keys (`aiportal
storage rotate-keys`, usually from another process) revokes every URL signed before;
the portal notices when the old keys are refused, reads the new ones once and retries.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from minio import Minio
from minio.error import S3Error

from .credentials import Credentials
from .store import StoreAdmin

#: What a server answers for keys that were rotated away.
REFUSED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"}


class TeamAccess:
    """Team-scoped minio clients, one pair per team: requests go to the store's endpoint,
    URLs are signed for ``public_endpoint`` (the host browsers and notebooks reach)."""

    def __init__(self, store: StoreAdmin, public_endpoint: str | None = None):
        self.store = store
        self.public_endpoint = public_endpoint or store.endpoint
        url = urlsplit(self.public_endpoint)
        self._public = (url.netloc, url.scheme == "https")
        self._clients: dict[tuple[str, str], tuple[Credentials, Minio, Minio]] = {}
        self._lock = threading.Lock()

    def _clients_for(self, team: str, bucket: str, refused: Credentials | None = None):
        with self._lock:
            entry = self._clients.get((team, bucket))
            if entry is None or entry[0] == refused:
                creds = self.store.team_credentials(team, bucket)
                public = Minio(self._public[0], creds.access_key, creds.secret_key,
                               secure=self._public[1], region=self.store.region)
                entry = (creds, self.store.client_for(creds), public)
                self._clients[(team, bucket)] = entry
            return entry

    def run(self, team: str, bucket: str, call):
        """``call(client)`` as the team; once more with freshly read keys if they were refused."""
        refused = None
        for attempt in range(2):
            creds, client, _ = self._clients_for(team, bucket, refused)
            try:
                return call(client)
            except S3Error as e:
                if attempt or e.code not in REFUSED:
                    raise
                refused = creds

    def sign(self, team: str, bucket: str, method: str, key: str, expires: timedelta, **options) -> str:
        """A presigned URL for the public endpoint, signed locally (no request) with the
        keys of the team's last accepted request (``run`` first, so they are current)."""
        _, _, public = self._clients_for(team, bucket)
        return public.get_presigned_url(method, bucket, key, expires, **options)


def notebook_env(creds: Credentials, bucket: str, endpoint: str, region: str) -> dict[str, str]:
    """What boto3, s3fs and the minio SDK read to open the team's bucket."""
    return {"AWS_ACCESS_KEY_ID": creds.access_key, "AWS_SECRET_ACCESS_KEY": creds.secret_key,
            "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": region, "S3_BUCKET": bucket}


class NotebookEnv:
    """The hub's ``Spawner.team_env``: (team, bucket) → the team's S3 variables.

    Keys are read at every spawn, so servers started after a rotation get the new ones.
    The store is opened at the first spawn, when the launcher has started it.
    """

    def __init__(self, config, data_dir: str | Path):
        self.config = config
        self.data_dir = data_dir
        self._store: StoreAdmin | None = None

    def __call__(self, team: str, bucket: str) -> dict[str, str]:
        if self._store is None:
            from . import store_from_config  # the package imports this module

            self._store = store_from_config(self.config, self.data_dir)
        creds = self._store.team_credentials(team, bucket)
        endpoint = self.config.storage_public_endpoint or self._store.endpoint
        return notebook_env(creds, bucket, endpoint, self._store.region)
