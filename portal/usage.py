"""How much each team stores: objects and bytes, counted in the background and cached.

Counting means listing the whole bucket, which must never happen on a request path, so
the service recounts every team every ``storage.usage_interval`` seconds. Uploads and
deletes made through the portal adjust the cached figures at once, so the quota check
that runs before an upload sees them without waiting for the next count. A change made
while a count runs is added to that count's result only when the listing, which goes in
key order, has already passed its key; a key ahead of it is listed as it is now. (A change
made while a page is in flight may be missed until the next count.)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import islice

from minio import Minio

from .db import iso, utcnow


@dataclass(frozen=True)
class Usage:
    objects: int
    bytes: int
    computed_at: datetime

    def as_json(self) -> dict:
        return {"objects": self.objects, "bytes": self.bytes, "computed_at": iso(self.computed_at)}


@dataclass
class _Count:
    """A recount in progress: totals so far and the last key listed."""

    objects: int = 0
    bytes: int = 0
    cursor: str = ""


class UsageCache:
    """Per-team usage; ``None`` until the first count of a team has finished."""

    def __init__(self):
        self._usage: dict[str, Usage] = {}
        self._counting: dict[str, _Count] = {}
        self._lock = threading.Lock()

    def get(self, team: str) -> Usage | None:
        with self._lock:
            return self._usage.get(team)

    def add(self, team: str, key: str, objects: int, nbytes: int) -> None:
        """Apply a change made through the portal to ``key`` (negative for deletes)."""
        with self._lock:
            if team in self._usage:
                u = self._usage[team]
                self._usage[team] = replace(u, objects=u.objects + objects, bytes=u.bytes + nbytes)
            count = self._counting.get(team)
            if count is not None and key <= count.cursor:
                # The listing (in key order) has passed this key and will miss the change;
                # a key ahead of it will be listed as it is now, so adding it too would count it twice.
                count.objects += objects
                count.bytes += nbytes

    def recount(self, team: str, bucket: str, client: Minio, page: int = 1000) -> Usage:
        """List the whole bucket (blocking: run it in a thread) and cache the result.

        It lists one S3 page (1000 keys) per request and takes no more from it, so the cursor
        is the last key of a snapshot: changes ahead of it are seen by a later request.
        """
        count = _Count()
        with self._lock:
            self._counting[team] = count
        try:
            while True:
                objects = list(islice(client.list_objects(bucket, recursive=True, start_after=count.cursor), page))
                with self._lock:
                    for obj in objects:
                        count.objects += 1
                        count.bytes += obj.size or 0
                    if objects:
                        count.cursor = objects[-1].object_name
                if len(objects) < page:
                    break
        finally:
            with self._lock:
                self._counting.pop(team, None)
        usage = Usage(count.objects, count.bytes, utcnow())
        with self._lock:
            self._usage[team] = usage
        return usage
