"""Team storage on S3: local servers (SeaweedFS, MinIO) and team-scoped keys.

``open_store(kind, endpoint, admin, keys=…, **options)`` gives the admin view of a server;
everything in it is plain S3 except the team identities, which each server's adapter
module (``seaweedfs.py``, ``minio.py``) creates in its own way. The team keys it hands
out are recorded in the portal database (``keys.py``), shared by all the portal's processes.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..datadir import DataDir
from ..db import Database
from ..ports import free_port
from .credentials import Credentials
from .keys import TeamKeys
from .minio import MinioServer, MinioStore
from .seaweedfs import SeaweedServer, SeaweedStore
from .server import StorageServerError
from .store import StorageAdminError, StoreAdmin

STORES: dict[str, type[StoreAdmin]] = {"seaweedfs": SeaweedStore, "minio": MinioStore}
SERVERS = {"seaweedfs": SeaweedServer, "minio": MinioServer}


def open_store(kind: str, endpoint: str, admin: Credentials, *, keys: TeamKeys, **options) -> StoreAdmin:
    """The ``StoreAdmin`` for a server of ``kind`` ("seaweedfs" or "minio").

    ``options`` are the adapter's: SeaweedFS needs ``master`` and ``filer``
    (``host:port[.grpcPort]``, for ``weed shell``). A local server's ``store_options``
    gives them.
    """
    try:
        cls = STORES[kind]
    except KeyError:
        raise ValueError(f"unknown storage kind {kind!r}; known: {', '.join(STORES)}") from None
    return cls(endpoint, admin, keys=keys, **options)


def store_from_config(config, data_dir, db: Database | None = None) -> StoreAdmin:
    """The admin view of the configured store, from any process of the portal.

    An embedded server's admin keys and ports are read from its data directory; an
    external server's admin keys come from AIPORTAL_S3_ACCESS_KEY/AIPORTAL_S3_SECRET_KEY
    (a Kubernetes Secret in the chart), never from portal.yaml, and are never stored. Team
    keys are recorded in the portal database: ``db``, else the one ``database.url`` names.
    """
    keys = TeamKeys(db or Database(DataDir(data_dir).portal_db_url(config.database_url)))
    cors = {"cors_origins": tuple(config.raw["storage"]["cors_origins"])}
    if config.storage_endpoint is None:
        return SERVERS[config.storage_type](Path(data_dir) / "s3", config.storage_port).open_store(keys, **cors)
    try:
        admin = Credentials(os.environ["AIPORTAL_S3_ACCESS_KEY"], os.environ["AIPORTAL_S3_SECRET_KEY"])
    except KeyError as e:
        raise StorageAdminError(f"{e.args[0]} must be set for storage.endpoint "
                                f"{config.storage_endpoint}") from None
    options = config.raw["storage"]["seaweedfs"] if config.storage_type == "seaweedfs" else {}
    return open_store(config.storage_type, config.storage_endpoint, admin, keys=keys, **options, **cors)


__all__ = [
    "Credentials", "MinioServer", "MinioStore", "SeaweedServer", "SeaweedStore", "StoreAdmin",
    "StorageAdminError", "StorageServerError", "TeamKeys", "free_port", "open_store", "store_from_config",
]
