"""delete_policy: with ``admins`` (team-b), a member may neither delete nor replace objects,
through a delete, an upload over an existing key or a new folder; team admins may."""

from __future__ import annotations

import io

from tests.datasets import flow
from tests.datasets.conftest import open_uploads, put, unique


def replace_refused(key: str) -> dict:
    return {"status": 409, "message": f"{key!r} exists; only team admins may replace objects in team 'team-b' "
                                      "(its delete_policy)"}


def content(ds, key: str, bucket: str = "team-b") -> bytes:
    return ds.admin_s3.get_object(bucket, key).read()


def test_recursive_delete_follows_the_delete_policy(ds):
    carol = ds.api("carol", "team-b")
    folder = unique("kept/")
    put(ds, folder + "a.csv", b"a", bucket="team-b")
    r = carol.delete(f"{carol.base}/datasets", params={"key": folder, "recursive": "true"})
    assert r.status_code == 403 and "delete_policy" in r.json()["message"]
    assert ds.admin_s3.stat_object("team-b", folder + "a.csv").size == 1


def test_delete_policy_admins_only(ds):
    carol, dan = ds.api("carol", "team-b"), ds.api("dan", "team-b")
    key = unique("protected.csv")
    flow.upload(carol, key, b"a,b")
    r = carol.delete(f"{carol.base}/datasets", params={"key": key})
    assert r.status_code == 403 and "delete_policy" in r.json()["message"]
    assert ds.admin_s3.stat_object("team-b", key).size == 3
    assert dan.delete(f"{dan.base}/datasets", params={"key": key}).status_code == 200


def test_a_member_who_may_not_delete_cannot_start_an_upload_over_an_object(ds):
    carol, dan = ds.api("carol", "team-b"), ds.api("dan", "team-b")
    key = unique("results.csv")
    put(ds, key, b"original", bucket="team-b")
    r = carol.post(f"{carol.base}/uploads", json={"key": key, "size": 5})
    assert r.json() == replace_refused(key) and r.status_code == 409
    assert open_uploads(ds, key, "team-b") == []  # refused before S3 was asked for anything
    assert flow.upload(dan, key, b"by an admin") == {"key": key, "size": 11}  # admins may replace
    assert content(ds, key) == b"by an admin"


def test_an_object_that_appears_during_the_upload_is_not_replaced(ds):
    carol = ds.api("carol", "team-b")
    key = unique("race.csv")
    up = flow.start(carol, key, 4)
    flow.put_parts(up, b"mine")
    put(ds, key, b"theirs", bucket="team-b")  # written meanwhile, e.g. by a notebook
    r = flow.complete(carol, up)
    assert r.json() == replace_refused(key) and r.status_code == 409
    assert content(ds, key) == b"theirs"
    assert carol.delete(f"{carol.base}/uploads/{up['id']}").status_code == 200


def test_with_delete_policy_members_an_upload_replaces(ds):
    bob = ds.api("bob")
    key = unique("notes.txt")
    flow.upload(bob, key, b"first")
    flow.upload(bob, key, b"second")
    assert content(ds, key, "team-a") == b"second"


def test_making_a_folder_never_replaces_an_object(ds):
    """A notebook may store bytes under a key ending in '/' (MinIO keeps them; SeaweedFS makes
    the key a directory): no one's new folder replaces what is there."""
    carol, dan, bob = ds.api("carol", "team-b"), ds.api("dan", "team-b"), ds.api("bob")
    for s, bucket in ((carol, "team-b"), (dan, "team-b"), (bob, "team-a")):
        folder = unique("made-by-a-notebook/")
        ds.admin_s3.put_object(bucket, folder, io.BytesIO(b"kept"), 4)
        before = content(ds, folder, bucket)
        r = s.post(f"{s.base}/folders", json={"key": folder.rstrip("/")})
        assert r.status_code == 200 and r.json() == {"key": folder}, r.text  # there already
        assert content(ds, folder, bucket) == before == (b"kept" if ds.kind == "minio" else b"")
        new = unique("new")
        r = s.post(f"{s.base}/folders", json={"key": new})
        assert r.status_code == 201 and r.json() == {"key": new + "/"}, r.text
