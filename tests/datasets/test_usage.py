"""The usage count against a real bucket, with changes made while it lists."""

from __future__ import annotations

import io
import uuid

from portal.usage import UsageCache


class PausingClient:
    """The real admin client, running ``during`` before it lists the second page."""

    def __init__(self, client, during):
        self.client, self.during, self.calls = client, during, 0

    def list_objects(self, bucket, **kw):
        self.calls += 1
        if self.calls == 2:
            self.during()
        return self.client.list_objects(bucket, **kw)


def test_changes_during_a_count_are_counted_once(ds):
    s3, bucket = ds.admin_s3, f"usage-{uuid.uuid4().hex[:8]}"
    s3.make_bucket(bucket)
    try:
        for key in ("b", "d"):
            s3.put_object(bucket, key, io.BytesIO(b"x" * 10), 10)
        cache = UsageCache()

        def during():  # the listing stands at "b": "a" is behind it, "c" ahead
            for key, size in (("a", 100), ("c", 1000)):
                s3.put_object(bucket, key, io.BytesIO(b"y" * size), size)
                cache.add("t", key, 1, size)

        usage = cache.recount("t", bucket, PausingClient(s3, during), page=1)
        assert (usage.objects, usage.bytes) == (4, 1120)
    finally:
        for obj in s3.list_objects(bucket, recursive=True):
            s3.remove_object(bucket, obj.object_name)
        s3.remove_bucket(bucket)
