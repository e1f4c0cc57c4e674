"""Acting in S3 as a team: the portal's requests and the URLs it signs.

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

