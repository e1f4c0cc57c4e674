"""Idle culling's configuration: per-profile timeouts in portal.yaml, the culler service the
hub config declares (least scopes), the culler's own config file deciding per server, and
the time left the home page shows — all without a running hub."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from jupyterhub_idle_culler import IdleCuller

from portal import config, culling
from portal.handlers.pages import server_cards
from tests.conftest import TEST_CONFIG
from tests.portal.test_hub_config import load_hub_config
from tests.portal.test_pages_templates import HOSTILE, Elements, Handler, render

CULLER_CONFIG = os.path.join(os.path.dirname(config.__file__), os.pardir, "hub_config", "idle_culler_config.py")
PROFILES = {"gpu": {"image": "img", "gpus": 1, "idle_timeout": "30m"}, "cpu": {"image": "img"},
            "keep": {"image": "img", "idle_timeout": 0}}
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def server(profile, idle: timedelta, ready=True) -> dict:
    """A hub server model, idle for `idle` at NOW (the hub writes times with a Z)."""
    stamp = (NOW - idle).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"user_options": {"team": "team-a", "profile": profile}, "ready": ready,
            "last_activity": stamp, "started": stamp}


def test_a_profiles_idle_timeout_overrides_the_culling_default_and_zero_is_never():
    cfg = config.validate({"culling": {"idle_timeout": "8h"}, "profiles": PROFILES})
    assert {n: p.idle_timeout for n, p in cfg.profiles.items()} == {"gpu": 1800, "cpu": 8 * 3600, "keep": 0}
    assert culling.limits(cfg.profiles) == {"gpu": 1800, "cpu": 8 * 3600}


def test_culling_off_or_no_timeouts_means_no_limits():
    off = config.validate({"culling": {"enabled": False, "idle_timeout": "8h"}, "profiles": PROFILES})
    assert culling.limits(off.profiles) == {}
    default = config.validate({"profiles": {"cpu": {"image": "img"}}})  # the schema's default: never
    assert culling.limits(default.profiles) == {}


@pytest.mark.parametrize("culling_section,profile,expected", [
    ({}, {"idle_timeout": "30 minutes"}, "profiles.gpu.idle_timeout: '30 minutes' is not a duration: whole seconds"),
    ({}, {"idle_timeout": -5}, "profiles.gpu.idle_timeout: -5 is not a duration"),
    ({"idle_timeout": "2w"}, {}, "culling.idle_timeout: '2w' is not a duration"),
    ({"cull_every": 0}, {}, "culling.cull_every: 0 is less than the minimum of 1"),
    ({"max_age": 3600}, {}, "culling: unknown key ('max_age' was unexpected)"),
])
def test_a_bad_culling_setting_names_its_field(tmp_path, culling_section, profile, expected):
    path = tmp_path / "portal.yaml"
    path.write_text(yaml.safe_dump({"culling": culling_section, "profiles": {"gpu": {"image": "img", **profile}}}))
    r = subprocess.run([sys.executable, "-m", "portal.cli", "config", "check", str(path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1
    assert expected in r.stderr, r.stderr


def test_the_hub_runs_the_culler_with_the_profiles_limits_and_least_scopes(tmp_path, monkeypatch):
    cfg = {**TEST_CONFIG, "culling": {"cull_every": 2},
           "profiles": {**TEST_CONFIG["profiles"], "gpu": {**TEST_CONFIG["profiles"]["gpu"], "idle_timeout": 5},
                        "cpu": {**TEST_CONFIG["profiles"]["cpu"], "idle_timeout": "1h"}}}
    c = load_hub_config(tmp_path, monkeypatch, cfg)
    service = next(s for s in c.JupyterHub.services if s["name"] == culling.SERVICE)
    command = service["command"]
    assert command[command.index("-m", 3):][:2] == ["-m", "jupyterhub_idle_culler"]
    assert "--cull-every=2" in command and not any(a.startswith("--timeout") for a in command)
    config_file = next(a.split("=", 1)[1] for a in command if a.startswith("--config="))
    assert os.path.samefile(config_file, CULLER_CONFIG)
    # and each app's own (the built-in desktop 2h and label-studio 4h, tests/portal/apps/team-a-tool.yaml 30m),
    # which comes first for its sessions
    assert culling.limits_from_env(service["environment"]) == {
        "gpu": 5, "cpu": 3600, "app:desktop": 7200, "app:label-studio": 14400, "app:team-a-tool": 1800}
    assert "url" not in service and "api_token" not in service  # no web endpoint, a token from the hub
    role = next(r for r in c.JupyterHub.load_roles if r.get("services") == [culling.SERVICE])
    # what jupyterhub-idle-culler's README lists for stopping servers; no admin:users, no admin:servers
    assert sorted(role["scopes"]) == ["delete:servers", "list:users", "read:servers", "read:users:activity"]


def test_no_culler_runs_with_culling_off_though_apps_have_idle_limits(tmp_path, monkeypatch):
    c = load_hub_config(tmp_path, monkeypatch, {**TEST_CONFIG, "culling": {"enabled": False}})
    assert culling.SERVICE not in [s["name"] for s in c.JupyterHub.services]
    assert not [r for r in c.JupyterHub.load_roles if r.get("services") == [culling.SERVICE]]


def test_the_culler_config_file_culls_each_server_by_its_profiles_limit(monkeypatch):
    """The real IdleCuller application loads hub_config/idle_culler_config.py as it does at start."""
    monkeypatch.setenv(culling.LIMITS_ENV, '{"gpu": 5, "cpu": 3600}')
    app = IdleCuller()
    app.initialize([f"--config={CULLER_CONFIG}"])
    app.load_config_file(app.config_file)
    cull = app.cull_arbiter_hook
    assert cull(inactive=timedelta(seconds=6), inactive_limit=600, server=server("gpu", timedelta(0)))
    assert not cull(inactive=timedelta(seconds=4), inactive_limit=1, server=server("gpu", timedelta(0)))
    assert not cull(inactive=timedelta(minutes=30), inactive_limit=600, server=server("cpu", timedelta(0)))
    assert cull(inactive=timedelta(hours=1), inactive_limit=600, server=server("cpu", timedelta(0)))
    # no limit: never, however long idle and whatever the culler's own --timeout
    for never in (server("prod", timedelta(0)), server("gone-profile", timedelta(0)), {"user_options": {}}, {}):
        assert not cull(inactive=timedelta(days=365), inactive_limit=1, server=never)


def test_an_app_sessions_limit_is_its_apps_and_else_its_profiles():
    limits = {"cpu": 3600, "app:viewer": 600}
    viewer = {"user_options": {"app": "viewer", "profile": "cpu", "values": {}}}
    lab = {"user_options": {"app": "lab", "profile": "cpu", "values": {}}}
    image_app = {"user_options": {"app": "tool", "values": {}}}
    assert (culling.limit_of(viewer, limits), culling.limit_of(lab, limits), culling.limit_of(image_app, limits)) == (
        600, 3600, None)


@pytest.mark.parametrize("srv,note", [
    (server("gpu", timedelta(minutes=18)), "Culled after 30 min idle; about 12 min left"),
    (server("cpu", timedelta(minutes=20)), "Culled after 2 h idle; about 1 h 40 min left"),
    (server("gpu", timedelta(minutes=29, seconds=30)), "Culled after 30 min idle; about 30 s left"),
    (server("gpu", timedelta(minutes=45)), "Culled after 30 min idle; stopping soon"),
    (server("gpu", timedelta(0), ready=False), None),  # starting: the culler does not look at it yet
    (server("keep", timedelta(days=3)), None),  # no limit: nothing shown, as nothing is enforced
    ({"ready": True, "user_options": {"profile": ["gpu"]}, "last_activity": None, "started": None}, None),
])
def test_the_time_left_is_what_the_culler_counts(srv, note):
    assert culling.time_left_note(srv, {"gpu": 1800, "cpu": 7200}, NOW) == note


def test_the_server_cards_show_names_as_text_and_a_time_left_only_under_a_limit():
    profiles = config.validate({"profiles": {"gpu": {"image": "img", "display_name": f"GPU {HOSTILE}",
                                                     "idle_timeout": "30m"}, "cpu": {"image": "img"}}}).profiles
    user = {"servers": {"train": {**server("gpu", timedelta(minutes=18)), "url": "/user/bob/train/"},
                        "": {**server("cpu", timedelta(hours=5)), "url": "/user/bob/"},
                        "next": {**server("gpu", timedelta(0), ready=False), "url": "/user/bob/next/",
                                 "pending": "spawn"}}}
    html = render("home.html", Handler("bob"), teams=[], caller=None, pending_signups=[],
                  servers=server_cards(user, profiles, NOW))
    page = Elements(html)
    assert not page.find("img", src="x")  # the operator's display name stays text
    assert [a["data-server"] for a in page.find("div", **{"class": "card h-100 server-card"})] == ["", "next", "train"]
    assert html.count('class="card-text small text-body-secondary mb-0 idle-note"') == 1
    assert "Culled after 30 min idle; about 12 min left" in html
    assert page.find("a", href="/user/bob/train/") and not page.find("a", href="/user/bob/next/")  # starting
