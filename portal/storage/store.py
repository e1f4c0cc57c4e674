"""S3-generic administration of team buckets and team keys; server adapters add identities.

Everything here speaks plain S3 through the minio SDK, and both servers take the same IAM
policy document for a team identity (``team_policy``). What differs per server (how an
identity, its policy and its keys are stored) is left to three methods that each adapter
(``seaweedfs.py``, ``minio.py``) implements. Which keys are current is recorded in the
portal database (``keys.py``), so every process of the portal agrees on them.
"""

from __future__ import annotations

import logging
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

from ..config import SCHEMA
from ..names import team_name_problem
from .credentials import Credentials
from .keys import HeldKeys, TeamKeys

log = logging.getLogger(__name__)

BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
                  "s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging")
DELETE_ACTIONS = ("s3:DeleteObject",)
CORS_METHODS = ("PUT", "GET", "HEAD", "POST")
CORS_EXPOSE = ("ETag",)
DEFAULT_CORS_ORIGINS = tuple(SCHEMA["properties"]["storage"]["properties"]["cors_origins"]["default"])


class StorageAdminError(RuntimeError):
    """The storage server refused or failed an administrative change."""


def team_policy(bucket: str, may_delete: bool) -> dict:
    """What a team identity may do: list the bucket, read and write its objects, and
    delete them only if ``may_delete``. S3 has no action for "create but not overwrite":
    keys that may write may replace an object (see docs/storage.md)."""
    objects = OBJECT_ACTIONS + (DELETE_ACTIONS if may_delete else ())
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(BUCKET_ACTIONS), "Resource": [f"arn:aws:s3:::{bucket}"]},
        {"Effect": "Allow", "Action": list(objects), "Resource": [f"arn:aws:s3:::{bucket}/*"]},
    ]}


def same_policy(stored: dict | None, wanted: dict) -> bool:
    """Equal as policies: a server may store a one-item list as a string, or reorder."""
    def items(value) -> list:
        return sorted([value] if isinstance(value, str) else value or [])

    def canonical(policy: dict) -> list:
        return sorted((s.get("Effect"), items(s.get("Action")), items(s.get("Resource")))
                      for s in policy.get("Statement") or ())

    return stored is not None and canonical(stored) == canonical(wanted)


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

    Contract: ``ensure_bucket`` and ``team_credentials`` are idempotent. The keys that
    ``team_credentials(team, bucket, may_delete)`` returns can read, write and list only that
    team's bucket, and delete in it only if ``may_delete`` (a second identity of the team
    holds the keys that cannot). Every ``StoreAdmin`` on the same ``keys``, in any process,
    returns the same keys until ``rotate_team_credentials`` replaces them, after which the
    old keys are refused. Both return only once the server accepts the keys.
    """

    kind: ClassVar[str]
    propagation_timeout: ClassVar[float] = 15.0
    #: New keys claimed this long ago and still not installed were abandoned (their process died).
    install_timeout: ClassVar[float] = 120.0

    def __init__(self, endpoint: str, admin: Credentials, *, keys: TeamKeys, region: str = "us-east-1",
                 cors_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS):
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(f"S3 endpoint must be http(s)://host:port, not {endpoint!r}")
        self.endpoint = endpoint
        self.region = region
        self.cors_origins = tuple(cors_origins)
        self.cors_supported: bool | None = None
        self.keys = keys
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

    @staticmethod
    def identity_name(team: str, may_delete: bool) -> str:
        """The server identity, and its policy, that holds the team's keys of that kind."""
        return f"aiportal-team-{team}" if may_delete else f"aiportal-members-{team}"

    def team_credentials(self, team: str, bucket: str, may_delete: bool = True) -> Credentials:
        self._check_names(team, bucket)
        with self._lock:
            return self._current(self.identity_name(team, may_delete), team_policy(bucket, may_delete), bucket)

    def rotate_team_credentials(self, team: str, bucket: str) -> Credentials:
        """New keys for each identity of the team (the members' ones if they were ever
        issued); returns the keys that may delete."""
        self._check_names(team, bucket)
        with self._lock:
            members = self.identity_name(team, False)
            if self.keys.get(members) is not None:
                self._rotate(members, team_policy(bucket, False), bucket)
            return self._rotate(self.identity_name(team, True), team_policy(bucket, True), bucket)

    # -- per server --------------------------------------------------------------
    @abstractmethod
    def _identity(self, name: str) -> tuple[dict[str, str | None], dict | None]:
        """The keys of identity ``name`` (access key → secret; None where the server never
        reveals secrets) and the policy ``name``, or None where there is none."""

    @abstractmethod
    def _put_policy(self, name: str, policy: dict) -> None:
        """Create or replace the policy ``name``."""

    @abstractmethod
    def _issue(self, name: str, new: Credentials) -> None:
        """Give identity ``name`` (created if needed, bound to the policy ``name``) the keys
        ``new``, then revoke every other key it had: the team is never without a key."""

    # -- keys ----------------------------------------------------------------------
    def _current(self, name: str, policy: dict, bucket: str) -> Credentials:
        """The recorded keys if the server holds them; else new keys, claimed in the
        database first so that of two processes only one issues them."""
        for _ in range(3):
            held = self.keys.get(name)
            if held is not None and not held.installed and held.age() < self.install_timeout:
                if self._await_install(name, held, bucket):
                    return held.credentials
                continue
            if held is not None and held.installed and self._holds(name, policy, held.credentials):
                return held.credentials
            new = Credentials.generate()
            if self.keys.claim(name, held, new):
                return self._install(name, policy, new, bucket)
        raise StorageAdminError(f"{self.kind}: the keys of {name} kept changing while being read")

    def _rotate(self, name: str, policy: dict, bucket: str) -> Credentials:
        held = self.keys.get(name)
        new = Credentials.generate()
        if not self.keys.claim(name, held, new):
            return self._current(name, policy, bucket)  # another process replaced them just now
        creds = self._install(name, policy, new, bucket)
        if held is not None and not self._wait(held.credentials, bucket, accepted=False):
            raise StorageAdminError(f"{self.kind}: revoked keys still accepted")
        return creds

    def _holds(self, name: str, policy: dict, creds: Credentials) -> bool:
        """Whether the server's identity ``name`` has ``creds``; its policy is brought up
        to date on the way (keys stay valid when only the policy changed)."""
        keys, stored = self._identity(name)
        if creds.access_key not in keys or keys[creds.access_key] not in (None, creds.secret_key):
            return False
        if not same_policy(stored, policy):
            self._put_policy(name, policy)
        return True

    def _install(self, name: str, policy: dict, new: Credentials, bucket: str) -> Credentials:
        try:
            self._put_policy(name, policy)
            self._issue(name, new)
            if not self._wait(new, bucket, accepted=True):
                raise StorageAdminError(f"{self.kind}: new keys for bucket {bucket} still refused")
        except BaseException:
            self.keys.forget(name, new)
            raise
        self.keys.installed(name, new)
        return new

    def _await_install(self, name: str, held: HeldKeys, bucket: str) -> bool:
        """Wait while another process installs ``held``: True once the server accepts
        them, False if that process dropped or abandoned its claim, or another replaced it."""
        while held.age() < self.install_timeout:
            if self._probe(held.credentials, bucket) is None:
                return True
            time.sleep(0.2)
            now = self.keys.get(name)
            if now is None or now.credentials != held.credentials:
                return False
        return False

    # -- internals ---------------------------------------------------------------
    @staticmethod
    def _check_names(team: str, bucket: str) -> None:
        problem = team_name_problem(team)
        if problem:
            raise ValueError(problem)
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

    def _wait(self, creds: Credentials, bucket: str, accepted: bool) -> bool:
        """Whether the server came to accept (or refuse) ``creds`` within ``propagation_timeout``."""
        deadline = time.monotonic() + self.propagation_timeout
        while (self._probe(creds, bucket) is None) != accepted:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True
