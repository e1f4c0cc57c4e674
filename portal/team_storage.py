"""A team's bucket and keys: made when a team is created, at start-up, and at the first use
of a group made on the hub's admin page; revoked (and on request emptied) when it is deleted.

One function makes them (``ensure``), whoever asks: the start-up seeding, ``POST /teams``
and a first request or recount for a hub-made group all go through it, so a team the
portal shows always has its bucket (never a ``NoSuchBucket`` error) and its keys.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from itertools import islice

from minio.deleteobjects import DeleteObject

from .names import bucket_name, is_team_name

log = logging.getLogger(__name__)


class TeamStorage:
    """Ensures each team's storage once per process; ``store`` is a ``StoreAdmin``."""

    def __init__(self, store, usage=None):
        self.store = store
        self.usage = usage  # a UsageCache: a bucket made here is counted at once (it is empty)
        self.ready: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def ensure(self, team: str) -> None:
        """The team's bucket and keys exist when this returns (idempotent; cheap once done)."""
        if team in self.ready or not is_team_name(team):
            return
        async with self._locks[team]:
            if team in self.ready:
                return
            bucket = bucket_name(team)
            existed = await asyncio.to_thread(self.store.client().bucket_exists, bucket)
            await asyncio.to_thread(self.store.ensure_bucket, bucket)
            await asyncio.to_thread(self.store.team_credentials, team, bucket)
            if not existed and self.usage is not None:  # one empty listing: uploads may start at once
                await asyncio.to_thread(self.usage.recount, team, bucket, self.store.client())
            self.ready.add(team)

    async def retire(self, team: str, delete_data: bool = False) -> int:
        """A deleted team: its keys are replaced by ones nobody holds (the old ones are refused
        at once, wherever a former member copied them); with ``delete_data`` its objects and
        bucket go too. Returns the number of objects deleted."""
        self.ready.discard(team)
        bucket = bucket_name(team)
        client = self.store.client()
        if not await asyncio.to_thread(client.bucket_exists, bucket):
            return 0
        await asyncio.to_thread(self.store.rotate_team_credentials, team, bucket)
        if not delete_data:
            return 0
        return await asyncio.to_thread(_empty_and_remove, client, bucket)


def _empty_and_remove(client, bucket: str) -> int:
    """Delete every object (one listing, one DeleteObjects request per 1000 keys), then the bucket."""
    deleted = 0
    listing = client.list_objects(bucket, recursive=True)
    while batch := [DeleteObject(o.object_name) for o in islice(listing, 1000)]:
        errors = list(client.remove_objects(bucket, batch))
        if errors:
            raise RuntimeError(f"could not delete {errors[0].name} from bucket {bucket}: {errors[0].message}")
        deleted += len(batch)
    client.remove_bucket(bucket)
    log.info("deleted bucket %s (%d objects)", bucket, deleted)
    return deleted


async def provision(settings, team: str, properties: dict) -> None:
    """What a team has besides its hub group: a bucket and keys, and on Kubernetes its
    namespace, made to match its properties (both idempotent)."""
    await settings["team_storage"].ensure(team)
    if settings.get("namespaces") is not None:
        await settings["namespaces"].apply(team, properties)
