"""Spawning through the hub REST API with {"team", "profile"} user options."""

from tests.spawners.servers import hub, start, stop, wait_ready


def test_refused_options_are_400_with_the_reason(portal, token, stop_all):
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


def test_spawn_allowed_profile_and_reach_it_through_the_proxy(portal, token, stop_all):
    s = hub(portal, token, "bob")
    r = start(s, "bob", "work", "team-a", "cpu")
    assert r.status_code in (201, 202), r.text
    srv = wait_ready(s, "bob", "work")
    assert srv["user_options"] == {"team": "team-a", "profile": "cpu"}
    status = s.get(f"{portal.url}user/bob/work/api/status", allow_redirects=False)
    assert status.status_code == 200 and "started" in status.json(), status.text
    assert (portal.data.home("bob") / "src").is_dir()
    stop(s, "bob", "work")
