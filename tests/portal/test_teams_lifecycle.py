"""Teams created and deleted by operators, team admins made at run time, and people added
as soon as their sign-up is approved: the API against a real portal (hub, proxy, service,
SeaweedFS). Each test makes and deletes its own teams and users (names start with `tl`)."""

from __future__ import annotations

import contextlib
import secrets

import pytest
import requests

from tests.http import TimedSession


def hub_session(portal, token, user: str) -> TimedSession:
    s = TimedSession()
    s.headers["Authorization"] = f"token {token(user)}"
    s.base = f"{portal.url}hub/api"
    return s


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@contextlib.contextmanager
def new_team(api, name: str | None = None, **body):
    """A team made by the operator for one test; deleted with its data afterwards."""
    admin = api("admin")
    name = name or unique("tl")
    r = admin.post(f"{admin.base}/teams", json={"name": name, **body})
    assert r.status_code == 201, r.text
    try:
        yield r.json()
    finally:
        admin.delete(f"{admin.base}/teams/{name}", params={"delete_data": "true"})


def sign_up(portal, user: str) -> None:
    """The hub's sign-up form, posted as a browser does (with its XSRF cookie and field)."""
    s = TimedSession()
    s.get(f"{portal.url}hub/signup").raise_for_status()
    xsrf = s.cookies.get("_xsrf")
    pw = f"{user}-correct-horse-battery"
    r = s.post(f"{portal.url}hub/signup", data={"username": user, "signup_password": pw,
                                                "signup_password_confirmation": pw, "_xsrf": xsrf})
    assert r.status_code == 200, r.text[:500]


def approve(portal, user: str) -> None:
    """The operator's click on /hub/authorize (it toggles: once), in a signed-in session."""
    s = TimedSession()
    s.get(f"{portal.url}hub/login").raise_for_status()
    r = s.post(f"{portal.url}hub/login", data={"username": "admin", "password": portal.data.admin_password("admin"),
                                               "_xsrf": s.cookies.get("_xsrf")})
    assert r.status_code == 200 and "/hub/login" not in r.url, r.url
    r = s.get(f"{portal.url}hub/authorize/{user}")
    assert r.status_code == 200, r.text[:500]


def put_object(s, team: str, key: str, data: bytes = b"hello") -> None:
    r = s.post(f"{s.base}/teams/{team}/uploads", json={"key": key, "size": len(data)})
    assert r.status_code == 201, r.text
    upload = r.json()
    assert requests.put(upload["parts"][0]["url"], data=data, timeout=60).status_code == 200
    r = s.post(f"{s.base}/teams/{team}/uploads/{upload['id']}/complete")
    assert r.status_code == 200, r.text


def keys(s, team: str) -> list[str]:
    r = s.get(f"{s.base}/teams/{team}/datasets")
    assert r.status_code == 200, r.text
    return [i["key"] for i in r.json()["items"]]


# --- creating ------------------------------------------------------------------------------


def test_an_operator_creates_a_team_usable_at_once(api):
    with new_team(api, display_name="Cardiology", quota={"gpus": 1, "memory": "64Gi", "storage": "1Ti"},
                  profiles=["cpu"], delete_policy="admins", admins=["alice"]) as team:
        assert team["display_name"] == "Cardiology"
        assert team["quota"] == {"gpus": 1, "memory": 64 * 2**30, "storage": 2**40}
        assert team["profiles"] == ["cpu"] and team["delete_policy"] == "admins"
        assert team["admins"] == ["alice"] and team["members"] == ["alice"]
        assert team["bucket"] == team["name"]
        alice = api("alice")  # bucket and keys exist: the admin uploads and lists at once
        put_object(alice, team["name"], "first.txt")
        assert keys(alice, team["name"]) == ["first.txt"]
        listed = [t["name"] for t in alice.get(f"{alice.base}/teams").json()["items"]]
        assert team["name"] in listed


@pytest.mark.parametrize("body,status,words", [
    ({"name": "TeamUpper"}, 400, "name: 'TeamUpper' is not a valid team name"),
    ({"name": "ab"}, 400, "not a valid team name"),
    ({"name": "xn--tl-punycode"}, 400, "not a valid team name"),
    ({"name": "tl-has.dot"}, 400, "not a valid team name"),
    ({"display_name": "no name"}, 400, "'name' is a required property"),
    ({"name": "tl-unknown-field", "bucket": "team-a"}, 400, "unknown field"),
    ({"name": "tl-bad-profile", "profiles": ["nope"]}, 400, "profiles: 'nope' is not a declared profile"),
    ({"name": "tl-bad-memory", "quota": {"memory": "lots"}}, 400, "quota.memory"),
    ({"name": "tl-too-many-gpus", "quota": {"gpus": 5}}, 400, "quota.gpus: 5 is more than the 4 GPUs"),
    ({"name": "team-a"}, 409, "team 'team-a' already exists"),
    ({"name": "tl-ghost-admin", "admins": ["tl-nobody-signed-up"]}, 404, "no such user"),
])
def test_creating_a_team_refuses(api, body, status, words):
    admin = api("admin")
    r = admin.post(f"{admin.base}/teams", json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["message"]
    if "name" in body and body["name"] != "team-a":
        assert admin.get(f"{admin.base}/teams/{body['name']}").status_code in (400, 404)


@pytest.mark.parametrize("user", ["alice", "bob", "carol"])
def test_only_operators_create_teams(api, user):
    s = api(user)
    name = unique("tl-not")
    r = s.post(f"{s.base}/teams", json={"name": name})
    assert r.status_code == 403, r.text
    assert r.json()["message"] == "creating a team requires an operator"
    assert api("admin").get(f"{s.base}/teams/{name}").status_code == 404


def test_a_gpu_quota_above_the_machine_is_refused_by_patch_too(api):
    admin = api("admin")
    before = admin.get(f"{admin.base}/teams/team-b").json()["quota"]
    r = admin.patch(f"{admin.base}/teams/team-b", json={"quota": {"gpus": 9}})
    assert r.status_code == 400
    assert r.json()["message"] == "quota.gpus: 9 is more than the 4 GPUs this machine has"
    assert admin.get(f"{admin.base}/teams/team-b").json()["quota"] == before


# --- members: sign-ups ------------------------------------------------------------------------


def test_an_approved_sign_up_who_never_logged_in_is_added_at_once(portal, api, token):
    user = unique("tlsign")
    sign_up(portal, user)
    hub = hub_session(portal, token, "admin")
    with new_team(api) as team:
        admin = api("admin")
        r = admin.put(f"{admin.base}/teams/{team['name']}/members/{user}")
        assert r.status_code == 409, r.text  # signed up, not approved yet
        assert r.json()["message"] == (f"user {user!r} signed up but is not approved yet: "
                                       f"approve them at /hub/authorize")
        assert hub.get(f"{hub.base}/users/{user}").status_code == 404
        approve(portal, user)
        r = admin.put(f"{admin.base}/teams/{team['name']}/members/{user}")
        assert r.status_code == 200, r.text
        assert user in r.json()["members"]
        assert team["name"] in hub.get(f"{hub.base}/users/{user}").json()["groups"]


def test_an_unknown_name_is_no_such_user(api):
    alice = api("alice")
    r = alice.put(f"{alice.base}/teams/team-a/members/tl-never-signed-up")
    assert r.status_code == 404
    assert r.json()["message"] == ("no such user 'tl-never-signed-up': pending sign-ups are at "
                                   "/hub/authorize")


# --- team admins ----------------------------------------------------------------------------------


def test_operators_make_and_unmake_team_admins(api):
    with new_team(api) as team:
        t, admin, bob, carol = team["name"], api("admin"), api("bob"), api("carol")
        url = f"{admin.base}/teams/{t}/members"
        assert bob.patch(f"{admin.base}/teams/{t}", json={"display_name": "x"}).status_code == 404
        r = admin.put(f"{url}/bob", json={"admin": True})
        assert r.status_code == 200, r.text
        assert r.json()["admins"] == ["bob"] and "bob" in r.json()["members"]
        # bob now manages members and the display name ...
        assert bob.patch(f"{admin.base}/teams/{t}", json={"display_name": "Bob's"}).status_code == 200
        assert bob.put(f"{url}/carol").status_code == 200
        assert carol.get(f"{admin.base}/teams/{t}").json()["display_name"] == "Bob's"
        # ... but neither the limits nor who is an admin
        r = bob.patch(f"{admin.base}/teams/{t}", json={"quota": {"gpus": 1}})
        assert r.status_code == 403 and "requires an operator" in r.json()["message"]
        r = bob.put(f"{url}/carol", json={"admin": True})
        assert r.status_code == 403 and r.json()["message"] == "making or unmaking a team admin requires an operator"
        assert admin.put(f"{url}/carol", json={"admin": True}).status_code == 200
        r = bob.delete(f"{url}/carol")
        assert r.status_code == 403 and r.json()["message"] == "removing a team admin requires an operator"
        # unmade, bob is a plain member again
        r = admin.put(f"{url}/bob", json={"admin": False})
        assert r.status_code == 200 and r.json()["admins"] == ["carol"] and "bob" in r.json()["members"]
        assert bob.patch(f"{admin.base}/teams/{t}", json={"display_name": "y"}).status_code == 403
        assert bob.put(f"{url}/alice").status_code == 403
        # an admin removed by an operator is no longer an admin
        r = admin.delete(f"{url}/carol")
        assert r.status_code == 200 and r.json()["admins"] == [] and "carol" not in r.json()["members"]


@pytest.mark.parametrize("body,words", [({"admin": "yes"}, "admin: must be true or false"),
                                        ({"owner": True}, "unknown field 'owner'"), (["admin"], "JSON object")])
def test_the_admin_body_is_checked(api, body, words):
    admin = api("admin")
    r = admin.put(f"{admin.base}/teams/team-b/members/carol", json=body)
    assert r.status_code == 400 and words in r.json()["message"]


def test_an_admin_from_portal_yaml_is_unmade_there(api):
    admin = api("admin")
    r = admin.put(f"{admin.base}/teams/team-a/members/alice", json={"admin": False})
    assert r.status_code == 409
    assert "through portal.yaml" in r.json()["message"]
    assert admin.get(f"{admin.base}/teams/team-a").json()["admins"] == ["alice"]


# --- deleting --------------------------------------------------------------------------------------


def test_deleting_keeps_the_bucket_unless_asked(api):
    admin = api("admin")
    name = unique("tl-del")
    with new_team(api, name=name):
        put_object(admin, name, "kept.txt")
        r = admin.delete(f"{admin.base}/teams/{name}")
        assert r.status_code == 200, r.text
        assert r.json() == {"name": name, "deleted": True, "data_deleted": False, "objects_deleted": 0}
        assert admin.get(f"{admin.base}/teams/{name}").status_code == 404
        assert name not in [t["name"] for t in admin.get(f"{admin.base}/teams").json()["items"]]
        # made again under the same name, the kept data is there
        assert admin.post(f"{admin.base}/teams", json={"name": name}).status_code == 201
        assert keys(admin, name) == ["kept.txt"]
        r = admin.delete(f"{admin.base}/teams/{name}", params={"delete_data": "true"})
        assert r.status_code == 200 and r.json()["objects_deleted"] == 1 and r.json()["data_deleted"]
        assert admin.post(f"{admin.base}/teams", json={"name": name}).status_code == 201
        assert keys(admin, name) == []


@pytest.mark.parametrize("user,status", [("alice", 403), ("bob", 403), ("carol", 404)])
def test_only_operators_delete_teams(api, user, status):
    with new_team(api, admins=["alice"]) as team:
        api("admin").put(f"{api('admin').base}/teams/{team['name']}/members/bob")
        s = api(user)
        r = s.delete(f"{s.base}/teams/{team['name']}")
        assert r.status_code == status, r.text
        assert api("admin").get(f"{s.base}/teams/{team['name']}").status_code == 200


def test_deleting_refuses_teams_of_portal_yaml_and_bad_arguments(api):
    admin = api("admin")
    r = admin.delete(f"{admin.base}/teams/team-b")
    assert r.status_code == 409 and "declared in portal.yaml" in r.json()["message"]
    with new_team(api) as team:
        r = admin.delete(f"{admin.base}/teams/{team['name']}", params={"delete_data": "yes"})
        assert r.status_code == 400 and r.json()["message"] == "delete_data: must be true or false"


@pytest.mark.timeout(600)
def test_deleting_a_team_with_servers_is_refused_naming_them(portal, api, token):
    with new_team(api, profiles=["cpu"], admins=["bob"]) as team:
        t, admin = team["name"], api("admin")
        hub = hub_session(portal, token, "bob")
        server = unique("tls")
        r = hub.post(f"{hub.base}/users/bob/servers/{server}", json={"team": t, "profile": "cpu"})
        assert r.status_code in (201, 202), r.text
        try:
            r = admin.delete(f"{admin.base}/teams/{t}")
            assert r.status_code == 409, r.text
            assert r.json()["message"] == f"team {t!r} has 1 active server(s): bob/{server}; stop them first"
            assert admin.get(f"{admin.base}/teams/{t}").status_code == 200
        finally:
            hub.delete(f"{hub.base}/users/bob/servers/{server}", json={"remove": True})


# --- a group made on the hub's admin page -------------------------------------------------------------


def test_a_group_made_in_the_hub_gets_its_bucket_at_first_use(portal, api, token):
    hub = hub_session(portal, token, "admin")
    name = unique("tl-hub")
    assert hub.post(f"{hub.base}/groups/{name}").status_code == 201
    try:
        assert hub.post(f"{hub.base}/groups/{name}/users", json={"users": ["bob"]}).status_code == 200
        bob = api("bob")
        assert keys(bob, name) == []  # not a NoSuchBucket 502
        put_object(bob, name, "works.txt")
        assert keys(bob, name) == ["works.txt"]
    finally:
        admin = api("admin")
        admin.delete(f"{admin.base}/teams/{name}", params={"delete_data": "true"})
        hub.delete(f"{hub.base}/groups/{name}")
