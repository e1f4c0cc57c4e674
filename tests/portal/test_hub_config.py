"""hub_config/jupyterhub_config.py, loaded the way JupyterHub loads it."""

import yaml
from traitlets.config.loader import PyFileConfigLoader

from portal.launcher import HUB_CONFIG
from tests.conftest import TEST_CONFIG


def load_hub_config(tmp_path, monkeypatch, portal_yaml: dict):
    path = tmp_path / "portal.yaml"
    path.write_text(yaml.safe_dump(portal_yaml))
    monkeypatch.setenv("AIPORTAL_CONFIG", str(path))
    monkeypatch.setenv("AIPORTAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AIPORTAL_ENGINE", "local")  # as `aiportal up` hands its choice over; no engine needed
    return PyFileConfigLoader(HUB_CONFIG.name, str(HUB_CONFIG.parent)).load_config()


def test_native_auth_roles_and_service(tmp_path, monkeypatch):
    c = load_hub_config(tmp_path, monkeypatch, TEST_CONFIG)
    assert c.JupyterHub.authenticator_class == "portal.auth.PortalAuthenticator"
    assert c.PortalAuthenticator.bootstrap_admin == "admin"
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["team-admin-team-a"]["users"] == ["alice"]
    assert "custom:portal:admin!group=team-a" in roles["team-admin-team-a"]["scopes"]
    # read-only hub scopes only: a hub write scope would let a team admin rewrite its limits
    assert {s.split("!")[0] for s in roles["team-admin-team-a"]["scopes"]} == {
        "custom:portal:admin", "read:groups", "list:users"}
    assert "access:services" in roles["user"]["scopes"]
    service = c.JupyterHub.services[0]
    assert service["name"] == "portal"
    assert not any("S3" in k or "AWS" in k for k in service["environment"])  # admin keys stay in files
    assert "load_groups" not in c.JupyterHub  # teams are seeded by the service, not load_groups


def test_gitlab_auth_is_selectable(tmp_path, monkeypatch):
    cfg = dict(TEST_CONFIG, auth={"type": "gitlab", "gitlab": {
        "url": "https://gitlab.example.org", "client_id": "id", "client_secret": "secret",
        "allowed_groups": ["radiology"]}})
    c = load_hub_config(tmp_path, monkeypatch, cfg)
    assert c.JupyterHub.authenticator_class == "portal.gitlab_login.PortalGitLabAuthenticator"
    assert c.PortalGitLabAuthenticator.gitlab_url == "https://gitlab.example.org"
    assert c.PortalGitLabAuthenticator.allowed_gitlab_groups == {"radiology"}
    assert "enable_auth_state" not in c.PortalGitLabAuthenticator  # the platform token acts: no tokens kept
    assert "PortalAuthenticator" not in c
