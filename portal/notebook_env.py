"""The team's S3 variables for its servers: the hub's `Spawner.team_env`.

Apart from `portal.storage` (which imports the minio SDK and SQLAlchemy) until the first
spawn needs it, so the hub's config, which JupyterHub reads before it can answer, stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .names import bucket_name

if TYPE_CHECKING:
    from .storage import Credentials, StoreAdmin


def notebook_env(creds: Credentials, bucket: str, endpoint: str, region: str) -> dict[str, str]:
    """What boto3, s3fs and the minio SDK read to open the team's bucket."""
    return {"AWS_ACCESS_KEY_ID": creds.access_key, "AWS_SECRET_ACCESS_KEY": creds.secret_key,
            "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": region, "S3_BUCKET": bucket}


class NotebookEnv:
    """(team, may_delete) → the team's S3 variables, never the admin keys.

    Keys that cannot delete objects when ``may_delete`` is false (a member of a team whose
    delete policy is "admins"). They are read at every spawn from the portal database, where
    the service reads the same ones, so servers started after a rotation get the new keys.
    The store is opened at the first spawn, when the launcher has started it (the portal
    service passes its own).
    """

    def __init__(self, config, data_dir: str | Path, store: StoreAdmin | None = None):
        self.config = config
        self.data_dir = data_dir
        self._store = store

    def __call__(self, team: str, may_delete: bool) -> dict[str, str]:
        if self._store is None:
            from .storage import store_from_config

            self._store = store_from_config(self.config, self.data_dir)
        bucket = bucket_name(team)
        creds = self._store.team_credentials(team, bucket, may_delete=may_delete)
        endpoint = self.config.storage_public_endpoint or self._store.endpoint
        return notebook_env(creds, bucket, endpoint, self._store.region)
