"""Without a container engine: servers are local processes, and the portal says so."""

import requests

from portal.tokens import new_token
from tests.conftest import TEST_CONFIG
from tests.spawners.servers import start, stop, wait_ready


def logged_in(p, user, password) -> requests.Session:
    """A browser-like session: the login form with its xsrf cookie."""
    s = requests.Session()
    s.get(f"{p.url}hub/login")
    r = s.post(f"{p.url}hub/login", data={"username": user, "password": password,
                                          "_xsrf": s.cookies["_xsrf"]})
    assert r.ok and "/hub/login" not in r.url, r.url
    return s


def test_local_fallback_is_said_on_the_spawn_page_and_in_the_log(portal_factory):
    p = portal_factory({**TEST_CONFIG, "spawner": {"backend": "local"}})
    assert "servers:    local processes (spawner.backend is local in portal.yaml)" in p.banner()

    admin = logged_in(p, "admin", p.data.admin_password("admin"))
    form = admin.get(f"{p.url}hub/spawn/bob/x").text  # an admin starting a server for bob
    assert ('<div class="alert alert-info" id="spawn-notice">Servers run as local processes of the '
            "portal&#x27;s machine, not in containers (spawner.backend is local in portal.yaml): "
            "no isolation and no GPUs.</div>") in form

    bob = requests.Session()
    bob.headers["Authorization"] = f"token {new_token(p.data.root, 'bob', str(p.config_path))}"
    bob.base = f"{p.url}hub/api"
    r = start(bob, "bob", "gpu", "team-a", "gpu")
    assert r.status_code == 400 and r.json()["message"].startswith(
        "profile 'gpu' needs GPUs, which only containers get. Servers run as local processes")
    assert start(bob, "bob", "cpu", "team-a", "cpu").status_code in (201, 202)
    wait_ready(bob, "bob", "cpu")
    status = bob.get(f"{p.url}user/bob/cpu/api/status", allow_redirects=False)
    assert status.status_code == 200 and "started" in status.json(), status.text
    stop(bob, "bob", "cpu")
    log = (p.data.root / "logs" / "jupyterhub.log").read_text()
    assert "bob:cpu: Servers run as local processes" in log
