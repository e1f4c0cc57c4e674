"""The built-in Label Studio app (images/label-studio) on the session portal with real
Podman: its page and assets load through the hub's proxy at the session's /label-studio/,
and an annotation made through its REST API survives a stop and a relaunch of the session
(its data is in the user's home, ~/label-studio)."""

from __future__ import annotations

import re
import time
import uuid

from tests.spawners.servers import hub

START_TIMEOUT = 180  # the first start of a new home copies the migrated database
LABEL_CONFIG = ('<View><Text name="t" value="$text"/><Choices name="c" toName="t">'
                '<Choice value="yes"/><Choice value="no"/></Choices></View>')


def wait_state(api, name, state) -> dict:
    s = api("bob")
    deadline = time.monotonic() + START_TIMEOUT
    while (session := s.get(f"{s.base}/sessions/{name}").json())["state"] != state:
        assert time.monotonic() < deadline, session
        time.sleep(0.5)
    return session


def credentials(portal) -> dict:
    path = portal.data.home("bob") / "label-studio" / "credentials"
    assert path.stat().st_mode & 0o777 == 0o600
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[0] != "#")


def label_studio(portal, token, session, creds):
    """A client of Label Studio through the proxy: the hub token for the proxy, Label
    Studio's own token in X-Api-Key (its middleware takes it from there)."""
    s = hub(portal, token, "bob")
    s.headers["X-Api-Key"] = creds["LABEL_STUDIO_USER_TOKEN"]
    s.base = f"{portal.url}{session['connect_url'].lstrip('/')}api"
    return s


def test_label_studio_loads_through_the_proxy_and_keeps_an_annotation_across_a_restart(api, portal, token):
    s = api("bob")
    r = s.post(f"{s.base}/sessions", json={"app": "label-studio", "hours": 1})
    assert r.status_code == 202, r.text
    name = r.json()["name"]
    try:
        session = wait_state(api, name, "running")
        assert session["connect_url"] == f"/user/bob/{name}/label-studio/"
        page = hub(portal, token, "bob").get(f"{portal.url}{session['connect_url'].lstrip('/')}", timeout=120)
        assert page.status_code == 200 and "<title>Label Studio</title>" in page.text, page.status_code
        assert page.url.startswith(f"{portal.url}user/bob/{name}/label-studio/user/login")
        assets = re.findall(r'(?:href|src)="([^"]+/static/[^"]+)"', page.text)
        assert assets, page.text[:2000]
        for asset in assets:
            assert hub(portal, token, "bob").get(asset).status_code == 200, asset

        ls = label_studio(portal, token, session, credentials(portal))
        title = f"scans-{uuid.uuid4().hex[:6]}"
        project = ls.post(f"{ls.base}/projects", json={"title": title, "label_config": LABEL_CONFIG})
        assert project.status_code == 201, project.text
        task = ls.post(f"{ls.base}/tasks", json={"project": project.json()["id"], "data": {"text": "a scan report"}})
        assert task.status_code == 201, task.text
        result = [{"from_name": "c", "to_name": "t", "type": "choices", "value": {"choices": ["yes"]}}]
        made = ls.post(f"{ls.base}/tasks/{task.json()['id']}/annotations/", json={"result": result})
        assert made.status_code == 201, made.text

        assert s.delete(f"{s.base}/sessions/{name}").status_code == 202
        wait_state(api, name, "completed")
        assert s.post(f"{s.base}/sessions/{name}/relaunch").status_code == 202
        session = wait_state(api, name, "running")
        ls = label_studio(portal, token, session, credentials(portal))
        kept = ls.get(f"{ls.base}/tasks/{task.json()['id']}/annotations/", timeout=120)
        assert kept.status_code == 200, kept.text
        assert [a["result"][0]["value"] for a in kept.json()] == [{"choices": ["yes"]}]
        assert title in [p["title"] for p in ls.get(f"{ls.base}/projects").json()["results"]]
        # without Label Studio's token the API is closed, even to the session's owner
        anonymous = hub(portal, token, "bob").get(f"{ls.base}/projects")
        assert anonymous.status_code == 401, anonymous.status_code
    finally:
        s.delete(f"{s.base}/sessions/{name}")
        wait_state(api, name, "completed")
        s.delete(f"{s.base}/sessions/{name}")
