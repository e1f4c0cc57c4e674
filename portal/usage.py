"""How much each team stores: objects and bytes, counted in the background and cached.

Counting means listing the whole bucket, which must never happen on a request path, so
the service recounts every team every ``storage.usage_interval`` seconds. Uploads and
deletes made through the portal adjust the cached figures at once, so the quota check
that runs before an upload sees them without waiting for the next count. A change made
while a count runs is added to that count's result: an object the listing had already
seen is then counted twice until the next count, which errs on the side of the quota.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime

from minio import Minio

from .db import iso, utcnow


@dataclass(frozen=True)
class Usage:
    objects: int
    bytes: int
    computed_at: datetime

    def as_json(self) -> dict:
        return {"objects": self.objects, "bytes": self.bytes, "computed_at": iso(self.computed_at)}


class UsageCache:
    """Per-team usage; ``None`` until the first count of a team has finished."""

    def __init__(self):
        self._usage: dict[str, Usage] = {}
        self._during_count: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def get(self, team: str) -> Usage | None:
        with self._lock:
            return self._usage.get(team)

    def add(self, team: str, objects: int, nbytes: int) -> None:
        """Apply a change made through the portal (negative for deletes)."""
        with self._lock:
            if team in self._usage:
                u = self._usage[team]
                self._usage[team] = replace(u, objects=u.objects + objects, bytes=u.bytes + nbytes)
            if team in self._during_count:
                self._during_count[team][0] += objects
                self._during_count[team][1] += nbytes

    def recount(self, team: str, bucket: str, client: Minio) -> Usage:
        """List the whole bucket (blocking: run it in a thread) and cache the result."""
        with self._lock:
            self._during_count[team] = [0, 0]
        objects = nbytes = 0
        try:
            for obj in client.list_objects(bucket, recursive=True):
                objects += 1
                nbytes += obj.size or 0
        finally:
            with self._lock:
                extra_objects, extra_bytes = self._during_count.pop(team)
        usage = Usage(objects + extra_objects, nbytes + extra_bytes, utcnow())
        with self._lock:
            self._usage[team] = usage
        return usage
