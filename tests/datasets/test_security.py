"""Bad input and other teams: every refusal is a JSON 4xx that says why, never a 500.

Hostile keys and team names, enumerated against every operation, are in test_hostile.py.
"""

from __future__ import annotations

import pytest
import requests

from tests.datasets import flow
from tests.http import HTTP_TIMEOUT


def test_listing_parameters_are_checked(ds):
    bob = ds.api("bob")
    for params, message in [
        ({"limit": "0"}, "limit: must be a whole number from 1 to 1000"),
        ({"limit": "1001"}, "limit: must be a whole number from 1 to 1000"),
        ({"limit": "-1"}, "limit: must be a whole number from 1 to 1000"),
        ({"limit": "ten"}, "limit: must be a whole number from 1 to 1000"),
        ({"prefix": "/x"}, "prefix: must not start with '/'"),
        ({"prefix": "a\x01"}, "prefix: must not contain control characters"),
        ({"start_after": "y" * 2000}, "start_after: must be at most 1024 bytes of UTF-8 (2000 given)"),
    ]:
        r = bob.get(f"{bob.base}/datasets", params=params)
        assert r.status_code == 400 and r.json()["message"] == message, (params, r.text)


@pytest.mark.parametrize("body,message", [
    ({"key": "a.bin"}, "size: must be a whole number of bytes"),
    ({"key": "a.bin", "size": -1}, "size: must be a whole number of bytes"),
    ({"key": "a.bin", "size": "10"}, "size: must be a whole number of bytes"),
    ({"key": "a.bin", "size": 6 * 2**40}, "size: must be a whole number of bytes"),
    ({"key": 42, "size": 1}, "key: must be a string"),
    ({"size": 1}, "key: must be a string"),
    ([1], "request body must be a JSON object"),
    ("not json", "request body is not valid JSON"),
])
def test_bad_upload_bodies(ds, body, message):
    bob = ds.api("bob")
    if isinstance(body, str):
        r = bob.post(f"{bob.base}/uploads", data=body, headers={"Content-Type": "application/json"})
    else:
        r = bob.post(f"{bob.base}/uploads", json=body)
    assert r.status_code == 400 and r.json()["message"].startswith(message), r.text


def test_bad_complete_bodies_and_unknown_uploads(ds):
    bob = ds.api("bob")
    up = flow.start(bob, "bodies/x.bin", 1)
    r = bob.post(f"{bob.base}/uploads/{up['id']}/complete", json={"parts": [{"number": "1", "etag": 5}]})
    assert r.status_code == 400 and r.json()["message"].startswith("parts: must be a list")
    for upload_id in ("nope", "0" * 32, "a%2Fb", "%3Cscript%3E"):
        for r in (bob.post(f"{bob.base}/uploads/{upload_id}/complete"),
                  bob.delete(f"{bob.base}/uploads/{upload_id}")):
            assert r.status_code == 404 and r.json()["message"].startswith("no upload"), (upload_id, r.text)
    assert bob.delete(f"{bob.base}/uploads/{up['id']}").status_code == 200


def test_missing_key_parameter(ds):
    bob = ds.api("bob")
    r = bob.get(f"{bob.base}/download", allow_redirects=False)
    assert r.status_code == 400 and "key" in r.json()["message"]


def test_other_team_gets_404_for_everything(ds):
    """carol is in team-b only: team-a's data does not exist for her, whatever she asks."""
    bob, carol = ds.api("bob"), ds.api("carol")
    flow.upload(bob, "cross/secret.txt", b"team-a only")
    up = flow.start(bob, "cross/pending.bin", 1)
    carol.base = bob.base  # team-a's URLs, carol's token
    requests_ = [
        carol.get(f"{carol.base}/datasets"),
        carol.get(f"{carol.base}/datasets", params={"prefix": "cross/"}),
        carol.delete(f"{carol.base}/datasets", params={"key": "cross/secret.txt"}),
        carol.get(f"{carol.base}/uploads"),
        carol.post(f"{carol.base}/uploads", json={"key": "cross/x", "size": 1}),
        carol.post(f"{carol.base}/uploads/{up['id']}/complete"),
        carol.delete(f"{carol.base}/uploads/{up['id']}"),
        carol.get(f"{carol.base}/download", params={"key": "cross/secret.txt"}, allow_redirects=False),
        carol.post(f"{carol.base}/shares", json={"key": "cross/secret.txt", "expires_in": 60}),
        carol.post(f"{carol.base}/folders", json={"key": "cross/new/"}),
        carol.get(f"{carol.base}/usage"),
        carol.get(f"{carol.base}/audit"),
        carol.get(f"{ds.portal.url}services/portal/teams/team-a/datasets"),
    ]
    for r in requests_:
        assert r.status_code == 404, (r.request.method, r.url, r.text)
    assert all(r.json() == {"status": 404, "message": "no team 'team-a'"} for r in requests_[:-1])
    assert ds.admin_s3.stat_object("team-a", "cross/secret.txt").size == len(b"team-a only")
    assert bob.delete(f"{bob.base}/uploads/{up['id']}").status_code == 200


def test_upload_ids_do_not_cross_teams(ds):
    """A hub admin may act in both teams, but team-a's upload is not team-b's."""
    admin = ds.api("admin")
    up = flow.start(admin, "cross/admin.bin", 1)
    other = ds.api("admin", "team-b")
    assert other.post(f"{other.base}/uploads/{up['id']}/complete").status_code == 404
    assert other.delete(f"{other.base}/uploads/{up['id']}").status_code == 404
    assert admin.delete(f"{admin.base}/uploads/{up['id']}").status_code == 200


def test_urls_are_signed_with_team_keys_not_admin_keys(ds):
    bob = ds.api("bob")
    flow.upload(bob, "signed/by-team.txt", b"t")
    up = flow.start(bob, "signed/part.bin", 1)
    share = bob.post(f"{bob.base}/shares", json={"key": "signed/by-team.txt", "expires_in": 60}).json()
    download = bob.get(f"{bob.base}/download", params={"key": "signed/by-team.txt"}, allow_redirects=False)
    shared = requests.get(share["url"], allow_redirects=False, timeout=HTTP_TIMEOUT).headers["Location"]
    urls = [shared, download.headers["Location"], up["parts"][0]["url"]]
    admin = ds.store._admin
    team = ds.store.team_credentials("team-a", "team-a")
    for url in urls:
        assert f"X-Amz-Credential={team.access_key}" in url
        assert admin.access_key not in url and admin.secret_key not in url
    # A URL signed for team-a cannot be bent to reach team-b: the signature covers the path.
    forged = shared.replace("/team-a/", "/team-b/", 1)
    assert requests.get(forged, timeout=HTTP_TIMEOUT).status_code == 403
    assert bob.delete(f"{bob.base}/uploads/{up['id']}").status_code == 200


def test_no_token_is_401_json(ds):
    r = requests.get(f"{ds.portal.url}services/portal/api/v1/teams/team-a/datasets", timeout=HTTP_TIMEOUT)
    assert r.status_code == 401 and r.json()["status"] == 401
