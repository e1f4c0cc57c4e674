"""What a team admin's or a member's own hub token can do through the hub's REST API.

The portal service is the only writer of team settings (group properties) and membership;
team-admin roles hold only read-only hub scopes. So every hub write below, tried with
alice's token (admin of team-a and team-c) and with bob's (a member of both), must be
refused with the status WRITES names (403, 404 where the hub hides what the token may not
see, 400 for a token with scopes its owner lacks), and the hub must be unchanged
afterwards, as the operator's token sees it: groups with their properties and members,
users with their admin flag, groups, servers and roles, tokens, services.
"""

from __future__ import annotations

import pytest

CALLERS = {"team_admin": "alice", "member": "bob"}
SELF = "{self}"  # the caller's own user name in a path

# fmt: off
#: (method, hub API path, JSON body, the hub's refusal): writes that would escape the team or
#: raise its limits. 403: no scope for it; 404: the hub hides what the token may not see;
#: 400: the hub refuses to make a token with scopes its owner lacks.
WRITES = [
    # the team's settings, own team and another team
    ("PUT", "/groups/team-a/properties", {"display_name": "A", "quota": {}, "profiles": ["cpu", "gpu", "prod"],
                                          "delete_policy": "members", "bucket": "team-b"}, 403),
    ("PUT", "/groups/team-b/properties", {"display_name": "pwned"}, 403),
    # membership, own team and another team
    ("POST", "/groups/team-a/users", {"users": ["carol"]}, 403),
    ("DELETE", "/groups/team-a/users", {"users": ["dave"]}, 403),
    ("POST", "/groups/team-b/users", {"users": [SELF]}, 403),
    ("DELETE", "/groups/team-b/users", {"users": ["carol"]}, 403),
    # groups themselves
    ("POST", "/groups/team-new", None, 403),
    ("POST", "/groups", {"groups": ["team-new2"]}, 403),
    ("DELETE", "/groups/team-a", None, 403),
    ("DELETE", "/groups/team-b", None, 403),
    # users and roles: becoming a hub admin (an operator), creating, renaming, deleting users
    ("PATCH", f"/users/{SELF}", {"admin": True}, 403),
    ("PATCH", "/users/carol", {"admin": True}, 403),
    ("PATCH", "/users/dave", {"name": "dave2"}, 403),
    ("POST", "/users", {"usernames": ["mallory"], "admin": True}, 403),
    ("POST", "/users/mallory", None, 403),
    ("DELETE", "/users/dave", None, 403),
    ("DELETE", "/users/carol", None, 403),
    # tokens with scopes the caller lacks, or for someone else
    ("POST", f"/users/{SELF}/tokens", {"scopes": ["admin:groups"]}, 400),
    ("POST", f"/users/{SELF}/tokens", {"scopes": ["groups!group=team-a"]}, 400),
    ("POST", f"/users/{SELF}/tokens", {"scopes": ["custom:portal:admin"]}, 400),
    ("POST", f"/users/{SELF}/tokens", {"scopes": ["custom:portal:admin!group=team-b"]}, 400),
    ("POST", f"/users/{SELF}/tokens", {"scopes": ["admin:users", "admin-ui"]}, 400),
    ("POST", "/users/dave/tokens", {"note": "for me"}, 403),
    ("POST", "/users/carol/tokens", {"note": "for me"}, 403),
    # other users' servers, in the team and outside it
    ("POST", "/users/dave/server", None, 404),
    ("DELETE", "/users/dave/server", None, 404),
    ("POST", "/users/carol/server", None, 404),
    ("POST", "/users/dave/servers/work", None, 404),
    ("POST", "/shares/dave/", {"user": SELF}, 403),
    # the hub itself
    ("POST", "/proxy", None, 403),
    ("PATCH", "/proxy", {"api_url": "http://127.0.0.1:9/"}, 403),
    ("POST", "/services/evil", {"url": "http://127.0.0.1:9/"}, 403),
    ("POST", "/shutdown", None, 403),
]
# fmt: on

#: Reads outside the caller's teams: refused, or answered without the other team's data.
READS = ["/groups/team-b", "/users/carol", "/users/carol/tokens", "/users/erin"]


def hub_state(site) -> dict:
    """The hub as the operator sees it (volatile fields such as activity left out)."""
    token = site.token("admin")
    headers = {"Accept": "application/jupyterhub-pagination+json"}

    def all_items(path):
        items, offset = [], 0
        while True:
            page = site.call("GET", f"{site.hub_api}{path}", token, headers=headers,
                             params={"offset": offset, "limit": 200})
            assert page.status_code == 200, page.text
            body = page.json()
            items += body["items"]
            if not body["_pagination"]["next"]:
                return items
            offset = body["_pagination"]["next"]["offset"]

    groups = {g["name"]: (g["properties"], sorted(g["users"])) for g in all_items("/groups")}
    users = {u["name"]: (u["admin"], sorted(u["groups"]), sorted(u["servers"]), sorted(u["roles"]))
             for u in all_items("/users")}
    tokens = {}
    for name in users:
        r = site.call("GET", f"{site.hub_api}/users/{name}/tokens", token)
        assert r.status_code == 200, r.text
        tokens[name] = sorted(t["id"] for t in r.json()["api_tokens"])
    services = sorted(site.call("GET", f"{site.hub_api}/services", token).json())
    return {"groups": groups, "users": users, "tokens": tokens, "services": services}


def fill(value, user: str):
    if isinstance(value, str):
        return value.replace(SELF, user)
    if isinstance(value, list):
        return [fill(v, user) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, user) for k, v in value.items()}
    return value


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("method,path,body,refusal", WRITES,
                         ids=[f"{m} {p} {b or ''}"[:80] for m, p, b, _ in WRITES])
def test_hub_write_is_refused(security_portal, caller, method, path, body, refusal):
    site, user = security_portal, CALLERS[caller]
    before = hub_state(site)
    r = site.call(method, site.hub_api + fill(path, user), site.token(user), json=fill(body, user))
    assert r.status_code == refusal, f"{method} {fill(path, user)} as {user}: {r.status_code} {r.text[:300]}"
    assert hub_state(site) == before


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("path", READS)
def test_hub_read_of_another_team_is_refused(security_portal, caller, path):
    site, user = security_portal, CALLERS[caller]
    r = site.call("GET", site.hub_api + path, site.token(user))
    assert r.status_code in (403, 404), f"GET {path} as {user}: {r.status_code} {r.text[:300]}"


@pytest.mark.parametrize("caller", CALLERS)
def test_hub_lists_show_only_own_teams(security_portal, caller):
    site, user = security_portal, CALLERS[caller]
    own = {"team-a", "team-c"}
    outsiders = {"carol", "erin", "frank", "grace"}  # in team-b or team-x only
    groups = site.call("GET", f"{site.hub_api}/groups", site.token(user))
    if groups.status_code == 200:
        assert {g["name"] for g in groups.json()} <= own
    else:
        assert groups.status_code == 403
    users = site.call("GET", f"{site.hub_api}/users", site.token(user))
    if users.status_code == 200:
        assert not {u["name"] for u in users.json()} & outsiders
    else:
        assert users.status_code == 403


def test_hub_state_notices_a_change(security_portal):
    """The comparison above sees a change of properties, members, admin flag or tokens."""
    site = security_portal
    before = hub_state(site)
    admin = site.token("admin")
    r = site.call("POST", f"{site.hub_api}/users/grace/tokens", admin, json={"note": "seen", "expires_in": 60})
    assert r.status_code == 201, r.text
    try:
        assert hub_state(site) != before
    finally:
        site.call("DELETE", f"{site.hub_api}/users/grace/tokens/{r.json()['id']}", admin)
    assert hub_state(site) == before
