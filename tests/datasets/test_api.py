"""The datasets API against SeaweedFS and MinIO: pages, multipart uploads, links, quota, audit."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.datasets import flow
from tests.datasets.conftest import QUOTA, open_uploads, put, unique
from tests.http import HTTP_TIMEOUT

MiB = 2**20


def test_listing_pages_through_2500_objects(ds):
    folder = unique("many/")
    files = {f"{folder}obj-{i:05d}.dat" for i in range(2500)}
    subfolders = {f"{folder}sub-{j}/" for j in range(3)}
    with ThreadPoolExecutor(10) as pool:  # the size of the client's connection pool
        list(pool.map(lambda k: put(ds, k, b"x"), [*files, *(f"{d}inner.dat" for d in subfolders)]))
    put(ds, folder, b"")  # the folder's own marker: not an entry of its listing
    bob = ds.api("bob")
    seen, pages, start_after = [], 0, ""
    while True:
        r = bob.get(f"{bob.base}/datasets", params={"prefix": folder, "start_after": start_after, "limit": 1000})
        assert r.status_code == 200, r.text
        page = r.json()
        keys = [i["key"] for i in page["items"]]
        assert 0 < len(keys) <= 1000 and keys == sorted(keys)
        seen += keys
        pages += 1
        if page["next"] is None:
            break
        start_after = page["next"]
    assert pages >= 3
    assert len(seen) == len(set(seen)) == 2503
    assert set(seen) == files | subfolders
    first = bob.get(f"{bob.base}/datasets", params={"prefix": folder, "limit": 2}).json()
    keys = [i["key"] for i in first["items"]]  # the marker may take one of the two places
    assert 1 <= len(keys) <= 2 and keys == sorted(files)[:len(keys)] and first["next"]
    item = first["items"][0]
    assert item["size"] == 1 and item["is_prefix"] is False and item["last_modified"].endswith("Z")
    sub = bob.get(f"{bob.base}/datasets", params={"prefix": folder + "sub-"}).json()
    assert [(i["key"], i["is_prefix"], i["size"]) for i in sub["items"]] == [
        (d, True, None) for d in sorted(subfolders)]


def test_multipart_upload_then_download_is_identical(ds):
    bob = ds.api("bob")
    key = unique("scans/ct 001 é.nii")
    data = os.urandom(2 * 8 * MiB + 12345)
    up = flow.start(bob, key, len(data))
    assert up["part_size"] == 8 * MiB and [p["number"] for p in up["parts"]] == [1, 2, 3]
    assert all(ds.portal.config.storage_port and str(ds.store.endpoint) in p["url"] for p in up["parts"])
    flow.put_parts(up, data)
    r = flow.complete(bob, up)
    assert r.status_code == 200 and r.json() == {"key": key, "size": len(data)}
    assert open_uploads(ds, key) == []
    got = flow.download(bob, key)
    assert got.status_code == 200
    assert flow.sha256(got.content) == flow.sha256(data)
    assert "filename*=UTF-8''ct%20001%20%C3%A9.nii" in got.headers["Content-Disposition"]
    assert got.headers["Content-Disposition"].startswith("attachment")


def test_empty_file_uploads_as_one_part(ds):
    bob = ds.api("bob")
    key = unique("empty.txt")
    assert flow.upload(bob, key, b"") == {"key": key, "size": 0}
    assert flow.download(bob, key).content == b""


def test_complete_names_missing_and_wrong_parts_and_a_part_can_be_sent_again(ds):
    bob = ds.api("bob")
    key = unique("retry.bin")
    data = os.urandom(8 * MiB + 10)
    up = flow.start(bob, key, len(data))
    flow.put_part(up, data, 1)
    r = flow.complete(bob, up)
    assert r.status_code == 400 and "part(s) 2 of 2 not received" in r.json()["message"]
    flow.put_part(up, data, 2, body=b"short")  # a part that went wrong
    r = flow.complete(bob, up)
    assert r.status_code == 400 and r.json()["message"].startswith("part 2 has 5 bytes, 10 expected")
    flow.put_part(up, data, 2)  # the retry replaces it
    assert flow.complete(bob, up).status_code == 200
    assert flow.sha256(flow.download(bob, key).content) == flow.sha256(data)


def test_complete_assembles_the_parts_whose_etags_the_client_got(ds):
    bob = ds.api("bob")
    key = unique("etags.bin")
    data = os.urandom(8 * MiB + 10)
    up = flow.start(bob, key, len(data))
    first = flow.put_part(up, data, 1)
    flow.put_part(up, data, 2, body=b"X" * 10)  # right size, wrong bytes: sent again below
    second = flow.put_part(up, data, 2)
    r = flow.complete(bob, up, {1: first, 2: '"0123456789abcdef0123456789abcdef"'})
    assert r.status_code == 400 and r.json()["message"].startswith("part 2: no part with ETag")
    r = flow.complete(bob, up, {1: first, 2: second})
    assert r.status_code == 200, r.text
    assert flow.sha256(flow.download(bob, key).content) == flow.sha256(data)


def test_abort_leaves_no_parts_behind(ds):
    bob = ds.api("bob")
    key = unique("aborted.bin")
    data = os.urandom(8 * MiB + 1)
    up = flow.start(bob, key, len(data))
    flow.put_part(up, data, 1)
    assert [u.object_name for u in open_uploads(ds, key)] == [key]
    r = bob.delete(f"{bob.base}/uploads/{up['id']}")
    assert r.status_code == 200, r.text
    assert open_uploads(ds, key) == []
    assert flow.complete(bob, up).status_code == 404
    assert bob.delete(f"{bob.base}/uploads/{up['id']}").status_code == 404
    assert bob.get(f"{bob.base}/datasets", params={"prefix": key}).json()["items"] == []


def test_an_upload_dropped_by_s3_is_404_and_forgotten(ds):
    bob = ds.api("bob")
    key = unique("dropped.bin")
    up = flow.start(bob, key, 1)
    [s3_upload] = open_uploads(ds, key)
    ds.admin_s3._abort_multipart_upload("team-a", key, s3_upload.upload_id)  # behind the portal's back
    r = flow.complete(bob, up)
    assert r.status_code == 404 and r.json()["message"].endswith("no longer exists in storage")
    assert flow.complete(bob, up).json()["message"].startswith("no upload")


def set_quota(ds, nbytes: int) -> None:
    """Only operators set a team's limits."""
    admin = ds.api("admin")
    r = admin.patch(f"{admin.base.rsplit('/teams/', 1)[0]}/teams/team-a", json={"quota": {"storage": nbytes}})
    assert r.status_code == 200, r.text


def usage(ds) -> dict:
    bob = ds.api("bob")
    return bob.get(f"{bob.base}/usage").json()


def test_quota_refuses_before_any_byte_moves(ds):
    bob, erin = ds.api("bob"), ds.api("erin")
    folder = unique("")
    used = usage(ds)["bytes"]
    set_quota(ds, used + MiB)
    try:
        r = bob.post(f"{bob.base}/uploads", json={"key": folder + "big.bin", "size": 2 * MiB})
        assert r.status_code == 413, r.text
        message = r.json()["message"]
        assert "would exceed the storage quota of team 'team-a'" in message and "2.0 MiB" in message
        assert open_uploads(ds, folder + "big.bin") == []
        first = flow.start(bob, folder + "a.bin", 600 * 1024)  # fits, and holds its 600 KiB
        r = erin.post(f"{erin.base}/uploads", json={"key": folder + "b.bin", "size": 600 * 1024})
        assert r.status_code == 413 and "held by uploads in progress" in r.json()["message"]
        flow.put_parts(first, os.urandom(600 * 1024))
        assert flow.complete(bob, first).status_code == 200
        assert usage(ds)["bytes"] >= used + 600 * 1024  # counted at once, not at the next recount
        r = bob.post(f"{bob.base}/uploads", json={"key": folder + "b.bin", "size": 600 * 1024})
        assert r.status_code == 413
    finally:
        set_quota(ds, QUOTA)


def test_usage_is_recounted_in_the_background(ds):
    folder = unique("")
    before = next_count(ds, usage(ds))  # one that began after the earlier tests' changes
    put(ds, folder + "outside.bin", b"z" * 1000)  # written by a notebook, not through the portal
    now = next_count(ds, next_count(ds, before))  # the first may have begun before the put
    assert (now["objects"], now["bytes"]) == (before["objects"] + 1, before["bytes"] + 1000)
    assert now["quota"] == QUOTA


def next_count(ds, seen: dict) -> dict:
    """The first usage counted after ``seen``."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = usage(ds)
        if now["computed_at"] != seen["computed_at"]:
            return now
        time.sleep(0.2)
    raise AssertionError(f"usage was not recounted within 20 s of {seen['computed_at']}")


def test_share_link_works_logged_out_until_it_expires(ds):
    bob = ds.api("bob")
    key = unique("report.pdf")
    flow.upload(bob, key, b"%PDF shared")
    r = bob.post(f"{bob.base}/shares", json={"key": key, "expires_in": 2})
    assert r.status_code == 201, r.text
    share = r.json()
    assert share["expires_at"].endswith("Z")
    got = requests.get(share["url"], timeout=HTTP_TIMEOUT)  # no token, no cookie
    assert got.status_code == 200 and got.content == b"%PDF shared"
    assert 'filename="report.pdf"' in got.headers["Content-Disposition"]
    time.sleep(3.5)
    expired = requests.get(share["url"], timeout=HTTP_TIMEOUT)  # a page saying so (tests/datasets/test_shares.py)
    assert expired.status_code == 410 and expired.headers["Content-Type"].startswith("text/html")
    week = bob.post(f"{bob.base}/shares", json={"key": key, "expires_in": 7 * 24 * 3600})
    assert week.status_code == 201


@pytest.mark.parametrize("expires_in", [0, -5, 7 * 24 * 3600 + 1, "60", 1.5, True, None])
def test_share_expiry_is_one_second_to_seven_days(ds, expires_in):
    bob = ds.api("bob")
    r = bob.post(f"{bob.base}/shares", json={"key": "anything.txt", "expires_in": expires_in})
    assert r.status_code == 400 and r.json()["message"].startswith("expires_in:")


def test_missing_objects_are_404(ds):
    bob = ds.api("bob")
    key = unique("nothing at 100%.txt")  # a "%" in the message stays one "%"
    for r in (bob.get(f"{bob.base}/download", params={"key": key}, allow_redirects=False),
              bob.post(f"{bob.base}/shares", json={"key": key, "expires_in": 60}),
              bob.delete(f"{bob.base}/datasets", params={"key": key})):
        assert r.status_code == 404 and r.json()["message"] == f"no object {key!r}"


def test_folders_and_deletes(ds):
    bob = ds.api("bob")
    folder = unique("results")
    r = bob.post(f"{bob.base}/folders", json={"key": folder})
    assert r.status_code == 201 and r.json() == {"key": folder + "/"}
    parent = folder.split("/")[0] + "/"
    listing = bob.get(f"{bob.base}/datasets", params={"prefix": parent}).json()["items"]
    assert [(i["key"], i["is_prefix"]) for i in listing] == [(folder + "/", True)]
    flow.upload(bob, folder + "/model.pt", b"weights")
    r = bob.delete(f"{bob.base}/datasets", params={"key": folder + "/"})
    assert r.status_code == 409 and "not empty" in r.json()["message"] and "recursive=true" in r.json()["message"]
    assert bob.delete(f"{bob.base}/datasets", params={"key": folder + "/model.pt"}).status_code == 200
    assert bob.delete(f"{bob.base}/datasets", params={"key": folder + "/"}).status_code == 200
    assert bob.get(f"{bob.base}/datasets", params={"prefix": parent}).json()["items"] == []


def test_a_folder_is_deleted_with_everything_in_it_when_asked(ds):
    bob, alice = ds.api("bob"), ds.api("alice")
    top = unique("")
    folder = top + "run/"
    keys = [f"{folder}{i:04d}.bin" for i in range(1203)] + [folder + "deep/er/x.bin"]  # more than one batch
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: put(ds, k, b"abc"), keys))
    put(ds, top + "run-sibling.bin", b"keep")  # shares the prefix "run" but not the folder
    for value in ("yes", "1"):
        r = bob.delete(f"{bob.base}/datasets", params={"key": folder, "recursive": value})
        assert r.status_code == 400 and r.json()["message"] == "recursive: must be true or false"
    before = next_count(ds, next_count(ds, usage(ds)))  # a count that began after the puts
    r = bob.delete(f"{bob.base}/datasets", params={"key": folder, "recursive": "true"})
    assert r.status_code == 200 and r.json() == {"key": folder, "objects": 1204, "bytes": 3 * 1204}
    assert [o.object_name for o in ds.admin_s3.list_objects("team-a", prefix=top, recursive=True)] == \
        [top + "run-sibling.bin"]
    page = bob.get(f"{bob.base}/datasets", params={"prefix": top}).json()["items"]
    assert [i["key"] for i in page] == [top + "run-sibling.bin"]  # no empty folder lingers either
    after = next_count(ds, next_count(ds, usage(ds)))  # a count that began after the delete
    assert (after["objects"], after["bytes"]) == (before["objects"] - 1204, before["bytes"] - 3 * 1204)
    events = [e for e in alice.get(f"{alice.base}/audit").json()["items"] if e["key"] == folder]
    assert [(e["action"], e["user"], e["detail"]) for e in events] == \
        [("delete", "bob", {"objects": 1204, "size": 3612})]
    r = bob.delete(f"{bob.base}/datasets", params={"key": folder, "recursive": "true"})
    assert r.status_code == 404 and r.json()["message"] == f"no folder {folder!r}"


def test_audit_log_records_who_did_what_when(ds):
    bob, alice = ds.api("bob"), ds.api("alice")
    key = unique("audited.txt")
    flow.upload(bob, key, b"x")
    bob.post(f"{bob.base}/shares", json={"key": key, "expires_in": 60})
    bob.delete(f"{bob.base}/datasets", params={"key": key})
    events = [e for e in alice.get(f"{alice.base}/audit").json()["items"] if e["key"] == key]
    assert [(e["action"], e["user"]) for e in events] == [("delete", "bob"), ("share", "bob"), ("upload", "bob")]
    assert events[2]["detail"] == {"size": 1} and "expires_at" in events[1]["detail"]
    assert all(e["at"].endswith("Z") for e in events)
    assert bob.get(f"{bob.base}/audit").status_code == 403  # team admins only
