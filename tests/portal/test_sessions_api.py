"""App sessions through the portal API on the session portal, with real Podman: launch,
two at once, the per-app limit, refused launches that start nothing, stop, relaunch with
the same choices, remove; and the spawner's own check of a launch through the hub's API.

Apps: the built-in jupyterlab (max 2 sessions) and tests/portal/apps/team-a-tool
(team-a only, fixed profile cpu, max 1 session)."""

from __future__ import annotations

import time

import pytest

from tests.spawners.servers import containers, hub, inspect


def launch(api, user, **body):
    s = api(user)
    return s.post(f"{s.base}/sessions", json=body)


def sessions(api, user) -> list[dict]:
    s = api(user)
    r = s.get(f"{s.base}/sessions")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def wait_state(api, user, name, states, timeout=120) -> dict:
    s = api(user)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = s.get(f"{s.base}/sessions/{name}")
        assert r.status_code == 200, r.text
        if r.json()["state"] in states:
            return r.json()
        time.sleep(0.5)
    raise AssertionError(f"session {name} not {states} in {timeout} s: {r.json()}")


@pytest.fixture
def clean(api, portal, token):
    """Every session of bob and carol removed after the test, and no container left."""
    yield
    for user in ("bob", "carol"):
        s = api(user)
        for item in sessions(api, user):
            s.delete(f"{s.base}/sessions/{item['name']}")
        for item in sessions(api, user):
            wait_state(api, user, item["name"], {"completed"})
            assert s.delete(f"{s.base}/sessions/{item['name']}").status_code == 204
    assert sessions(api, "bob") == [] and containers(portal) == []


def test_launch_runs_the_app_with_the_form_values_and_connect_opens_it(api, portal, token, clean):
    r = launch(api, "bob", app="jupyterlab", hours=3)
    assert r.status_code == 202, r.text
    started = r.json()
    name = started["name"]
    assert name.startswith("jupyterlab-") and started["state"] in ("starting", "running")
    assert (started["team"], started["profile"], started["values"]) == ("team-a", "cpu",
                                                                        {"profile": "cpu", "hours": 3})
    session = wait_state(api, "bob", name, {"running"})
    assert session["connect_url"] == f"/user/bob/{name}/lab"
    created, ends = session["created"], session["ends_at"]
    hours = (time.mktime(time.strptime(ends[:19], "%Y-%m-%dT%H:%M:%S"))
             - time.mktime(time.strptime(created[:19], "%Y-%m-%dT%H:%M:%S"))) / 3600
    assert 2.99 < hours < 3.01, (created, ends)
    env = dict(e.split("=", 1) for e in inspect(portal, "bob", name)["Config"]["Env"])
    assert (env["AIPORTAL_APP"], env["AIPORTAL_FIELD_HOURS"], env["AIPORTAL_FIELD_PROFILE"]) == (
        "jupyterlab", "3", "cpu")
    s = hub(portal, token, "bob")
    lab = s.get(f"{portal.url}{session['connect_url'].lstrip('/')}", allow_redirects=False)
    assert lab.status_code == 200 and "JupyterLab" in lab.text, lab.status_code
    # what the hub's API shows: the resolved choices, as the culler and the metrics read them
    server = s.get(f"{s.base}/users/bob").json()["servers"][name]
    assert server["user_options"] == {"app": "jupyterlab", "team": "team-a", "profile": "cpu",
                                      "values": {"profile": "cpu", "hours": 3}}


def test_two_sessions_at_once_and_the_per_app_limit(api, portal, clean):
    first = launch(api, "bob", app="jupyterlab")
    tool = launch(api, "bob", app="team-a-tool", zoom=2.5, layout="grid", slide="s1.svs")
    assert first.status_code == 202 and tool.status_code == 202, (first.text, tool.text)
    for r in (first, tool):
        wait_state(api, "bob", r.json()["name"], {"running"})
    assert {s["app"] for s in sessions(api, "bob") if s["state"] == "running"} == {"jupyterlab", "team-a-tool"}
    env = dict(e.split("=", 1) for e in inspect(portal, "bob", tool.json()["name"])["Config"]["Env"])
    assert (env["AIPORTAL_FIELD_ZOOM"], env["AIPORTAL_FIELD_LAYOUT"], env["AIPORTAL_FIELD_SLIDE"]) == (
        "2.5", "grid", "s1.svs")
    again = launch(api, "bob", app="team-a-tool")
    assert again.status_code == 400 and again.json()["field"] == "app", again.text
    assert "already run 1 session(s) of Slide <b>viewer</b>" in again.json()["message"]
    assert len(sessions(api, "bob")) == 2 and len(containers(portal, user="bob")) == 2


@pytest.mark.parametrize(("user", "body", "field", "message"), [
    ("bob", {"app": "jupyterlab", "hours": 100}, "hours", "100 is above the app's maximum walltime of 72 hours"),
    ("bob", {"app": "jupyterlab", "hours": "2"}, "hours", "'2' is not a whole number"),
    ("bob", {"app": "jupyterlab", "profile": "prod"}, "profile", "'prod' is not a profile team 'team-a' may run"),
    ("bob", {"app": "jupyterlab", "team": "team-b"}, "team", "is not one of your teams"),
    ("bob", {"app": "jupyterlab", "gpus": 1}, "gpus", "app 'jupyterlab' has no such field"),
    ("bob", {"app": "team-a-tool", "zoom": 0.7}, "zoom", "0.7 is not 0.5 plus a whole number of steps of 0.5"),
    ("bob", {"app": "team-a-tool", "slide": "../../etc/passwd"}, "slide", "does not match the pattern"),
    ("carol", {"app": "team-a-tool"}, "app", "'team-a-tool' is not an app you may launch"),
    ("carol", {"app": "../hub"}, "app", "is not an app you may launch"),
    ("bob", {"app": ["jupyterlab"]}, "app", "a list is not an app you may launch"),
])
def test_a_refused_launch_names_the_field_and_starts_nothing(api, portal, clean, user, body, field, message):
    r = launch(api, user, **body)
    assert r.status_code == 400, r.text
    assert (r.json()["field"], r.json()["message"].split(": ", 1)[0]) == (field, field)
    assert message in r.json()["message"]
    assert sessions(api, user) == [] and containers(portal) == []


def test_the_hub_api_holds_a_session_to_the_same_rules(portal, token, api, clean):
    """With the user's own token, straight to the hub: another team, a value out of
    bounds or an unknown app are refused by the spawner, and nothing runs."""
    s = hub(portal, token, "bob")
    cases = [
        ({"app": "jupyterlab", "team": "team-b"}, "team: 'team-b' is not one of your teams"),
        ({"app": "jupyterlab", "values": {"hours": 1000}}, "hours: 1000 is above"),
        ({"app": "nope"}, "app: 'nope' is not an app of this portal"),
        ({"app": "team-a-tool", "values": {"slide": "x y"}}, "slide: 'x y' does not match"),
        ({"app": "jupyterlab", "profile": "gpu", "values": {"profile": "cpu"}}, "profile: a session of app"),
        ({"app": "jupyterlab", "image": "alpine"}, "unknown user option(s) of an app session: image"),
    ]
    for options, message in cases:
        r = s.post(f"{s.base}/users/bob/servers/sneaky", json=options)
        assert r.status_code == 400, r.text
        assert message in r.json()["message"], r.text
        assert not s.get(f"{s.base}/users/bob").json()["servers"].get("sneaky")
    assert containers(portal) == []
    s.delete(f"{s.base}/users/bob/servers/sneaky", json={"remove": True})


def test_stop_then_relaunch_with_the_same_choices_then_remove(api, portal, clean):
    s = api("bob")
    name = launch(api, "bob", app="team-a-tool", hours=4, zoom=3, slide="again").json()["name"]
    wait_state(api, "bob", name, {"running"})
    r = s.delete(f"{s.base}/sessions/{name}")
    assert r.status_code == 202, r.text
    done = wait_state(api, "bob", name, {"completed"})
    assert (done["reason"], done["message"], done["connect_url"], done["ends_at"]) == ("stopped", "Stopped", None, None)
    assert done["ended"] and containers(portal) == []
    assert s.post(f"{s.base}/sessions/{name}/relaunch").status_code == 202
    again = wait_state(api, "bob", name, {"running"})
    assert again["values"] == {"hours": 4, "zoom": 3, "layout": "single", "slide": "again"}
    assert again["created"] == done["created"] and again["started"] > done["started"]
    assert s.post(f"{s.base}/sessions/{name}/relaunch").status_code == 409  # it runs
    assert s.delete(f"{s.base}/sessions/{name}").status_code == 202
    wait_state(api, "bob", name, {"completed"})
    assert s.delete(f"{s.base}/sessions/{name}").status_code == 204
    assert s.get(f"{s.base}/sessions/{name}").status_code == 404


def test_another_users_session_is_not_found(api, clean):
    name = launch(api, "bob", app="jupyterlab").json()["name"]
    s = api("carol")
    assert s.get(f"{s.base}/sessions/{name}").status_code == 404
    assert s.delete(f"{s.base}/sessions/{name}").status_code == 404
    assert s.post(f"{s.base}/sessions/{name}/relaunch").status_code == 404
    assert s.get(f"{s.base}/sessions/{name}/progress").status_code == 404
    assert sessions(api, "carol") == []
    wait_state(api, "bob", name, {"running"})  # untouched


def test_progress_is_relayed_as_the_hubs_event_stream(api, clean):
    s = api("bob")
    name = launch(api, "bob", app="jupyterlab").json()["name"]
    r = s.get(f"{s.base}/sessions/{name}/progress", stream=True)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    events = [line for line in r.iter_lines(decode_unicode=True) if line.startswith("data:")]
    assert events and '"ready": true' in events[-1], events
