"""The teams API as members, other teams, team admins and hub admins see it."""

import re

import pytest
import requests

from portal.app import HANDLER_MODULES
from tests.http import TimedSession


def test_member_sees_only_own_teams(api):
    bob = api("bob")
    r = bob.get(f"{bob.base}/teams")
    assert r.status_code == 200
    assert [t["name"] for t in r.json()["items"]] == ["team-a"]
    team = bob.get(f"{bob.base}/teams/team-a").json()
    assert team["display_name"] == "Team A"
    assert team["quota"]["gpus"] == 2 and team["quota"]["memory"] == 32 * 2**30
    assert {"alice", "bob"} <= set(team["members"]) and team["admins"] == ["alice"]
    assert team["profiles"] == ["cpu", "gpu", "prod"]


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/teams/team-a", None),
    ("PATCH", "/teams/team-a", {"display_name": "pwned"}),
    ("PUT", "/teams/team-a/members/carol", None),
    ("DELETE", "/teams/team-a/members/bob", None),
])
def test_other_team_gets_404_not_403(api, method, path, body):
    carol = api("carol")
    r = carol.request(method, carol.base + path, json=body)
    assert r.status_code == 404, r.text
    assert r.json() == {"status": 404, "message": "no team 'team-a'"}
    assert api("alice").get(f"{carol.base}/teams/team-a").json()["display_name"] == "Team A"


def test_unknown_team_is_the_same_404(api):
    carol = api("carol")
    r = carol.get(f"{carol.base}/teams/no-such-team")
    assert r.status_code == 404 and r.json()["message"] == "no team 'no-such-team'"


def test_team_admin_renames_the_team(api):
    alice = api("alice")
    r = alice.patch(f"{alice.base}/teams/team-a", json={"display_name": "Team A (imaging)"})
    assert r.status_code == 200, r.text
    assert api("bob").get(f"{alice.base}/teams/team-a").json()["display_name"] == "Team A (imaging)"
    alice.patch(f"{alice.base}/teams/team-a", json={"display_name": "Team A"})


@pytest.mark.parametrize("body", [
    {"quota": {"gpus": 3}}, {"quota": {"storage": "1Pi"}}, {"profiles": ["cpu", "gpu", "prod", "tiny"]},
    {"delete_policy": "members"}, {"display_name": "Team A", "quota": {"cpu": 64}},
])
def test_team_admin_cannot_change_the_limits(api, body):
    alice = api("alice")
    before = alice.get(f"{alice.base}/teams/team-a").json()
    r = alice.patch(f"{alice.base}/teams/team-a", json=body)
    assert r.status_code == 403, r.text
    assert "requires an operator" in r.json()["message"]
    assert alice.get(f"{alice.base}/teams/team-a").json() == before


def test_operator_sets_limits(api):
    admin = api("admin")
    r = admin.patch(f"{admin.base}/teams/team-a", json={"quota": {"gpus": 3, "storage": "20Gi"},
                                                        "profiles": ["cpu", "gpu"]})
    assert r.status_code == 200, r.text
    assert r.json()["quota"] == {"gpus": 3, "cpu": 8, "memory": 32 * 2**30, "storage": 20 * 2**30}
    seen_by_bob = api("bob").get(f"{admin.base}/teams/team-a").json()
    assert seen_by_bob["quota"]["gpus"] == 3 and seen_by_bob["profiles"] == ["cpu", "gpu"]
    admin.patch(f"{admin.base}/teams/team-a", json={"quota": {"gpus": 2, "storage": "10Gi"},
                                                   "profiles": ["cpu", "gpu", "prod"]})


def test_plain_member_cannot_patch(api):
    bob = api("bob")
    r = bob.patch(f"{bob.base}/teams/team-a", json={"quota": {"gpus": 99}})
    assert r.status_code == 403
    assert "custom:portal:admin" in r.json()["message"]
    assert bob.get(f"{bob.base}/teams/team-a").json()["quota"]["gpus"] == 2


def test_team_admin_of_a_cannot_patch_b(api):
    alice = api("alice")
    assert alice.patch(f"{alice.base}/teams/team-b", json={"display_name": "x"}).status_code == 404


@pytest.mark.parametrize("body,field", [
    ({"quota": {"gpus": -1}}, "quota.gpus"),
    ({"quota": {"memory": "lots"}}, "quota.memory"),
    ({"quota": {"gpus": "2"}}, "quota.gpus"),
    ({"display_name": ""}, "display_name"),
    ({"display_name": "x" * 201}, "display_name"),
    ({"name": "team-b"}, "unknown field"),
    ({"quota": {"gpus": 1.5}}, "quota.gpus"),
    ({"quota": {"gpus": 10**6}}, "quota.gpus"),
    ({"quota": {"cpu": 1e300}}, "quota.cpu"),
    ({"quota": {"storage": 2**60}}, "quota.storage"),
    ({"quota": {"storage": "99999P"}}, "quota.storage"),
    ({"profiles": ["no-such-profile"]}, "profiles"),
    ({"delete_policy": "everyone"}, "delete_policy"),
    ({}, "body"),
    ([1, 2], "body"),
])
def test_invalid_patch_is_400_naming_the_field(api, body, field):
    alice = api("admin")
    r = alice.patch(f"{alice.base}/teams/team-a", json=body)
    assert r.status_code == 400, r.text
    assert field in r.json()["message"]
    assert alice.get(f"{alice.base}/teams/team-a").json()["display_name"] == "Team A"


@pytest.mark.parametrize("text", ['{"quota": {"cpu": NaN}}', '{"quota": {"cpu": Infinity}}',
                                  '{"quota": {"gpus": -Infinity}}'])
def test_nan_and_infinity_are_not_json(api, text):
    admin = api("admin")
    r = admin.patch(f"{admin.base}/teams/team-a", data=text, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not allowed" in r.json()["message"], r.text
    assert admin.get(f"{admin.base}/teams/team-a").json()["quota"]["cpu"] == 8


def test_non_json_body_is_400(api):
    alice = api("alice")
    r = alice.patch(f"{alice.base}/teams/team-a", data="{not json",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["message"]


def test_hub_admin_sees_and_manages_every_team(api):
    admin = api("admin")
    names = [t["name"] for t in admin.get(f"{admin.base}/teams").json()["items"]]
    assert {"team-a", "team-b"} <= set(names)
    r = admin.patch(f"{admin.base}/teams/team-b", json={"quota": {"gpus": 1}})
    assert r.status_code == 200 and r.json()["quota"]["gpus"] == 1
    assert admin.patch(f"{admin.base}/teams/team-b", json={"quota": {"gpus": None}}).ok


def test_team_admin_adds_and_removes_members(api, portal):
    alice = api("alice")
    r = alice.put(f"{alice.base}/teams/team-a/members/carol")
    assert r.status_code == 200 and "carol" in r.json()["members"]
    carol = api("carol")
    assert {t["name"] for t in carol.get(f"{carol.base}/teams").json()["items"]} == {"team-a", "team-b"}
    r = alice.delete(f"{alice.base}/teams/team-a/members/carol")
    assert r.status_code == 200 and "carol" not in r.json()["members"]
    assert carol.get(f"{carol.base}/teams/team-a").status_code == 404


@pytest.mark.parametrize("user,status", [
    ("nobody-here", 404), ("Bad%20Name", 400), ("-leading", 400), ("%3Cb%3Ex", 400)])
def test_bad_member_names(api, user, status):
    alice = api("alice")
    r = alice.put(f"{alice.base}/teams/team-a/members/{user}")
    assert r.status_code == status, r.text
    assert r.json()["message"]


def test_plain_member_cannot_change_members(api):
    bob = api("bob")
    assert bob.put(f"{bob.base}/teams/team-a/members/carol").status_code == 403
    assert bob.delete(f"{bob.base}/teams/team-a/members/alice").status_code == 403


def test_no_token_or_a_bad_one_is_401_with_a_challenge(portal):
    base = f"{portal.url}services/portal/api/v1"
    for headers in ({}, {"Authorization": "token not-a-token"}):
        r = requests.get(f"{base}/teams", headers=headers, timeout=10)
        assert r.status_code == 401 and r.json()["status"] == 401 and r.json()["message"]
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_cookie_requests_need_xsrf(portal, token):
    """A forged cross-site PATCH carrying only cookies is not authenticated."""
    s = requests.Session()
    r = s.patch(f"{portal.url}services/portal/api/v1/teams/team-a", json={"display_name": "x"},
                cookies={"jupyterhub-services": "forged"}, timeout=10)
    assert r.status_code == 401


def test_405_names_the_allowed_methods(api):
    bob = api("bob")
    r = bob.post(f"{bob.base}/teams/team-a", json={}, timeout=10)
    assert r.status_code == 405 and r.json()["status"] == 405
    assert r.headers["Allow"] == "GET, DELETE, PATCH"


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=-1", "limit=x", "offset=-1", "offset=1e3"])
def test_list_bounds_are_400(api, query):
    admin = api("admin")
    for path in ("/teams", "/teams/team-a/audit"):
        r = admin.get(f"{admin.base}{path}?{query}", timeout=10)
        assert r.status_code == 400, (path, r.text)
        assert query.split("=")[0] in r.json()["message"]


def test_teams_are_paginated_with_next_links(api):
    admin = api("admin")
    first = admin.get(f"{admin.base}/teams?limit=1", timeout=10).json()
    assert len(first["items"]) == 1 and first["_pagination"]["total"] >= 2
    following = first["_pagination"]["next"]
    assert following["offset"] == 1
    second = admin.get(f"{admin.base.split('/services/')[0]}{following['url']}", timeout=10).json()
    assert second["items"][0]["name"] > first["items"][0]["name"]


def test_health_and_openapi_describe_every_route(portal):
    assert requests.get(f"{portal.url}services/portal/health", timeout=30).json() == {"status": "ok"}
    spec = requests.get(f"{portal.url}services/portal/api/v1/openapi.json", timeout=30).json()
    assert spec["openapi"].startswith("3.")
    routes = [path for m in HANDLER_MODULES for path, _ in m.default_handlers
              if path.startswith("/api/v1/") and not path.endswith("openapi.json")]
    for route in routes:
        templated = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)[len("/api/v1"):]
        assert templated in spec["paths"], f"{templated} missing from openapi.json"


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_api_paths_are_json_404(portal, api, method):
    for session in (api("bob"), TimedSession()):  # logged in or not
        r = session.request(method, f"{portal.url}services/portal/api/v1/teams/team-a/100%25")
        assert r.status_code == 404 and r.headers["Content-Type"] == "application/json"
        assert r.json() == {"status": 404,
                            "message": f"no API endpoint {method} /services/portal/api/v1/teams/team-a/100%25"}


def test_unknown_pages_are_the_portals_404_page(portal):
    r = requests.get(f"{portal.url}services/portal/no/such/<page>", timeout=30)
    assert r.status_code == 404 and "text/html" in r.headers["Content-Type"]
    assert "no page at /services/portal/no/such/%3Cpage%3E" in r.text and "<page>" not in r.text


def test_operator_removes_a_limit_with_null(api):
    admin = api("admin")
    r = admin.patch(f"{admin.base}/teams/team-a", json={"quota": {"cpu": None}}, timeout=10)
    assert r.status_code == 200, r.text
    assert "cpu" not in r.json()["quota"] and r.json()["quota"]["gpus"] == 2
    assert admin.patch(f"{admin.base}/teams/team-a", json={"quota": {"cpu": 8}}, timeout=10).ok
