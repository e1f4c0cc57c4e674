"""The apps API on the session portal, which loads the built-in jupyterlab and
tests/portal/apps: team-a-tool (team-a only, HTML in its name) and a broken file."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tests.conftest import ROOT
from tests.http import TimedSession


def get(api, user: str, path: str):
    session = api(user)
    return session.get(f"{session.base}{path}")


def test_a_member_sees_the_apps_of_their_teams_with_their_forms(api):
    r = get(api, "bob", "/apps")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"items"}  # no broken files, paths or declared access for members
    desktop, lab, label_studio, tool = body["items"]  # the built-ins (by file name), then the directory's
    assert (desktop["id"], desktop["run"], label_studio["id"]) == (
        "desktop", {"image": "localhost/aiportal-desktop:latest", "cpu": 2, "memory": 4 * 2**30, "gpus": 0},
        "label-studio")
    assert (lab["id"], lab["teams"], lab["url"], lab["run"]) == ("jupyterlab", ["team-a"], "/lab",
                                                                 {"profile_field": "profile"})
    assert lab["form"][0] == {"id": "profile", "kind": "profile", "label": "Profile", "mode": "dev", "default": None,
                              "help": "The image and resources of the server, from those your team may use.",
                              "profiles": {"team-a": ["cpu", "gpu"]}}
    assert lab["form"][1] | {"help": ""} == {"id": "hours", "kind": "hours", "label": "Hours", "help": "",
                                             "default": 8, "min": 1, "max": 72}
    assert (tool["id"], tool["teams"], tool["walltime"], tool["idle_timeout"]) == (
        "team-a-tool", ["team-a"], {"default_hours": 2, "max_hours": 4}, 1800)
    assert [f["kind"] for f in tool["form"]] == ["hours", "number", "select", "text"]
    assert tool["form"][2]["choices"] == [{"value": "single", "label": "single"},
                                          {"value": "grid", "label": "Grid of four"}]
    assert not {"access", "path"} & (set(lab) | set(tool))


def test_html_in_an_app_name_is_data_in_json(api):
    """The API answers JSON (never sniffed as HTML); pages escape names when they show them."""
    r = get(api, "bob", "/apps/team-a-tool")
    assert r.json()["name"] == "Slide <b>viewer</b> <script>alert(1)</script>"
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_another_teams_app_is_the_same_404_as_no_app(api):
    carol = [item["id"] for item in get(api, "carol", "/apps").json()["items"]]
    assert carol == ["desktop", "jupyterlab", "label-studio"]
    lab = get(api, "carol", "/apps/jupyterlab").json()
    assert lab["teams"] == ["team-b"] and lab["form"][0]["profiles"] == {"team-b": ["cpu", "missing", "tiny"]}
    hidden, missing = get(api, "carol", "/apps/team-a-tool"), get(api, "carol", "/apps/no-such-app")
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json() == {"status": 404, "message": "no app 'team-a-tool'"}
    assert missing.json() == {"status": 404, "message": "no app 'no-such-app'"}


def test_operators_see_every_app_its_access_and_the_broken_files(api):
    body = get(api, "admin", "/apps").json()
    assert [(a["id"], a["teams"], a["access"]) for a in body["items"]] == [
        ("desktop", [], "all"), ("jupyterlab", [], "all"), ("label-studio", [], "all"),
        ("team-a-tool", [], ["team-a"])]  # admin is in no team
    assert body["items"][3]["path"].endswith("tests/portal/apps/team-a-tool.yaml")
    [broken] = body["broken"]
    assert broken["path"].endswith("tests/portal/apps/broken-bounds.yaml")
    assert broken["problems"] == ["walltime.default_hours: 10 is above max_hours (4)"]
    assert get(api, "admin", "/apps/broken-bounds").status_code == 404
    assert get(api, "admin", "/apps/team-a-tool").json()["access"] == ["team-a"]


@pytest.mark.parametrize("app_id", ["..%2F..%2Fhub%2Fapi", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "JUPYTERLAB",
                                    "jupyterlab%00", "x" * 5000, "%25s%25d", "team-a-tool%2F"])
def test_hostile_app_ids_are_json_404s(api, app_id):
    r = get(api, "bob", f"/apps/{app_id}")
    assert r.status_code == 404 and r.headers["Content-Type"] == "application/json", r.text
    assert r.json()["message"].startswith("no ") and len(r.text) < 400


def test_apps_need_a_login(portal):
    for path in ("/apps", "/apps/jupyterlab"):
        r = TimedSession().get(f"{portal.url}services/portal/api/v1{path}")
        assert r.status_code == 401 and r.json()["status"] == 401


def test_a_broken_app_file_is_logged_at_start(portal):
    log = (portal.data.root / "logs" / "jupyterhub.log").read_text(errors="replace")
    assert "broken-bounds.yaml not loaded: walltime.default_hours: 10 is above max_hours (4)" in log
    assert "apps: desktop, jupyterlab, label-studio, team-a-tool" in log


def test_answers_match_the_openapi_document(api):
    """What members and operators get is what the document promises (schemathesis checks it
    too, on the fuzz portal)."""
    doc = get(api, "bob", "/openapi.json").json()
    registry = Registry().with_resource("urn:doc", Resource.from_contents(
        {**doc, "$schema": "https://json-schema.org/draft/2020-12/schema"}))
    for user in ("bob", "admin"):
        for path, schema in (("/apps", "AppList"), ("/apps/jupyterlab", "App")):
            validator = Draft202012Validator({"$ref": f"urn:doc#/components/schemas/{schema}"}, registry=registry)
            errors = [e.message for e in validator.iter_errors(get(api, user, path).json())]
            assert errors == [], (user, path, errors)


def test_an_apps_own_svg_icon_is_served_sandboxed_to_who_may_see_the_app(api):
    r = get(api, "bob", "/apps/team-a-tool/icon")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/svg+xml"
    assert r.content == (ROOT / "tests" / "portal" / "apps" / "icons" / "slide.svg").read_bytes()
    assert "sandbox" in r.headers["Content-Security-Policy"] and "default-src 'none'" in r.headers[
        "Content-Security-Policy"]
    assert get(api, "carol", "/apps/team-a-tool/icon").status_code == 404  # not carol's app
    builtin = get(api, "bob", "/apps/jupyterlab/icon")
    assert builtin.status_code == 404 and "built-in icon 'jupyter'" in builtin.json()["message"]
