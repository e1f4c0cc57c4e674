"""S3-generic administration of team buckets; server adapters add team identities.

Everything here speaks plain S3 through the minio SDK. What differs per server
(creating a team identity scoped to one bucket, replacing its keys) is left to two
methods that each adapter (``seaweedfs.py``, ``minio.py``) implements.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from abc import ABC, abstractmethod
from typing import ClassVar
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from minio import Minio
from minio.error import S3Error
from minio.helpers import check_bucket_name, md5sum_hash

from .credentials import Credentials

log = logging.getLogger(__name__)

TEAM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CORS_METHODS = ("PUT", "GET", "HEAD", "POST")
CORS_EXPOSE = ("ETag",)


class StorageAdminError(RuntimeError):
    """The storage server refused or failed an administrative change."""


def cors_xml(origins: tuple[str, ...] = ("*",)) -> bytes:
    """S3 CORS configuration for browser-direct transfer (ETag readable for multipart)."""
    rule = "".join(f"<AllowedOrigin>{escape(o)}</AllowedOrigin>" for o in origins)
    rule += "".join(f"<AllowedMethod>{m}</AllowedMethod>" for m in CORS_METHODS)
    rule += "<AllowedHeader>*</AllowedHeader>"
    rule += "".join(f"<ExposeHeader>{h}</ExposeHeader>" for h in CORS_EXPOSE)
    rule += "<MaxAgeSeconds>3600</MaxAgeSeconds>"
    return f"<CORSConfiguration><CORSRule>{rule}</CORSRule></CORSConfiguration>".encode()


class StoreAdmin(ABC):
    """Admin view of one S3 server: team buckets and per-team keys.

    Contract: ``ensure_bucket`` and ``team_credentials`` are idempotent; the keys that
    ``team_credentials`` returns can read, write and list only that team's bucket and
    are the same until ``rotate_team_credentials`` replaces them, after which the old
    keys are refused. Both return only once the server accepts the keys.
    """

    kind: ClassVar[str]
    propagation_timeout: ClassVar[float] = 15.0

    def __init__(self, endpoint: str, admin: Credentials, *, region: str = "us-east-1",
                 cors_origins: tuple[str, ...] = ("*",)):
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(f"S3 endpoint must be http(s)://host:port, not {endpoint!r}")
        self.endpoint = endpoint
        self.region = region
        self.cors_origins = tuple(cors_origins)
        self.cors_supported: bool | None = None
        self._netloc = url.netloc
        self._secure = url.scheme == "https"
        self._admin = admin
        self._client = self.client_for(admin)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoint}>"

    def client(self) -> Minio:
        """The admin client. It holds the admin keys: never hand it to notebooks."""
        return self._client

    def client_for(self, creds: Credentials) -> Minio:
        """A client of this server with other keys (a team's, in tests and checks)."""
        return Minio(self._netloc, creds.access_key, creds.secret_key,
                     secure=self._secure, region=self.region)

    def ensure_bucket(self, name: str) -> None:
        check_bucket_name(name, strict=True)
        if not self._client.bucket_exists(name):
            try:
                self._client.make_bucket(name)
            except S3Error as e:
                if e.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        self._set_cors(name)

    def team_credentials(self, team: str, bucket: str) -> Credentials:
        self._check_names(team, bucket)
        with self._lock:
            creds = self._existing_team_credentials(team, bucket)
            if creds is None:
                creds = self._new_team_credentials(team, bucket, previous=None)
                self._await_accepted(creds, bucket)
            return creds

    def rotate_team_credentials(self, team: str, bucket: str) -> Credentials:
        self._check_names(team, bucket)
        with self._lock:
            old = self._existing_team_credentials(team, bucket)
            creds = self._new_team_credentials(team, bucket, previous=old)
            self._await_accepted(creds, bucket)
            if old is not None:
                self._await_refused(old, bucket)
            return creds

    # -- per server --------------------------------------------------------------
    @abstractmethod
    def _existing_team_credentials(self, team: str, bucket: str) -> Credentials | None:
        """The team's current keys if they exist and are scoped to ``bucket``."""

    @abstractmethod
    def _new_team_credentials(self, team: str, bucket: str,
                              previous: Credentials | None) -> Credentials:
        """Create the team identity if needed, give it new keys scoped to ``bucket``,
        and revoke every other key it had."""

    # -- internals ---------------------------------------------------------------
    @staticmethod
    def _check_names(team: str, bucket: str) -> None:
        if not TEAM_RE.match(team):
            raise ValueError(f"invalid team name {team!r}: letters, digits, '.', '_', '-'")
        check_bucket_name(bucket, strict=True)

    def _set_cors(self, bucket: str) -> None:
        if self.cors_supported is False:
            return
        body = cors_xml(self.cors_origins)
        try:
            # The SDK (7.2) has no bucket-CORS call; _execute signs the request as
            # its own set_bucket_* methods do.
            self._client._execute(
                "PUT", bucket, body=body, headers={"Content-MD5": md5sum_hash(body)},
                query_params={"cors": ""})
            self.cors_supported = True
        except S3Error as e:
            if e.code not in ("NotImplemented", "NotImplementedException"):
                raise
            log.info("%s does not support bucket CORS; relying on its global CORS", self.kind)
            self.cors_supported = False

    def _probe(self, creds: Credentials, bucket: str) -> str | None:
        """None when the server accepts ``creds`` for ``bucket``, else the S3 error code."""
        client = self.client_for(creds)
        try:
            # A prefix nobody uses: one cheap, empty page.
            next(iter(client.list_objects(bucket, prefix=f".probe-{uuid.uuid4().hex}/")), None)
            return None
        except S3Error as e:
            return None if e.code == "NoSuchBucket" else e.code

    def _await_accepted(self, creds: Credentials, bucket: str) -> None:
        deadline = time.monotonic() + self.propagation_timeout
        while (code := self._probe(creds, bucket)) is not None:
            if time.monotonic() > deadline:
                raise StorageAdminError(
                    f"{self.kind}: new keys for bucket {bucket} still refused ({code})")
            time.sleep(0.1)

    def _await_refused(self, creds: Credentials, bucket: str) -> None:
        deadline = time.monotonic() + self.propagation_timeout
        while self._probe(creds, bucket) is None:
            if time.monotonic() > deadline:
                raise StorageAdminError(f"{self.kind}: revoked keys still accepted")
            time.sleep(0.1)
