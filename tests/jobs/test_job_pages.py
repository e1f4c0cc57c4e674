"""A team's Jobs page: the template rendered without a hub (choices, defaults, fields named as
the API names them, everything escaped), the page on the session portal (members only), and
in Chromium with real Podman and the real S3 server: a dev job submitted from the form runs
to `succeeded` in the table, its log reads "done", its outputs open in the datasets browser;
a job above the GPU quota is refused with the message under the GPUs field; a running job's
log is followed as it is written, and Cancel stops a job."""

from __future__ import annotations

import io
import re
import time
import uuid
from types import SimpleNamespace

import pytest
import requests

from portal.config import Profile
from portal.handlers.job_pages import RESOURCE_DEFAULTS, WALLTIME_DEFAULT, dev_profiles, version_choices
from portal.storage import store_from_config
from portal.teams import Team
from tests.browser import signed_in
from tests.portal.test_pages_templates import HOSTILE, Elements, Handler, render

HTTP_TIMEOUT = 30
RUN_TIMEOUT_MS = 120_000
FINISHED = ("succeeded", "failed", "timeout", "cancelled")
PROFILES = {
    "cpu": Profile("cpu", "img", f"CPU {HOSTILE}", "", "dev", 1, 2**30, 0, "jupyter"),
    "prod": Profile("prod", "img", "Prod", "", "prod", 1, 2**30, 0, "jupyter"),
}


# --- the template ---------------------------------------------------------------------------

def jobs_page(versions=(), profiles=("cpu", "prod"), quota=None) -> str:
    team = Team("team-a", {"display_name": HOSTILE, "profiles": list(profiles), "quota": quota or {"gpus": 2}},
                ["bob"], "portal")
    released = [{"project": p, "version": v} for p, v in versions]
    return render("jobs.html", Handler("bob"), team=team, versions=version_choices(released),
                  profiles=dev_profiles(team, PROFILES), defaults={**RESOURCE_DEFAULTS, "walltime": WALLTIME_DEFAULT},
                  max_walltime_days=7, promotion_on=True)


def test_the_form_offers_the_teams_versions_newest_first_and_its_dev_profiles():
    html = jobs_page(versions=[("radiology/seg", "v1.2.0"), (f"radiology/{HOSTILE}", "v1.0.0")])
    page = Elements(html)
    assert [(o["value"]) for o in page.find("option") if "/" in o.get("value", "")] == [
        "radiology/seg:v1.2.0", f"radiology/{HOSTILE}:v1.0.0"]
    assert "radiology/seg v1.2.0" in html
    assert [o["value"] for o in page.find("option") if o.get("value") in PROFILES] == ["cpu"]  # dev profiles only
    assert "checked" in page.find("input", id="job-kind-version")[0]
    assert "checked" not in page.find("input", id="job-kind-profile")[0]
    assert "dev job, for testing" in html and page.find("div", id="dev-note")
    assert HOSTILE not in html and "&lt;img src=x" in html  # the team's name and a project's, as text


def test_fields_carry_the_names_the_api_gives_in_field_and_the_schemas_defaults():
    page = Elements(jobs_page(versions=[("radiology/seg", "v1.2.0")]))
    fields = [a["data-field"] for a in page.find("div") if "job-field" in a.get("class", "")]
    assert fields == ["version", "profile", "command", "name", "inputs[0]", "outputs", "resources.cpu",
                      "resources.memory", "resources.gpus", "walltime"]
    values = {a["id"]: a.get("value") for a in page.find("input") if a.get("id")}
    assert [values[f"job-{name}"] for name in ("cpu", "memory", "gpus", "walltime")] == ["1", "2Gi", "0", "1h"]
    assert page.find("datalist", id="job-folders") and page.find("input", id="job-input", list="job-folders")
    root = page.find("div", id="jobs")[0]
    assert (root["data-api"], root["data-commands-api"], root["data-datasets-api"]) == (
        "/services/portal/api/v1/teams/team-a/jobs", "/services/portal/api/v1/teams/team-a/jobs/commands",
        "/services/portal/api/v1/teams/team-a/datasets")
    assert page.find("script", src="/services/portal/static/jobs.js")


def test_without_a_promoted_version_the_dev_profile_is_chosen_and_without_either_nothing_submits():
    page = Elements(jobs_page())
    assert "disabled" in page.find("input", id="job-kind-version")[0]
    assert "checked" in page.find("input", id="job-kind-profile")[0]
    assert "disabled" not in page.find("button", id="job-submit")[0]
    nothing = Elements(jobs_page(profiles=("prod",)))
    assert "disabled" in nothing.find("button", id="job-submit")[0]


def test_the_team_page_has_a_jobs_button_beside_datasets_where_jobs_run():
    team = Team("team-a", {"display_name": "Team A", "profiles": []}, ["bob"], "portal")
    html = render("team.html", Handler("bob"), team=team, profiles={}, can_admin=False, gitlab_group_url="",
                  jobs_on=True)
    links = [a.get("id") for a in Elements(html).find("a") if a.get("id", "").endswith("-link")]
    assert links[:3] == ["datasets-link", "jobs-link", "promotions-link"]
    assert Elements(html).find("a", id="jobs-link", href="/services/portal/teams/team-a/jobs")
    html = render("team.html", Handler("bob"), team=team, profiles={}, can_admin=False, gitlab_group_url="",
                  jobs_on=False)
    assert not Elements(html).find("a", id="jobs-link")


def test_version_choices_and_dev_profiles():
    assert version_choices([{"project": "g/p", "version": "v2.0.0"}]) == [
        {"value": "g/p:v2.0.0", "label": "g/p v2.0.0"}]
    team = SimpleNamespace(properties={"profiles": ["prod", "gone", "cpu"]})
    assert dev_profiles(team, PROFILES) == [{"name": "cpu", "label": f"CPU {HOSTILE}"}]


def test_the_page_is_served_to_members_and_is_not_found_for_others(portal, token):
    url = f"{portal.url}services/portal/teams/team-a/jobs"
    answers = {}
    for user in ("bob", "carol", "admin"):
        r = requests.get(url, headers={"Authorization": f"token {token(user)}"}, timeout=HTTP_TIMEOUT,
                         allow_redirects=False)
        answers[user] = r.status_code
        if r.status_code == 200:
            assert 'id="job-form"' in r.text and "Jobs of Team A" in r.text
    assert answers == {"bob": 200, "carol": 404, "admin": 200}


# --- in Chromium ------------------------------------------------------------------------------

@pytest.fixture
def member(portal, browser, api):
    """A new user's browser page, the user a member of team-a; at the end, the membership gone
    and the user's unfinished jobs cancelled."""
    name = f"jp{uuid.uuid4().hex[:8]}"
    page = signed_in(browser, portal, name)
    operator = api("admin")
    r = operator.put(f"{operator.base}/teams/team-a/members/{name}", timeout=HTTP_TIMEOUT)
    assert r.ok, r.text
    page.user = name
    yield page
    page.context.close()
    s = api(name)
    for job in s.get(f"{s.base}/teams/team-a/jobs", params={"limit": 1000}, timeout=HTTP_TIMEOUT).json()["items"]:
        if job["user"] == name and job["state"] not in FINISHED:
            s.delete(f"{s.base}/teams/team-a/jobs/{job['id']}", timeout=HTTP_TIMEOUT)
    operator.delete(f"{operator.base}/teams/team-a/members/{name}", timeout=HTTP_TIMEOUT)


@pytest.fixture
def folder(portal):
    """A top-level folder of team-a's bucket with one object, for a job's input."""
    store = store_from_config(portal.config, portal.data.root)
    store.ensure_bucket("team-a")
    name = f"jobpage-{uuid.uuid4().hex[:6]}/"
    store.client().put_object("team-a", f"{name}slides/a.txt", io.BytesIO(b"alpha\n"), 6)
    return name


def jobs_of(api, user) -> list[dict]:
    s = api(user)
    return s.get(f"{s.base}/teams/team-a/jobs", params={"limit": 1000}, timeout=HTTP_TIMEOUT).json()["items"]


def test_submit_a_dev_job_see_it_succeed_read_its_log_and_open_its_outputs(member, portal, api, folder, artifacts):
    page = member
    page.goto(f"{portal.url}services/portal/teams/team-a")
    page.click("#jobs-link")
    page.wait_for_url("**/services/portal/teams/team-a/jobs")
    page.wait_for_selector("#jobs[data-loaded]")

    page.check("#job-kind-profile")
    assert page.locator("#dev-note").is_visible()
    assert page.locator("#job-version").is_disabled() and page.locator("#job-profile").is_enabled()
    page.select_option("#job-profile", "cpu")
    assert page.locator("#job-command-choice").input_value() == ""  # a dev job: a typed command
    page.fill("#job-command", "echo hello > /data/out/hello.txt; echo done")
    page.fill("#job-name", "hello <b>job</b>")
    page.wait_for_selector(f"#job-folders option[value='{folder}']", state="attached")  # the bucket's folders
    page.fill("#job-input", folder)
    outputs = page.locator("#job-outputs").input_value()
    assert re.fullmatch(r"results/\d{4}-\d\d-\d\d-\d+/", outputs), outputs
    assert [page.locator(f"#job-{name}").input_value() for name in ("cpu", "memory", "gpus", "walltime")] == [
        "1", "2Gi", "0", "1h"]
    page.screenshot(path=str(artifacts / "jobs-form.png"), full_page=True)

    posted = lambda r: r.url.endswith("/api/v1/teams/team-a/jobs") and r.request.method == "POST"  # noqa: E731
    with page.expect_response(posted) as sent:
        page.click("#job-submit")
    assert sent.value.status == 201, sent.value.text()
    body = sent.value.request.post_data_json
    assert body == {"name": "hello <b>job</b>", "profile": "cpu",
                    "command": "echo hello > /data/out/hello.txt; echo done", "inputs": [folder],
                    "outputs": outputs, "resources": {"cpu": 1, "memory": "2Gi", "gpus": 0}, "walltime": "1h"}
    job_id = sent.value.json()["id"]
    assert page.locator("#job-submitted").inner_text() == f"Job {job_id} submitted."
    assert page.locator("#job-outputs").input_value() != outputs  # the next job gets a folder of its own

    row = page.locator(f"tr.job-row[data-job='{job_id}']")
    row.wait_for()
    assert row.locator(".job-name").inner_text() == "hello <b>job</b>"  # text, not HTML
    assert row.locator(".job-user").inner_text() == page.user
    assert row.locator(".job-runs").inner_text().strip().endswith("dev: cpu")
    page.screenshot(path=str(artifacts / "jobs-submitted.png"), full_page=True)
    done = page.locator(f"tr.job-row[data-job='{job_id}'][data-state=succeeded]")
    done.wait_for(timeout=RUN_TIMEOUT_MS)
    assert done.locator(".job-state").inner_text() == "succeeded"
    assert done.locator(".job-exit").inner_text() == "0"
    assert done.locator(".job-started time").count() == 1 and done.locator(".job-finished time").count() == 1
    assert done.locator(".job-cancel").count() == 0
    page.screenshot(path=str(artifacts / "jobs-succeeded.png"), full_page=True)

    done.locator(".job-logs").click()
    page.wait_for_selector("#logs-modal.show")
    page.wait_for_selector("#logs-text[data-done='1']")
    assert page.locator("#logs-text").inner_text() == "done\n"
    assert page.locator("#logs-status").inner_text() == "End of the log."
    page.screenshot(path=str(artifacts / "jobs-logs.png"), full_page=True)
    page.locator("#logs-modal .btn-close").click()
    page.wait_for_selector("#logs-modal", state="hidden")

    link = done.locator(".job-outputs")
    assert link.get_attribute("href") == f"/services/portal/teams/team-a/datasets?prefix={outputs.replace('/', '%2F')}"
    link.click()
    page.wait_for_url("**/services/portal/teams/team-a/datasets?prefix=*")
    page.locator(f"tr[data-key='{outputs}hello.txt']").wait_for()
    page.screenshot(path=str(artifacts / "jobs-outputs-in-datasets.png"), full_page=True)
    assert page.csp_errors == []


def test_a_job_above_the_gpu_quota_is_refused_under_the_gpus_field(member, portal, api, artifacts):
    page = member
    page.goto(f"{portal.url}services/portal/teams/team-a/jobs")
    page.wait_for_selector("#jobs[data-loaded]")
    before = len(jobs_of(api, page.user))
    page.check("#job-kind-profile")
    page.fill("#job-command", "nvidia-smi")
    page.fill("#job-gpus", "3")
    page.click("#job-submit")
    page.wait_for_selector("#job-gpus.is-invalid")
    error = page.locator("#job-gpus-error")
    assert error.is_visible()
    assert error.inner_text() == "resources.gpus: 3 is more than team 'team-a''s quota of 2"
    assert page.evaluate("document.activeElement.id") == "job-gpus"
    assert page.locator("#job-submit-alert").is_hidden() and page.locator(".is-invalid").count() == 1
    page.screenshot(path=str(artifacts / "jobs-refused-gpus.png"), full_page=True)
    page.fill("#job-gpus", "1")  # typing clears the mark
    assert page.locator("#job-gpus.is-invalid").count() == 0 and error.is_hidden()

    page.fill("#job-input", "no-such-folder/")  # the next refusal names the input folder
    page.click("#job-submit")
    page.wait_for_selector("#job-input.is-invalid")
    assert page.locator("#job-input-error").inner_text().startswith(
        "inputs[0]: there is nothing under 'no-such-folder/'")
    assert len(jobs_of(api, page.user)) == before  # nothing submitted
    assert page.csp_errors == []


def test_logs_follow_a_running_job_and_cancel_stops_one(member, portal, api, artifacts):
    page = member
    s = api(page.user)
    slow = s.post(f"{s.base}/teams/team-a/jobs", timeout=HTTP_TIMEOUT, json={
        "profile": "cpu", "name": "counting",
        "command": "sleep 4; for i in 1 2 3; do echo line $i; sleep 1; done"}).json()
    page.goto(f"{portal.url}services/portal/teams/team-a/jobs")
    row = page.locator(f"tr.job-row[data-job='{slow['id']}']")
    row.wait_for()
    deadline = time.monotonic() + 90
    while row.get_attribute("data-state") in ("queued", "staging"):
        assert time.monotonic() < deadline, row.get_attribute("data-state")
        page.wait_for_timeout(100)
    assert row.get_attribute("data-state") == "running"
    row.locator(".job-logs").click()
    page.wait_for_selector("#logs-modal.show")
    assert page.locator("#logs-following").is_visible()
    page.locator("#logs-text").filter(has_text="line 1").wait_for(timeout=30_000)
    assert page.locator("#logs-text[data-done='1']").count() == 0  # still following
    page.screenshot(path=str(artifacts / "jobs-logs-following.png"), full_page=True)
    page.wait_for_selector("#logs-text[data-done='1']", timeout=60_000)
    assert page.locator("#logs-text").inner_text() == "line 1\nline 2\nline 3\n"
    assert page.locator("#logs-status").inner_text() == "The job has finished: end of the log."
    assert page.locator("#logs-following").is_hidden()
    page.locator("#logs-modal .btn-close").click()
    page.wait_for_selector("#logs-modal", state="hidden")

    long = s.post(f"{s.base}/teams/team-a/jobs", timeout=HTTP_TIMEOUT,
                  json={"profile": "cpu", "command": "sleep 300"}).json()
    row = page.locator(f"tr.job-row[data-job='{long['id']}']")
    row.locator(".job-cancel").click()
    page.wait_for_selector("#cancel-modal.show")
    assert page.locator("#cancel-name").inner_text() == str(long["id"])
    page.click("#cancel-confirm")
    cancelled = page.locator(f"tr.job-row[data-job='{long['id']}'][data-state=cancelled]")
    cancelled.wait_for(timeout=60_000)
    assert cancelled.locator(".job-cancel").count() == 0
    assert cancelled.locator(".job-outputs").count() == 0  # it had no output folder
    page.screenshot(path=str(artifacts / "jobs-cancelled.png"), full_page=True)
    assert page.csp_errors == []
