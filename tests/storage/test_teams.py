"""Team buckets and team-scoped keys, against SeaweedFS and MinIO alike."""

from __future__ import annotations

import io
import os
import time

import pytest
import urllib3
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from portal.storage import Credentials, open_store
from portal.storage.store import team_policy

ORIGIN = "http://portal.example"


def put(client, bucket, key, data: bytes, **kw):
    client.put_object(bucket, key, io.BytesIO(data), len(data), **kw)


def denied(call) -> str:
    with pytest.raises(S3Error) as info:
        call()
    return info.value.code


def eventually(check, timeout: float = 10.0) -> None:
    """``check()`` passes within ``timeout`` seconds (a policy change reaches SeaweedFS' S3
    gateway through its filer, not at once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, S3Error):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_ensure_bucket_is_idempotent_and_keeps_objects(store, buckets):
    admin = store.client()
    put(admin, "team-a", "keep.txt", b"kept")
    store.ensure_bucket("team-a")
    store.ensure_bucket("team-a")
    assert admin.get_object("team-a", "keep.txt").read() == b"kept"
    assert {"team-a", "team-b"} <= {b.name for b in admin.list_buckets()}


def test_browser_can_put_and_read_etag_cross_origin(store, buckets):
    http = urllib3.PoolManager(timeout=urllib3.Timeout(10))
    url = store.client().presigned_put_object("team-a", "cors/up.bin")
    pre = http.request("OPTIONS", url, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type"})
    assert pre.status in (200, 204)
    assert pre.headers["Access-Control-Allow-Origin"] in ("*", ORIGIN)
    assert "PUT" in pre.headers["Access-Control-Allow-Methods"]
    up = http.request("PUT", url, body=b"x", headers={"Origin": ORIGIN})
    assert up.status == 200
    exposed = up.headers.get("Access-Control-Expose-Headers", "").lower()
    assert "etag" in [h.strip() for h in exposed.split(",")]
    # SeaweedFS takes the bucket's CORS rules; MinIO refuses them and applies its
    # global CORS (all origins, ETag exposed).
    assert store.cors_supported is (store.kind == "seaweedfs")


def test_team_credentials_are_stable_and_distinct(server, store, team_a, team_b):
    assert store.team_credentials("team-a", "team-a") == team_a
    assert len({team_a.access_key, team_b.access_key, server.admin.access_key}) == 3
    assert team_a.secret_key not in repr(team_a)
    assert server.admin.secret_key not in repr(server.admin)


def test_team_reads_writes_and_lists_its_bucket(store, team_a):
    client = store.client_for(team_a)
    put(client, "team-a", "data/one.txt", b"one")
    assert client.get_object("team-a", "data/one.txt").read() == b"one"
    assert [o.object_name for o in client.list_objects("team-a", prefix="data/")] == [
        "data/one.txt"]
    # Large objects go up in parts: multipart must be allowed too.
    big = os.urandom(6 * 1024 * 1024)
    put(client, "team-a", "data/big.bin", big, part_size=5 * 1024 * 1024)
    assert client.get_object("team-a", "data/big.bin").read() == big
    client.remove_object("team-a", "data/one.txt")
    assert [o.object_name for o in client.list_objects("team-a", prefix="data/")] == [
        "data/big.bin"]


def test_team_is_denied_another_teams_bucket(store, team_a, team_b):
    put(store.client(), "team-b", "secret.txt", b"b only")
    client = store.client_for(team_a)
    assert denied(lambda: client.get_object("team-b", "secret.txt").read()) == "AccessDenied"
    assert denied(lambda: list(client.list_objects("team-b"))) == "AccessDenied"
    assert denied(lambda: put(client, "team-b", "x.txt", b"x")) == "AccessDenied"
    assert denied(lambda: client.remove_object("team-b", "secret.txt")) == "AccessDenied"
    assert store.client().get_object("team-b", "secret.txt").read() == b"b only"


def test_team_list_buckets_shows_only_its_own(store, team_a, team_b):
    # Both servers filter ListBuckets by the caller's permissions.
    assert [b.name for b in store.client_for(team_a).list_buckets()] == ["team-a"]
    assert [b.name for b in store.client_for(team_b).list_buckets()] == ["team-b"]


def test_team_cannot_create_buckets(store, team_a):
    code = denied(lambda: store.client_for(team_a).make_bucket("team-a-extra"))
    assert code == "AccessDenied"


def test_members_keys_write_but_cannot_delete(store, buckets, team_a):
    members = store.team_credentials("team-a", "team-a", may_delete=False)
    assert members not in (team_a, store.team_credentials("team-a", "team-a"))
    assert store.team_credentials("team-a", "team-a", may_delete=False) == members
    client = store.client_for(members)
    put(client, "team-a", "held/x.txt", b"first")
    put(client, "team-a", "held/x.txt", b"second")  # S3 policies cannot refuse an overwrite
    big = os.urandom(6 * 1024 * 1024)
    put(client, "team-a", "held/big.bin", big, part_size=5 * 1024 * 1024)
    assert client.get_object("team-a", "held/x.txt").read() == b"second"
    assert {o.object_name for o in client.list_objects("team-a", prefix="held/")} == {
        "held/x.txt", "held/big.bin"}

    assert denied(lambda: client.remove_object("team-a", "held/x.txt")) == "AccessDenied"
    errors = list(client.remove_objects("team-a", [DeleteObject("held/x.txt"), DeleteObject("held/big.bin")]))
    assert {(e.name, e.code) for e in errors} == {("held/x.txt", "AccessDenied"), ("held/big.bin", "AccessDenied")}
    assert {o.object_name for o in client.list_objects("team-a", prefix="held/")} == {
        "held/x.txt", "held/big.bin"}
    put(store.client(), "team-b", "secret.txt", b"b only")
    assert denied(lambda: client.get_object("team-b", "secret.txt").read()) == "AccessDenied"
    assert denied(lambda: put(client, "team-b", "x.txt", b"x")) == "AccessDenied"

    store.client_for(team_a).remove_object("team-a", "held/x.txt")  # the keys that may delete do
    assert [o.object_name for o in client.list_objects("team-a", prefix="held/")] == ["held/big.bin"]


def test_rotate_replaces_keys_of_both_identities(store):
    store.ensure_bucket("team-rot")
    old = store.team_credentials("team-rot", "team-rot")
    old_members = store.team_credentials("team-rot", "team-rot", may_delete=False)
    put(store.client_for(old), "team-rot", "f.txt", b"before")
    new = store.rotate_team_credentials("team-rot", "team-rot")
    assert new.access_key != old.access_key and new.secret_key != old.secret_key
    new_members = store.team_credentials("team-rot", "team-rot", may_delete=False)
    assert new_members not in (old_members, new)
    for gone in (store.client_for(old), store.client_for(old_members)):
        assert denied(lambda c=gone: list(c.list_objects("team-rot"))) in ("InvalidAccessKeyId", "AccessDenied")
    assert store.client_for(new).get_object("team-rot", "f.txt").read() == b"before"
    assert store.client_for(new_members).get_object("team-rot", "f.txt").read() == b"before"
    assert store.team_credentials("team-rot", "team-rot") == new
    assert denied(lambda: store.client_for(new_members).remove_object("team-rot", "f.txt")) == "AccessDenied"


def test_a_changed_policy_is_restored_with_the_same_keys(store):
    store.ensure_bucket("team-pol")
    creds = store.team_credentials("team-pol", "team-pol")
    name = store.identity_name("team-pol", True)
    store._put_policy(name, team_policy("team-b", True))  # as an operator's mistake would
    client = store.client_for(creds)
    eventually(lambda: denied(lambda: put(client, "team-pol", "x.txt", b"x")) == "AccessDenied")
    assert store.team_credentials("team-pol", "team-pol") == creds
    eventually(lambda: put(client, "team-pol", "x.txt", b"x"))
    client.remove_object("team-pol", "x.txt")


def test_fresh_admin_view_reuses_team_keys(server, store, keys, team_a):
    again = open_store(server.kind, server.endpoint, server.admin, keys=keys, **server.store_options)
    assert again.team_credentials("team-a", "team-a") == team_a


@pytest.mark.parametrize("team", ["", "a b", "-x", "a;rm", "ä", "x" * 65])
def test_bad_team_names_are_refused(store, team):
    with pytest.raises(ValueError, match="team name"):
        store.team_credentials(team, "team-a")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown storage kind"):
        open_store("ceph", "http://127.0.0.1:1", Credentials("a", "b"), keys=None)
