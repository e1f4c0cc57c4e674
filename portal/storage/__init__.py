"""Team storage on S3: local servers (SeaweedFS, MinIO) and team-scoped keys.

``open_store(kind, endpoint, admin, **options)`` gives the admin view of a server;
everything in it is plain S3 except the team identities, which each server's adapter
module (``seaweedfs.py``, ``minio.py``) creates in its own way.
"""

from __future__ import annotations

from .credentials import Credentials
from .minio import MinioServer, MinioStore
from .seaweedfs import SeaweedServer, SeaweedStore
from .server import StorageServerError, free_port
from .store import StorageAdminError, StoreAdmin

STORES: dict[str, type[StoreAdmin]] = {"seaweedfs": SeaweedStore, "minio": MinioStore}
SERVERS = {"seaweedfs": SeaweedServer, "minio": MinioServer}


def open_store(kind: str, endpoint: str, admin: Credentials, **options) -> StoreAdmin:
    """The ``StoreAdmin`` for a server of ``kind`` ("seaweedfs" or "minio").

    ``options`` are the adapter's: SeaweedFS needs ``master`` and ``filer``
    (``host:port``, for ``weed shell``); MinIO takes ``keys_file``. A local server's
    ``store_options`` gives them.
    """
    try:
        cls = STORES[kind]
    except KeyError:
        raise ValueError(f"unknown storage kind {kind!r}; known: {', '.join(STORES)}") from None
    return cls(endpoint, admin, **options)


__all__ = [
    "Credentials", "MinioServer", "MinioStore", "SeaweedServer", "SeaweedStore",
    "StoreAdmin", "StorageAdminError", "StorageServerError", "free_port", "open_store",
]
