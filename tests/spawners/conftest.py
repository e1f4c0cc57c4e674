"""Fixtures for server tests.

- `stop_all`: after the test, stops and deletes every server of the session portal and
  checks that no container of the portal is left (nothing orphaned).
"""

import pytest

from tests.spawners.servers import containers, hub


@pytest.fixture
def stop_all(portal, token):
    yield
    s = hub(portal, token, "admin")
    for user in s.get(f"{s.base}/users", params={"include_stopped_servers": 1}).json():
        for name in user["servers"]:
            path = f"servers/{name}" if name else "server"
            r = s.delete(f"{s.base}/users/{user['name']}/{path}", json={"remove": bool(name)})
            assert r.status_code in (202, 204), r.text
    left = [(c["Names"], c["State"]) for c in containers(portal)]
    assert left == [], f"containers left after the servers stopped: {left}"
