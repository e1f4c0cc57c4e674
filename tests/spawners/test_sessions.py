"""App sessions' rules in the spawner, as pure functions: user_options → the resolved
session, and the record that says when a session ends and why it ended."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest

from portal import config as portal_config
from portal.apps import load_catalog
from spawners.profiles import ProfileError
from spawners.sessions import SessionRecord, resolve_session, stop_reason
from tests.conftest import ROOT, TEST_CONFIG

CFG = portal_config.validate(TEST_CONFIG, "test")
PROFILES = {name: asdict(p) for name, p in CFG.profiles.items()}
APPS = load_catalog(ROOT / "tests" / "portal" / "apps", CFG.profiles).apps
TEAMS = {"team-a": {"profiles": ["cpu", "gpu", "prod"], "quota": {"gpus": 2}}}
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_a_profile_app_runs_in_the_chosen_profile_with_every_value_filled_in():
    resolved, chosen = resolve_session({"app": "jupyterlab", "values": {"hours": 2}}, TEAMS, PROFILES, APPS)
    assert (resolved.team, resolved.profile, resolved.image, resolved.mode, resolved.default_url) == (
        "team-a", "cpu", "localhost/aiportal-dev:latest", "dev", "/lab")
    assert resolved.session == {"app": "jupyterlab", "url": "/lab", "hours": 2, "idle_timeout": 0,
                                "values": {"profile": "cpu", "hours": 2}}
    assert chosen == {"app": "jupyterlab", "team": "team-a", "profile": "cpu",
                      "values": {"profile": "cpu", "hours": 2}}
    # the chosen options resolve to the same session: a relaunch runs what ran before
    assert resolve_session(chosen, TEAMS, PROFILES, APPS) == (resolved, chosen)


@pytest.mark.parametrize(("options", "message"), [
    ({"app": "jupyterlab", "values": {"hours": 0}}, "hours: 0 is below the minimum of 1"),
    ({"app": "jupyterlab", "values": ["hours"]}, "values: give the form's field values as an object"),
    ({"app": "jupyterlab", "values": {"team": "team-a"}}, "values: give the form's field values as an object"),
    ({"app": 7}, "app: 7 is not an app of this portal"),
    ({"app": "jupyterlab", "team": "team-b"}, "team: 'team-b' is not one of your teams"),
    ({"app": "team-a-tool", "profile": "gpu"}, "profile: a session of app 'team-a-tool' runs in 'cpu', not 'gpu'"),
    ({"app": "jupyterlab", "promotion": 3}, "unknown user option(s) of an app session: promotion"),
])
def test_refused_session_options_name_the_field(options, message):
    with pytest.raises(ProfileError) as e:
        resolve_session(options, TEAMS, PROFILES, APPS)
    assert message in str(e.value)


def test_the_record_ends_at_the_walltime_and_keeps_the_first_launch():
    session = {"hours": 2, "idle_timeout": 1800}
    first = SessionRecord.begin(None, session, 3600, "node1", NOW)
    assert (first.created, first.ends_at) == ("2026-11-30T09:00:00Z", "2026-11-30T11:00:00Z")
    assert not first.over(NOW + timedelta(hours=1, minutes=59)) and first.over(NOW + timedelta(hours=2))
    first.end("walltime", NOW + timedelta(hours=2, seconds=5))
    assert (first.reason, first.message, first.ended) == ("walltime", "Walltime of 2 h reached", "2026-11-30T11:00:05Z")
    assert not first.over(NOW + timedelta(hours=3))  # ended: never over again
    later = SessionRecord.begin(first.as_state(), session, 3600, "node1", NOW + timedelta(days=1))
    assert (later.created, later.started, later.ended) == (first.created, "2026-12-01T09:00:00Z", None)


def test_a_stop_after_the_apps_idle_time_is_told_as_idle():
    record = SessionRecord.begin(None, {"hours": 8, "idle_timeout": 1800}, 3600, "node1", NOW)
    assert stop_reason(record, (NOW - timedelta(minutes=31)).replace(tzinfo=None), NOW) == "idle"
    assert stop_reason(record, NOW - timedelta(minutes=5), NOW) == "stopped"
    never = SessionRecord.begin(None, {"hours": 8, "idle_timeout": 0}, 3600, "node1", NOW)
    assert stop_reason(never, NOW - timedelta(days=3), NOW) == "stopped"
    record.end("idle", NOW)
    assert record.message == "Stopped after 30 min idle"
