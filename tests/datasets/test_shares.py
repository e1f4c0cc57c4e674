"""Share links as records: a short portal URL that redirects to a freshly signed S3 URL,
listed per team, revocable at once, audited; dead links answer a page, never S3's XML."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, urlsplit

import requests

from portal.audit import AuditLog
from portal.shares import LINK_TTL, Shares
from portal.storage.team_access import TeamAccess
from tests.datasets import flow
from tests.datasets.conftest import put, unique
from tests.http import HTTP_TIMEOUT


def share(s, key: str, expires_in: int = 600) -> dict:
    r = s.post(f"{s.base}/shares", json={"key": key, "expires_in": expires_in})
    assert r.status_code == 201, r.text
    return r.json()


def visit(url: str) -> requests.Response:
    """Open a link as someone who is not logged in (no token, no cookie), without following it."""
    return requests.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)


def assert_page(r: requests.Response, status: int, title: str) -> None:
    """A dead link answers the portal's HTML page saying why, not the storage server's XML."""
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("text/html")
    assert f"<h1>{title}</h1>" in r.text
    assert "<?xml" not in r.text and "<Error>" not in r.text
    assert "Location" not in r.headers


def listed(s, **params) -> list[dict]:
    r = s.get(f"{s.base}/shares", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_the_link_is_a_short_portal_url_that_downloads_logged_out(ds):
    bob = ds.api("bob")
    key = unique("report 1.pdf")
    flow.upload(bob, key, b"%PDF shared")
    made = share(bob, key, 3600)
    assert set(made) >= {"id", "url", "key", "created_by", "created_at", "expires_at"}
    assert made["key"] == key and made["created_by"] == "bob" and made["state"] == "active"
    assert made["url"] == f"{ds.portal.url}services/portal/s/{made['id']}"  # the portal's own host
    assert len(made["id"]) >= 22 and len(made["url"]) < 120
    assert made["expires_at"].endswith("Z") and made["created_at"] < made["expires_at"]

    redirect = visit(made["url"])
    assert redirect.status_code in (302, 307) and redirect.headers["Cache-Control"] == "no-store"
    signed = urlsplit(redirect.headers["Location"])
    public = urlsplit(ds.portal.config.storage_public_endpoint or ds.store.endpoint)
    assert signed.netloc == public.netloc
    assert parse_qs(signed.query)["X-Amz-Expires"] == [str(int(LINK_TTL.total_seconds()))]  # freshly signed, short
    got = requests.get(made["url"], timeout=HTTP_TIMEOUT)
    assert got.status_code == 200 and got.content == b"%PDF shared"
    assert 'filename="report 1.pdf"' in got.headers["Content-Disposition"]


def test_listed_newest_first_and_revoked_at_once(ds):
    bob, alice = ds.api("bob"), ds.api("alice")
    key = unique("listed.txt")
    put(ds, key, b"listed")
    first, second = share(bob, key), share(bob, key, 7 * 24 * 3600)
    ids = [s["id"] for s in listed(bob, limit=1000)]
    assert ids.index(second["id"]) < ids.index(first["id"])  # newest first
    seen_by_erin = {s["id"]: s for s in listed(ds.api("erin"), limit=1000)}  # every member sees the team's links
    assert seen_by_erin[first["id"]]["url"] == first["url"]
    assert visit(first["url"]).status_code in (302, 307)

    r = bob.delete(f"{bob.base}/shares/{first['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "revoked" and r.json()["revoked_by"] == "bob"
    assert_page(visit(first["url"]), 410, "Link revoked")  # at once
    assert requests.get(second["url"], timeout=HTTP_TIMEOUT).content == b"listed"  # the other link still works
    assert first["id"] not in [s["id"] for s in listed(bob, limit=1000)]
    everything = {s["id"]: s for s in listed(bob, state="all", limit=1000)}
    assert everything[first["id"]]["state"] == "revoked" and everything[second["id"]]["state"] == "active"
    assert bob.delete(f"{bob.base}/shares/{first['id']}").json()["revoked_by"] == "bob"  # again: nothing changes
    assert bob.get(f"{bob.base}/shares", params={"state": "gone"}).status_code == 400

    events = alice.get(f"{alice.base}/audit", params={"limit": 1000}).json()["items"]
    mine = [(e["action"], e["user"]) for e in events if e["key"] == key]
    assert mine == [("revoke", "bob"), ("share", "bob"), ("share", "bob")]


def test_an_expired_link_answers_410_page(ds):
    bob = ds.api("bob")
    key = unique("brief.txt")
    put(ds, key, b"brief")
    made = share(bob, key, 1)
    time.sleep(2.2)
    assert_page(visit(made["url"]), 410, "Link expired")
    assert made["id"] not in [s["id"] for s in listed(bob, limit=1000)]
    assert [s["state"] for s in listed(bob, state="all", limit=1000) if s["id"] == made["id"]] == ["expired"]


def test_unknown_links_answer_the_same_404_page(ds):
    base = f"{ds.portal.url}services/portal/s/"
    pages = [visit(base + token) for token in (secrets.token_urlsafe(16), secrets.token_urlsafe(16), "x" * 300)]
    for r in pages:
        assert_page(r, 404, "Unknown link")
    assert pages[0].text.split("<h1>")[1] == pages[1].text.split("<h1>")[1]  # nothing tells one token from another


def test_a_deleted_object_answers_a_page_not_xml(ds):
    bob = ds.api("bob")
    key = unique("doomed.txt")
    put(ds, key, b"doomed")
    made = share(bob, key)
    ds.admin_s3.remove_object("team-a", key)
    assert_page(visit(made["url"]), 410, "File gone")


def test_other_teams_cannot_list_or_revoke(ds):
    bob, on_a, carol = ds.api("bob"), ds.api("carol", "team-a"), ds.api("carol", "team-b")
    key = unique("private.txt")
    put(ds, key, b"team-a only")
    made = share(bob, key)
    assert on_a.get(f"{on_a.base}/shares").json() == {"status": 404, "message": "no team 'team-a'"}
    assert on_a.delete(f"{on_a.base}/shares/{made['id']}").status_code == 404
    assert carol.delete(f"{carol.base}/shares/{made['id']}").status_code == 404  # through her own team
    assert made["id"] not in [s["id"] for s in listed(carol, state="all", limit=1000)]
    assert visit(made["url"]).status_code in (302, 307)  # still alive


def test_a_member_cannot_revoke_another_members_link_but_an_admin_can(ds):
    bob, erin, alice = ds.api("bob"), ds.api("erin"), ds.api("alice")
    key = unique("bobs.txt")
    put(ds, key, b"bob's")
    made = share(bob, key)
    r = erin.delete(f"{erin.base}/shares/{made['id']}")
    assert r.status_code == 403 and "bob" in r.json()["message"]
    assert visit(made["url"]).status_code in (302, 307)
    assert alice.delete(f"{alice.base}/shares/{made['id']}").json()["revoked_by"] == "alice"
    assert_page(visit(made["url"]), 410, "Link revoked")
    assert bob.delete(f"{bob.base}/shares/unknown-id").status_code == 404


def test_shares_refuse_what_does_not_exist(ds):
    bob = ds.api("bob")
    r = bob.post(f"{bob.base}/shares", json={"key": unique("nothing.txt"), "expires_in": 60})
    assert r.status_code == 404


def test_the_redirect_is_signed_for_the_public_endpoint(ds):
    """With ``storage.public_endpoint`` set, the link leads there: here 'localhost' for the
    server's own 127.0.0.1, so the URL is signed for a host the portal does not itself use."""
    bob = ds.api("bob")
    key = unique("public.txt")
    put(ds, key, b"through the public endpoint")
    made = share(bob, key)
    port = urlsplit(ds.store.endpoint).port
    public = f"http://localhost:{port}"
    shares = Shares(ds.db, TeamAccess(ds.store, public_endpoint=public), AuditLog(ds.db))
    url = shares.resolve(made["id"])
    assert url.startswith(f"{public}/team-a/")
    assert requests.get(url, timeout=HTTP_TIMEOUT).content == b"through the public endpoint"
