"""Batch jobs need a container engine on the portal's machine (docs/jobs.md); where servers
are pods they are not offered: the API answers 503 saying why, the Jobs page too, and the
team page shows no Jobs button (a feature shown is a feature that works)."""

from __future__ import annotations

from tests.http import TimedSession


def test_on_kubernetes_jobs_are_not_offered_and_say_why(kube_portal, kube_token):
    s = TimedSession()
    s.headers["Authorization"] = f"token {kube_token('bob')}"
    base = f"{kube_portal.url}services/portal"
    r = s.post(f"{base}/api/v1/teams/team-a/jobs", json={"profile": "cpu", "command": "true"})
    assert r.status_code == 503 and "need a container engine" in r.json()["message"], r.text
    r = s.get(f"{base}/teams/team-a/jobs")
    assert r.status_code == 503 and "need a container engine" in r.text
    team = s.get(f"{base}/teams/team-a")
    assert team.status_code == 200 and 'id="datasets-link"' in team.text
    assert 'id="jobs-link"' not in team.text
