"""Jobs through the portal API on the Slurm backend (a real slurmctld, slurmd and munge on
this machine, whose node runs the job's container with Podman): the same states, exit codes,
logs and outputs as on the containers backend; with the controller down a job waits, saying
why, and runs once the controller is back — nothing lost."""

from __future__ import annotations

import io
import time

import pytest

from portal.storage import store_from_config
from portal.tokens import new_token
from tests.conftest import TEST_CONFIG
from tests.http import TimedSession

FINISHED = ("succeeded", "failed", "timeout", "cancelled")


@pytest.fixture(scope="module")
def site(slurm, tmp_path_factory):
    """A portal whose jobs go to the session's Slurm, and bob's API session on it."""
    from portal.launcher import Portal
    from tests.conftest import free_port, remove_containers, write_config

    data = tmp_path_factory.mktemp("slurm-portal")
    config = {**TEST_CONFIG, "jobs": {"backend": "slurm", "slurm": {"conf": str(slurm.conf)}, "poll_interval": 1}}
    portal = Portal(data, str(write_config(data / "portal.yaml", config)), port=free_port(), quiet=True).start()
    s = TimedSession()
    s.headers["Authorization"] = f"token {new_token(portal.data.root, 'bob', str(portal.config_path))}"
    s.base = f"{portal.url}services/portal/api/v1/teams/team-a/jobs"
    s.portal = portal
    yield s
    portal.stop()
    remove_containers(portal)


def wait(s, job_id, states=FINISHED, timeout=120) -> dict:
    deadline = time.monotonic() + timeout
    while (job := s.get(f"{s.base}/{job_id}").json())["state"] not in states:
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    return job


def test_a_slurm_job_reads_inputs_writes_outputs_and_succeeds(site):
    store = store_from_config(site.portal.config, site.portal.data.root)
    store.ensure_bucket("team-a")
    client = store.client()
    client.put_object("team-a", "slurm-in/x.txt", io.BytesIO(b"x\n"), 2)
    r = site.post(site.base, json={"profile": "cpu", "inputs": ["slurm-in/"], "outputs": "slurm-out/",
                                   "command": "cat /data/in/slurm-in/x.txt > /data/out/y.txt; echo on slurm"})
    assert r.status_code == 201 and r.json()["backend"] == "slurm", r.text
    job = wait(site, r.json()["id"])
    assert (job["state"], job["exit_code"]) == ("succeeded", 0), job
    assert site.get(f"{site.base}/{job['id']}/logs").text == "on slurm\n"
    assert client.get_object("team-a", "slurm-out/y.txt").read() == b"x\n"


def test_a_failing_slurm_job_reports_its_exit_code(site):
    job = wait(site, site.post(site.base, json={"profile": "cpu", "command": "echo bad; exit 4"}).json()["id"])
    assert (job["state"], job["exit_code"], job["reason"]) == ("failed", 4, "exit"), job
    assert "bad" in job["message"]


def test_with_the_controller_down_a_job_waits_and_runs_when_it_is_back(site, slurm):
    slurm.stop_controller()
    try:
        job = site.post(site.base, json={"profile": "cpu", "command": "echo after the outage"}).json()
        deadline = time.monotonic() + 60
        while not (seen := site.get(f"{site.base}/{job['id']}").json())["message"].startswith("waiting: "):
            assert time.monotonic() < deadline, seen
            time.sleep(0.5)
        assert seen["state"] in ("queued", "staging"), seen  # kept, not failed
    finally:
        slurm.start_controller()
    done = wait(site, job["id"], timeout=120)
    assert (done["state"], done["exit_code"]) == ("succeeded", 0), done
    assert site.get(f"{site.base}/{job['id']}/logs").text == "after the outage\n"
