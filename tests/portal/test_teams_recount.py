"""A group made on the hub's admin page, never opened in the portal: the background count
gives it its bucket and keys, and says nothing about it in the log, round after round."""

from __future__ import annotations

import time

import pytest

from portal.launcher import Portal
from portal.storage import store_from_config
from portal.tokens import new_token
from tests.conftest import TEST_CONFIG, free_port, write_config
from tests.http import TimedSession


@pytest.mark.timeout(300)
def test_the_recount_makes_a_hub_made_groups_bucket_without_warnings(tmp_path):
    path = write_config(tmp_path / "portal.yaml", TEST_CONFIG, usage_interval=1)
    portal = Portal(tmp_path, str(path), port=free_port(), quiet=True).start()
    try:
        hub = TimedSession()
        hub.headers["Authorization"] = f"token {new_token(portal.data.root, 'admin', str(path))}"
        assert hub.post(f"{portal.url}hub/api/groups/tl-hub-only").status_code == 201
        store = store_from_config(portal.config, portal.data.root)
        deadline = time.monotonic() + 60
        identity = store.identity_name("tl-hub-only", True)
        while not (store.client().bucket_exists("tl-hub-only") and store.keys.get(identity) is not None):
            assert time.monotonic() < deadline, "the recount did not make the hub-made group's bucket and keys"
            time.sleep(0.5)
        time.sleep(3)  # a few more rounds
        log = (tmp_path / "logs" / "jupyterhub.log").read_text(errors="replace")
        assert "could not count storage usage" not in log
        assert "NoSuchBucket" not in log
    finally:
        portal.stop()
