"""Unfinished uploads cannot block a team's storage: bounded per member, aborted when idle,
listed for their owner and for the team's admins, and abortable by those admins.

erin and frank are team-a members that only these tests use, so what they hold is theirs.
Expiry is tested by dating uploads back in the portal's database instead of waiting an hour;
the background task runs every second here.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

import pytest

from portal.db import Upload, utcnow
from portal.uploads import IDLE_TTL, MEMBER_OPEN_UPLOADS, UPLOAD_TTL
from tests.datasets import flow
from tests.datasets.conftest import QUOTA, open_uploads, unique

GiB = 2**30
MiB = 2**20


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def listed(s) -> dict[str, dict]:
    """Every upload ``s`` sees, by id (all pages)."""
    items, url = {}, f"{s.base}/uploads?limit=1000"
    while url:
        r = s.get(url)
        assert r.status_code == 200, r.text
        items.update({i["id"]: i for i in r.json()["items"]})
        following = r.json()["_pagination"]["next"]
        url = following and f"{s.base.split('/services/')[0]}{following['url']}"
    return items


@pytest.fixture
def started():
    """Uploads a test starts, aborted by their owner at its end whatever happened."""
    uploads: list[tuple] = []
    yield uploads
    for s, upload in uploads:
        s.delete(f"{s.base}/uploads/{upload['id']}")


def start(started, s, size: int, name: str = "held.bin") -> dict:
    upload = flow.start(s, unique(name), size)
    started.append((s, upload))
    return upload


def test_one_member_holds_at_most_half_the_quota_beside_a_single_upload(ds, started):
    erin, bob = ds.api("erin"), ds.api("bob")
    assert QUOTA == 10 * GiB  # so half of it is 5 GiB
    big = start(started, erin, 6 * GiB)  # alone, one upload may be larger than half
    r = erin.post(f"{erin.base}/uploads", json={"key": unique("more.bin"), "size": 1})
    assert r.status_code == 413, r.text
    message = r.json()["message"]
    assert "erin holds 6.0 GiB in 1 unfinished upload(s) in team 'team-a'" in message
    assert "at most 5.0 GiB (50% of its storage quota)" in message
    assert "complete or abort them (GET /teams/team-a/uploads lists them)" in message
    start(started, bob, 2 * GiB)  # another member is not held back by erin's uploads
    assert erin.delete(f"{erin.base}/uploads/{big['id']}").status_code == 200
    start(started, erin, 3 * GiB)
    start(started, erin, 2 * GiB)  # 5 GiB together: the limit itself
    r = erin.post(f"{erin.base}/uploads", json={"key": unique("one-byte-more.bin"), "size": 1})
    assert r.status_code == 413 and "erin holds 5.0 GiB in 2 unfinished upload(s)" in r.json()["message"]


def test_one_member_has_a_bounded_number_of_unfinished_uploads(ds, started):
    frank, erin = ds.api("frank"), ds.api("erin")
    for _ in range(MEMBER_OPEN_UPLOADS):
        start(started, frank, 0, "empty.txt")  # holds no bytes, but a row and an S3 upload
    r = frank.post(f"{frank.base}/uploads", json={"key": unique("one-more.txt"), "size": 0})
    assert r.status_code == 409, r.text
    assert r.json()["message"].startswith(
        f"frank has {MEMBER_OPEN_UPLOADS} unfinished uploads in team 'team-a', the most one member may have: "
        "complete or abort them")
    start(started, erin, 0, "other.txt")  # per member, not per team


def date_back(ds, upload_id: str, age: timedelta, expires_at: datetime | None = None) -> None:
    with ds.db.transaction() as s:
        row = s.get(Upload, upload_id)
        row.created_at = utcnow() - age
        row.expires_at = expires_at or row.created_at + UPLOAD_TTL


def wait_until_gone(s, upload_id: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while upload_id in listed(s):
        assert time.monotonic() < deadline, f"upload {upload_id} was not aborted within {seconds} s"
        time.sleep(0.5)


def test_an_upload_without_part_activity_is_aborted_one_that_receives_parts_is_kept(ds, started):
    bob = ds.api("bob")
    data = os.urandom(8 * MiB + 1)
    idle, active = start(started, bob, 1, "idle.bin"), start(started, bob, len(data), "active.bin")
    flow.put_part(active, data, 1)  # a part now: activity, though the upload is old
    for upload in (idle, active):
        date_back(ds, upload["id"], IDLE_TTL + timedelta(minutes=5))
    wait_until_gone(bob, idle["id"])
    assert open_uploads(ds, idle["key"]) == []  # S3 dropped it: its reservation is gone with its row
    assert flow.complete(bob, idle).status_code == 404
    kept = listed(bob)[active["id"]]
    assert when(kept["last_activity_at"]) > when(kept["created_at"]) + IDLE_TTL
    assert when(kept["idle_expires_at"]) == when(kept["last_activity_at"]) + IDLE_TTL
    flow.put_part(active, data, 2)
    assert flow.complete(bob, active).status_code == 200  # still whole and usable


def test_the_part_urls_lifetime_still_ends_an_active_upload(ds, started):
    bob = ds.api("bob")
    up = start(started, bob, 3, "old.bin")
    flow.put_parts(up, b"abc")  # activity just now
    date_back(ds, up["id"], UPLOAD_TTL + timedelta(hours=1), expires_at=utcnow() - timedelta(hours=1))
    wait_until_gone(bob, up["id"])
    assert open_uploads(ds, up["key"]) == []


def test_members_see_their_own_uploads_admins_and_operators_the_teams(ds, started):
    erin, frank, alice, admin = ds.api("erin"), ds.api("frank"), ds.api("alice"), ds.api("admin")
    mine = {start(started, erin, n, f"mine-{n}.bin")["id"] for n in (1, 2)}
    theirs = start(started, frank, 3, "theirs.bin")["id"]
    seen = listed(erin)
    assert mine <= set(seen) and theirs not in seen and {i["user"] for i in seen.values()} == {"erin"}
    for manager in (alice, admin):  # the team admin, an operator
        assert mine | {theirs} <= set(listed(manager))
    item = seen[min(mine)]
    assert set(item) == {"id", "key", "user", "size", "created_at", "last_activity_at", "expires_at",
                         "idle_expires_at"}
    created = when(item["created_at"])
    assert item["last_activity_at"] == item["created_at"]  # no part yet
    assert when(item["expires_at"]) == created + UPLOAD_TTL and when(item["idle_expires_at"]) == created + IDLE_TTL


def test_the_uploads_list_is_paginated_and_bounded(ds, started):
    erin = ds.api("erin")
    ids = {start(started, erin, 1, f"page-{n}.bin")["id"] for n in range(3)}
    r = erin.get(f"{erin.base}/uploads", params={"limit": 1})
    page = r.json()
    assert r.status_code == 200 and len(page["items"]) == 1
    assert page["_pagination"]["total"] >= 3 and page["_pagination"]["next"]["offset"] == 1
    assert "offset=1" in page["_pagination"]["next"]["url"] and "limit=1" in page["_pagination"]["next"]["url"]
    assert ids <= set(listed(erin))
    for params in ({"limit": 0}, {"limit": 1001}, {"limit": -1}, {"offset": -1}, {"limit": "ten"}):
        r = erin.get(f"{erin.base}/uploads", params=params)
        name = next(iter(params))
        assert r.status_code == 400 and r.json()["message"].startswith(f"{name}: must be a whole number"), r.text


def test_a_team_admin_may_abort_a_members_upload_but_nobody_else_completes_it(ds, started):
    bob, erin, alice = ds.api("bob"), ds.api("erin"), ds.api("alice")
    up = start(started, bob, 3, "mine.bin")
    for r in (erin.post(f"{erin.base}/uploads/{up['id']}/complete"),
              erin.delete(f"{erin.base}/uploads/{up['id']}"),
              alice.post(f"{alice.base}/uploads/{up['id']}/complete")):
        assert r.status_code == 404 and "of yours" in r.json()["message"], r.text
    assert alice.delete(f"{alice.base}/uploads/{up['id']}").json() == {"id": up["id"], "key": up["key"]}
    assert open_uploads(ds, up["key"]) == []
    assert flow.complete(bob, up).status_code == 404
    events = alice.get(f"{alice.base}/audit", params={"limit": 5}).json()["items"]
    assert {"user": "alice", "action": "abort", "key": up["key"]}.items() <= events[0].items()
    assert events[0]["detail"] == {"uploader": "bob", "size": 3}
