"""Team buckets and team-scoped keys, against SeaweedFS and MinIO alike."""

from __future__ import annotations

import io
import os

import pytest
import urllib3
from minio.error import S3Error

from portal.storage import Credentials, open_store

ORIGIN = "http://portal.example"


def put(client, bucket, key, data: bytes, **kw):
    client.put_object(bucket, key, io.BytesIO(data), len(data), **kw)


def denied(call) -> str:
    with pytest.raises(S3Error) as info:
        call()
    return info.value.code


def test_ensure_bucket_is_idempotent_and_keeps_objects(store, buckets):
    admin = store.client()
    put(admin, "team-a", "keep.txt", b"kept")
    store.ensure_bucket("team-a")
    store.ensure_bucket("team-a")
    assert admin.get_object("team-a", "keep.txt").read() == b"kept"
    assert {"team-a", "team-b"} <= {b.name for b in admin.list_buckets()}


def test_browser_can_put_and_read_etag_cross_origin(store, buckets):
    http = urllib3.PoolManager()
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
    assert store.team_credentials("a", "team-a") == team_a
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


def test_rotate_replaces_keys(store):
    store.ensure_bucket("team-rot")
    old = store.team_credentials("rot", "team-rot")
    put(store.client_for(old), "team-rot", "f.txt", b"before")
    new = store.rotate_team_credentials("rot", "team-rot")
    assert new.access_key != old.access_key and new.secret_key != old.secret_key
    assert denied(lambda: list(store.client_for(old).list_objects("team-rot"))) in (
        "InvalidAccessKeyId", "AccessDenied")
    assert store.client_for(new).get_object("team-rot", "f.txt").read() == b"before"
    assert store.team_credentials("rot", "team-rot") == new


def test_fresh_admin_view_reuses_team_keys(server, store, team_a):
    again = open_store(server.kind, server.endpoint, server.admin, **server.store_options)
    assert again.team_credentials("a", "team-a") == team_a


@pytest.mark.parametrize("team", ["", "a b", "-x", "a;rm", "ä", "x" * 65])
def test_bad_team_names_are_refused(store, team):
    with pytest.raises(ValueError, match="team name"):
        store.team_credentials(team, "team-a")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown storage kind"):
        open_store("ceph", "http://127.0.0.1:1", Credentials("a", "b"))
