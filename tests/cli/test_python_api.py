"""The Python API (aiportal/) on the session portal: what the CLI tests do not reach —
a job's wait timeout, following its logs, cancelling it, refusals as PortalError with the
field at fault, and a dev start refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aiportal import JobTimeout, Portal, PortalError, PortalUnreachable
from portal.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
needs_jobs = pytest.mark.skipif(not (ROOT / "portal" / "handlers" / "jobs.py").exists(), reason="no jobs API yet")


@pytest.fixture
def bob(portal, token) -> Portal:
    return Portal(portal.url, token("bob"), timeout=60)


def test_teams_and_refusals(bob, portal):
    assert [t["name"] for t in bob.teams()] == ["team-a"]
    assert bob.user == "bob"
    with pytest.raises(PortalError) as e:
        bob.data.ls("team-b")
    assert e.value.status == 404
    with pytest.raises(PortalError) as e:
        bob.data.share("team-a", "../x", expires="1h")
    assert e.value.status == 400
    with pytest.raises(PortalUnreachable):
        Portal(f"http://127.0.0.1:{free_port()}/", "x", timeout=5).teams()
    with pytest.raises(PortalError) as e:
        Portal(portal.url, "wrong-token", timeout=30).teams()
    assert e.value.status == 401


@needs_jobs
def test_job_wait_follow_cancel(bob):
    with pytest.raises(PortalError) as e:
        bob.jobs.submit(team="team-a", profile="cpu", command=["true"], resources={"memory": "lots"})
    assert e.value.status == 400 and e.value.field == "resources.memory" and "lots" in e.value.message

    job = bob.jobs.submit({"team": "team-a", "profile": "cpu", "walltime": "5m"},
                          command="echo first; sleep 2; echo second; sleep 300")
    assert job.state in ("queued", "staging", "running") and not job.finished
    with pytest.raises(JobTimeout):
        job.wait(timeout=1, poll=0.2)
    lines = job.logs(follow=True)
    deadline = time.monotonic() + 120
    seen = []
    for line in lines:  # the stream stays open while the job runs
        seen.append(line)
        if "second" in line or time.monotonic() > deadline:
            break
    lines.close()
    assert seen[:1] == ["first"] and "second" in seen
    assert bob.jobs.get("team-a", job.id).state == "running"
    job.cancel()
    assert job.wait(timeout=120, poll=0.5).state == "cancelled" and not job.succeeded
    with pytest.raises(PortalError) as e:
        job.cancel()
    assert e.value.status == 409
    assert job.id in [j.id for j in bob.jobs.list("team-a", state="cancelled")]
