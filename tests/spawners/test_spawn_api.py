"""Spawning through the hub REST API with {"team", "profile"} user options."""

import time

import requests


def hub(portal, token, user):
    s = requests.Session()
    s.headers["Authorization"] = f"token {token(user)}"
    s.base = f"{portal.url}hub/api"
    return s


def wait_ready(s, user, server="", timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = s.get(f"{s.base}/users/{user}").json()
        srv = model["servers"].get(server)
        if srv and srv["ready"]:
            return srv
        if srv is None or not srv.get("pending"):
            raise AssertionError(f"server stopped: {model}")
        time.sleep(0.5)
    raise AssertionError("server not ready in time")


def test_refused_options_are_400_with_the_reason(portal, token):
    s = hub(portal, token, "bob")
    cases = [
        ({"team": "team-b", "profile": "cpu"}, "you are not a member of team 'team-b'"),
        ({"team": "team-a", "profile": "nope"}, "'nope' is not allowed for team 'team-a'"),
        ({"team": "team-a", "profile": "cpu", "image": "alpine"}, "unknown user option(s): image"),
    ]
    for options, message in cases:
        r = s.post(f"{s.base}/users/bob/servers/refused", json=options)
        assert r.status_code == 400, r.text
        assert message in r.json()["message"]
        assert s.get(f"{s.base}/users/bob").json()["servers"].get("refused") is None


def test_spawn_allowed_profile_and_reach_it_through_the_proxy(portal, token):
    s = hub(portal, token, "bob")
    r = s.post(f"{s.base}/users/bob/servers/work", json={"team": "team-a", "profile": "cpu"})
    assert r.status_code in (201, 202), r.text
    try:
        srv = wait_ready(s, "bob", "work")
        assert srv["user_options"] == {"team": "team-a", "profile": "cpu"}
        status = s.get(f"{portal.url}user/bob/work/api/status")
        assert status.status_code == 200, status.text
        assert (portal.data.home("bob") / "src").is_dir()
    finally:
        s.delete(f"{s.base}/users/bob/servers/work", json={"remove": True})
