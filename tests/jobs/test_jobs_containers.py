"""Batch jobs on the containers backend, through the portal API, on the session portal with
real Podman and the real S3 server: inputs staged to /data/in, outputs uploaded from
/data/out, logs, exit codes, the walltime, cancelling, a missing image, bad input, a full
quota (the job waits in `queued`, saying why), and a portal restart while a job runs."""

from __future__ import annotations

import io
import time
import uuid

import pytest

from portal.storage import store_from_config
from tests.conftest import TEST_CONFIG
from tests.http import TimedSession
from tests.spawners.servers import containers

FINISHED = ("succeeded", "failed", "timeout", "cancelled")


def submit(api, user, at_team, **spec):
    s = api(user)
    return s.post(f"{s.base}/teams/{at_team}/jobs", json=spec)


def wait(api, user, team, job_id, states=FINISHED, timeout=120) -> dict:
    s = api(user)
    deadline = time.monotonic() + timeout
    while (job := s.get(f"{s.base}/teams/{team}/jobs/{job_id}").json())["state"] not in states:
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    return job


def logs(api, user, team, job_id, **params) -> str:
    s = api(user)
    r = s.get(f"{s.base}/teams/{team}/jobs/{job_id}/logs", params=params)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain"), r.text
    return r.text


@pytest.fixture(scope="module")
def bucket(portal):
    """team-a's bucket with a folder of inputs of this module's own."""
    store = store_from_config(portal.config, portal.data.root)
    store.ensure_bucket("team-a")
    client = store.client()
    folder = f"jobs-{uuid.uuid4().hex[:6]}/"
    for key, data in ((f"{folder}scans/a.txt", b"alpha\n"), (f"{folder}scans/deep/b.txt", b"beta\n")):
        client.put_object("team-a", key, io.BytesIO(data), len(data))
    client.folder = folder
    return client


def test_a_job_reads_its_inputs_writes_its_outputs_and_succeeds(api, portal, bucket):
    folder = bucket.folder
    r = submit(api, "bob", "team-a", profile="cpu", name="count <b>scans</b>", inputs=[f"{folder}scans/"],
               outputs=f"{folder}results/", env={"GREETING": "hello"},
               command=f"cat /data/in/{folder}scans/a.txt /data/in/{folder}scans/deep/b.txt > /data/out/all.txt; "
                       "mkdir /data/out/sub && echo $GREETING > /data/out/sub/g.txt; "
                       f"echo done; touch /data/in/{folder}scans/x 2>/dev/null || echo inputs are read-only")
    assert r.status_code == 201, r.text
    job = r.json()
    assert (job["state"], job["dev"], job["user"], job["backend"], job["image"]) == (
        "queued", True, "bob", "containers", "localhost/aiportal-dev:latest")
    assert job["outputs_url"] == f"/services/portal/teams/team-a/datasets?prefix={folder[:-1]}%2Fresults%2F"
    done = wait(api, "bob", "team-a", job["id"])
    assert (done["state"], done["exit_code"], done["reason"]) == ("succeeded", 0, ""), done
    assert done["started_at"] and done["finished_at"]
    assert logs(api, "bob", "team-a", job["id"]) == "done\ninputs are read-only\n"
    assert bucket.get_object("team-a", f"{folder}results/all.txt").read() == b"alpha\nbeta\n"
    assert bucket.get_object("team-a", f"{folder}results/sub/g.txt").read() == b"hello\n"
    assert [c for c in containers(portal) if c["Labels"].get("org.aiportal.job") == str(job["id"])] == []


def test_a_failing_command_fails_with_its_exit_code_and_log_tail(api):
    r = submit(api, "bob", "team-a", profile="cpu", command=["sh", "-c", "echo working; echo boom >&2; exit 3"])
    done = wait(api, "bob", "team-a", r.json()["id"])
    assert (done["state"], done["exit_code"], done["reason"]) == ("failed", 3, "exit"), done
    assert done["message"].startswith("exited with code 3; last lines:\n") and "boom" in done["message"]


def test_the_walltime_kills_a_job_that_runs_too_long(api, portal):
    r = submit(api, "bob", "team-a", profile="cpu", walltime=3, command="sleep 120")
    job = wait(api, "bob", "team-a", r.json()["id"], timeout=60)
    assert (job["state"], job["reason"]) == ("timeout", "timeout"), job
    assert "walltime of 3 s" in job["message"]


def test_cancel_a_running_job_and_a_finished_one(api, portal):
    s = api("bob")
    job = submit(api, "bob", "team-a", profile="cpu", command="echo started; sleep 120").json()
    wait(api, "bob", "team-a", job["id"], states=("running",))
    r = s.delete(f"{s.base}/teams/team-a/jobs/{job['id']}")
    assert r.status_code == 202, r.text
    done = wait(api, "bob", "team-a", job["id"], timeout=60)
    assert (done["state"], done["reason"]) == ("cancelled", "cancelled"), done
    assert [c for c in containers(portal) if c["Labels"].get("org.aiportal.job") == str(job["id"])] == []
    again = s.delete(f"{s.base}/teams/team-a/jobs/{job['id']}")
    assert again.status_code == 409 and "has finished (cancelled)" in again.json()["message"]


def test_a_missing_image_fails_the_job_saying_so(api):
    r = submit(api, "carol", "team-b", profile="missing", command="true")
    assert r.status_code == 201, r.text
    done = wait(api, "carol", "team-b", r.json()["id"])
    assert (done["state"], done["reason"]) == ("failed", "image"), done
    assert "localhost/aiportal-missing:none" in done["message"]


@pytest.mark.parametrize(("spec", "field", "message"), [
    ({"profile": "cpu", "command": "true", "inputs": ["../team-b/"]}, "inputs[0]", "is not a folder of the team"),
    ({"profile": "cpu", "command": "true", "inputs": ["nothing-here/"]}, "inputs[0]", "there is nothing under"),
    ({"profile": "cpu", "command": "true", "outputs": "/etc/"}, "outputs", "is not a folder"),
    ({"profile": "prod", "command": "true"}, "profile", "'prod' is not a dev profile of team 'team-a'"),
    ({"version": "radiology/seg:v9.9.9", "command": "true"}, "version", "is not a promoted version of team"),
    ({"command": "true"}, "version", "give exactly one of version"),
    ({"profile": "cpu", "command": "true", "resources": {"gpus": 3}}, "resources.gpus", "quota of 2"),
    ({"profile": "cpu", "command": "true", "resources": {"cpu": 9}}, "resources.cpu", "quota of 8"),
    ({"profile": "cpu", "command": "true", "walltime": "8d"}, "walltime", "above the maximum of 7 days"),
    ({"profile": "cpu", "command": "true", "env": {"AWS_SECRET_ACCESS_KEY": "x"}}, "env", "not AIPORTAL_*, AWS_*"),
    ({"profile": "cpu", "command": "true", "team": "team-b"}, "team", "leave team out"),
    ({"profile": "cpu", "command": "true", "image": "alpine"}, "image", "is not a field of a job"),
])
def test_bad_jobs_are_400s_naming_the_field(api, spec, field, message):
    s = api("bob")
    before = s.get(f"{s.base}/teams/team-a/jobs").json()["_pagination"]["total"]
    r = submit(api, "bob", "team-a", **spec)
    assert r.status_code == 400, r.text
    assert (r.json()["field"], message in r.json()["message"]) == (field, True), r.json()
    assert s.get(f"{s.base}/teams/team-a/jobs").json()["_pagination"]["total"] == before  # nothing recorded


def test_another_teams_jobs_are_not_found(api):
    job = submit(api, "bob", "team-a", profile="cpu", command="true").json()
    s = api("carol")
    for method, path in (("GET", "jobs"), ("POST", "jobs"), ("GET", f"jobs/{job['id']}"),
                         ("GET", f"jobs/{job['id']}/logs"), ("DELETE", f"jobs/{job['id']}")):
        r = s.request(method, f"{s.base}/teams/team-a/{path}", json={"profile": "cpu", "command": "true"})
        assert r.status_code == 404, (method, path, r.text)
    assert s.get(f"{s.base}/teams/team-b/jobs/{job['id']}").status_code == 404  # not team-b's either
    wait(api, "bob", "team-a", job["id"])


def test_a_job_waits_in_queued_while_the_team_quota_is_full(api):
    s = api("bob")
    big = submit(api, "bob", "team-a", profile="cpu", resources={"cpu": 6}, command="sleep 120").json()
    wait(api, "bob", "team-a", big["id"], states=("running",))
    second = submit(api, "bob", "team-a", profile="cpu", resources={"cpu": 4}, command="echo ran").json()
    time.sleep(3)  # a few ticks of the runner
    queued = s.get(f"{s.base}/teams/team-a/jobs/{second['id']}").json()
    assert queued["state"] == "queued", queued
    assert queued["message"].startswith("waiting: team team-a uses 6 of 8 CPUs and this job needs 4"), queued["message"]
    s.delete(f"{s.base}/teams/team-a/jobs/{big['id']}")
    done = wait(api, "bob", "team-a", second["id"], timeout=90)
    assert done["state"] == "succeeded", done


def test_logs_follow_a_running_job_to_its_end(api):
    job = submit(api, "bob", "team-a", profile="cpu", command="for i in 1 2 3; do echo line $i; sleep 1; done").json()
    wait(api, "bob", "team-a", job["id"], states=("running", *FINISHED))
    s = api("bob")
    r = s.get(f"{s.base}/teams/team-a/jobs/{job['id']}/logs", params={"follow": 1}, stream=True)
    text = "".join(chunk.decode() for chunk in r.iter_content(None))
    assert text == "line 1\nline 2\nline 3\n"
    assert s.get(f"{s.base}/teams/team-a/jobs/{job['id']}").json()["state"] == "succeeded"


def test_a_job_running_while_the_portal_restarts_is_followed_to_its_end(portal_factory):
    from portal.tokens import new_token

    portal = portal_factory()
    s = TimedSession()
    s.headers["Authorization"] = f"token {new_token(portal.data.root, 'bob', str(portal.config_path))}"
    base = f"{portal.url}services/portal/api/v1/teams/team-a/jobs"
    job = s.post(base, json={"profile": "cpu", "command": "echo before; sleep 12; echo after"}).json()
    deadline = time.monotonic() + 60
    while s.get(f"{base}/{job['id']}").json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    portal.stop()
    portal.start()
    deadline = time.monotonic() + 90
    while (seen := s.get(f"{base}/{job['id']}").json())["state"] not in FINISHED:
        assert time.monotonic() < deadline, seen
        time.sleep(0.5)
    assert (seen["state"], seen["exit_code"]) == ("succeeded", 0), seen
    assert s.get(f"{base}/{job['id']}/logs").text == "before\nafter\n"


def test_a_jobs_end_is_collected_when_its_container_exits_not_at_the_next_poll(portal_factory):
    from portal.tokens import new_token

    portal = portal_factory({**TEST_CONFIG, "jobs": {"poll_interval": 60}})
    s = TimedSession()
    s.headers["Authorization"] = f"token {new_token(portal.data.root, 'bob', str(portal.config_path))}"
    base = f"{portal.url}services/portal/api/v1/teams/team-a/jobs"
    job = s.post(base, json={"profile": "cpu", "command": "sleep 3; echo ended"}).json()  # the POST wakes the runner
    t0 = time.monotonic()
    while (seen := s.get(f"{base}/{job['id']}").json())["state"] not in FINISHED:
        assert time.monotonic() - t0 < 30, f"not collected within 30 s of its submission: {seen}"
        time.sleep(0.3)
    assert seen["state"] == "succeeded", seen
    assert s.get(f"{base}/{job['id']}/logs").text == "ended\n"
