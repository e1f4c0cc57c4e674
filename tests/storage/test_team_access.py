"""TeamAccess: requests and signed URLs as the team, for the public endpoint, across rotations."""

from __future__ import annotations

import io
from datetime import timedelta
from urllib.parse import urlsplit

import requests

from portal.storage.team_access import TeamAccess


def test_urls_are_signed_for_the_public_endpoint_with_team_keys(server, store, buckets):
    public = f"http://localhost:{server.port}"  # another name for the same server
    access = TeamAccess(store, public_endpoint=public)
    access.run("team-a", "team-a", lambda c: c.put_object("team-a", "pub/x.txt", io.BytesIO(b"hi"), 2))
    url = access.sign("team-a", "team-a", "GET", "pub/x.txt", timedelta(minutes=1))
    assert urlsplit(url).netloc == f"localhost:{server.port}"
    assert f"X-Amz-Credential={store.team_credentials('team-a', 'team-a').access_key}" in url
    assert requests.get(url, timeout=10).content == b"hi"
    # The signature covers the host: the same URL through another name is refused.
    assert requests.get(url.replace("localhost", "127.0.0.1", 1), timeout=10).status_code == 403


def test_run_follows_a_rotation_made_elsewhere(store, buckets):
    store.ensure_bucket("team-moved")
    access = TeamAccess(store)
    access.run("team-moved", "team-moved", lambda c: c.put_object("team-moved", "f", io.BytesIO(b"1"), 1))
    old = access.sign("team-moved", "team-moved", "GET", "f", timedelta(minutes=5))
    store.rotate_team_credentials("team-moved", "team-moved")  # as `aiportal storage rotate-keys` does
    assert requests.get(old, timeout=10).status_code == 403
    assert access.run("team-moved", "team-moved", lambda c: c.stat_object("team-moved", "f").size) == 1
    fresh = access.sign("team-moved", "team-moved", "GET", "f", timedelta(minutes=5))
    assert requests.get(fresh, timeout=10).content == b"1"

