"""Seeding teams from portal.yaml: the three-way merge, and a real restart."""

import copy

import requests

from portal.teams import merge_seed
from tests.conftest import TEST_CONFIG


def test_first_seed_takes_config():
    desired = {"display_name": "A", "quota": {"gpus": 2}}
    assert merge_seed({}, desired) == {**desired, "seeded": desired}


def test_runtime_edit_survives_unchanged_config():
    desired = {"display_name": "A", "quota": {"gpus": 2, "cpu": 4}}
    current = {"display_name": "Edited", "quota": {"gpus": 5, "cpu": 4}, "seeded": desired}
    merged = merge_seed(current, desired)
    assert merged["display_name"] == "Edited" and merged["quota"] == {"gpus": 5, "cpu": 4}


def test_config_change_wins_for_that_key_only():
    before = {"display_name": "A", "quota": {"gpus": 2, "cpu": 4}}
    after = {"display_name": "A", "quota": {"gpus": 2, "cpu": 16, "memory": 10}}
    current = {"display_name": "Edited", "quota": {"gpus": 5, "cpu": 4}, "seeded": before}
    merged = merge_seed(current, after)
    assert merged["display_name"] == "Edited"
    assert merged["quota"] == {"gpus": 5, "cpu": 16, "memory": 10}
    assert merged["seeded"] == after


def test_key_removed_from_config_is_dropped_unless_edited():
    before = {"quota": {"gpus": 2, "cpu": 4}}
    merged = merge_seed({"quota": {"gpus": 2, "cpu": 8}, "seeded": before}, {"quota": {}})
    assert merged["quota"] == {"cpu": 8}


def test_a_stored_bucket_is_dropped_never_used():
    """Older versions kept `bucket` in properties, where a hub API write could point it at
    another team's bucket; the bucket is derived from the name now."""
    desired = {"display_name": "A", "quota": {}}
    merged = merge_seed({"bucket": "team-b", "seeded": {**desired, "bucket": "team-a"}}, desired)
    assert "bucket" not in merged and "bucket" not in merged["seeded"]


def test_hub_groups_that_cannot_be_teams_are_skipped(portal, api, token):
    """A group made on the hub's admin page with a name no bucket can have is not a team:
    it is skipped (with one warning), and the portal keeps working."""
    hub = f"{portal.url}hub/api"
    admin = {"Authorization": f"token {token('admin')}"}
    for name in ("ab", "Bad_Group"):
        assert requests.post(f"{hub}/groups/{name}", headers=admin, timeout=10).status_code == 201
    try:
        r = api("admin").get(f"{api('admin').base}/teams", timeout=10)
        assert r.status_code == 200
        names = [t["name"] for t in r.json()["items"]]
        assert "team-a" in names and "ab" not in names and "Bad_Group" not in names
        assert requests.get(f"{portal.url}services/portal/health", timeout=10).json() == {"status": "ok"}
        log = (portal.data.root / "logs" / "jupyterhub.log").read_text()
        assert "hub group 'ab' is not a portal team" in log
    finally:
        for name in ("ab", "Bad_Group"):
            requests.delete(f"{hub}/groups/{name}", headers=admin, timeout=10)


def test_restart_keeps_users_teams_and_edits_and_applies_config(portal_factory, tmp_path):
    config = copy.deepcopy(TEST_CONFIG)
    data_dir = tmp_path / "keep"
    data_dir.mkdir()
    p = portal_factory(config, data_dir)
    from portal.tokens import new_token
    admin = {"Authorization": f"token {new_token(p.data.root, 'admin', str(p.config_path))}"}
    base = f"{p.url}services/portal/api/v1"
    assert requests.patch(f"{base}/teams/team-a", headers=admin,
                          json={"display_name": "Renamed in portal"}, timeout=30).ok
    assert requests.delete(f"{base}/teams/team-a/members/bob", headers=admin, timeout=30).ok
    hub = f"{p.url}hub/api"
    assert requests.post(f"{hub}/groups/made-in-hub", headers=admin, timeout=30).status_code == 201
    assert requests.post(f"{hub}/users/dave", headers=admin, timeout=30).status_code == 201
    p.stop()

    config["teams"][0]["quota"]["gpus"] = 4          # changed in portal.yaml: applied
    config["teams"][1]["members"].append("erin")     # new member in portal.yaml: added
    p2 = portal_factory(config, data_dir)
    assert p2.data.admin_password("admin") == p.data.admin_password("admin")
    admin = {"Authorization": f"token {new_token(p2.data.root, 'admin', str(p2.config_path))}"}
    base = f"{p2.url}services/portal/api/v1"
    team_a = requests.get(f"{base}/teams/team-a", headers=admin, timeout=30).json()
    assert team_a["display_name"] == "Renamed in portal"
    assert team_a["quota"]["gpus"] == 4
    assert "bob" not in team_a["members"]
    assert "erin" in requests.get(f"{base}/teams/team-b", headers=admin, timeout=30).json()["members"]
    names = [t["name"] for t in requests.get(f"{base}/teams", headers=admin, timeout=30).json()["items"]]
    assert "made-in-hub" in names
    assert requests.get(f"{p2.url}hub/api/users/dave", headers=admin, timeout=30).status_code == 200
