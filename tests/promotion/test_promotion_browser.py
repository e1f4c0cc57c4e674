"""The promotions page in Chromium: a team admin promotes the newest commit of a set-up
project, follows the real pipeline (Kaniko) live to a proven image, and starts that version
as a prod server; a member who may not promote gets no form. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import subprocess
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.browser import chromium, signed_in
from tests.promotion.conftest import HTTP_TIMEOUT

pytestmark = pytest.mark.timeout(600)

IMAGE_REF = re.compile(r"^127\.0\.0\.1:\d+/.+:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$")
FINISHED = re.compile(r"^(success|failed|error)$")
VERSION, SERVER = "v1.0.0", "prod-v1-0-0"


def open_project(page, site, project: dict):
    page.goto(f"{site.url}services/portal/teams/team-a/promotions")
    page.click(f"#projects [data-project-id='{project['id']}']")
    page.locator("#commits tr[data-sha]").first.wait_for()


def wait_ready(site, user: str, server: str, timeout: float = 240) -> dict:
    headers = {"Authorization": f"token {site.token(user)}"}
    deadline = time.monotonic() + timeout
    while True:
        model = requests.get(f"{site.hub_api}/users/{user}", headers=headers, timeout=HTTP_TIMEOUT).json()
        found = model["servers"].get(server, {})
        if found.get("ready"):
            return found
        assert time.monotonic() < deadline, f"server {server} not ready after {timeout} s: {found}"
        time.sleep(0.5)


def test_promote_the_newest_commit_follow_it_live_and_start_it_as_a_prod_server(promotion_site, gitlab, new_project,
                                                                                 artifacts):
    site = promotion_site
    project = new_project("browser-segmenter")
    newest = site.call("GET", f"/teams/team-a/projects/{project['id']}", "alice").json()["commits"][0]
    with chromium() as browser:
        page = signed_in(browser, site.portal, "alice")
        try:
            open_project(page, site, project)
            expect(page.locator("#version")).to_have_value("v0.1.0")  # suggested: the project has no tags
            row = page.locator("#commits tr[data-sha]").first
            assert row.get_attribute("data-sha") == newest["sha"]
            row.locator("input[type=radio]").check()
            page.fill("#version", VERSION)
            page.fill("#release-notes", "First release from the browser")
            page.screenshot(path=str(artifacts / "promotion-form.png"), full_page=True)

            page.click("#promote")
            page.locator("#promotion-detail:not(.d-none), #promotions-alert.alert-danger").first.wait_for()
            assert page.locator("#promotion-detail").is_visible(), page.inner_text("#promotions-alert")
            row = page.locator("#promotions tr[data-promotion-id]").first
            expect(row).to_contain_text(VERSION)
            promotion_id = int(row.get_attribute("data-promotion-id"))
            page.screenshot(path=str(artifacts / "promotion-following.png"), full_page=True)

            status = page.locator("#promotion-status")
            expect(status).to_have_text(FINISHED, timeout=240_000)
            page.screenshot(path=str(artifacts / "promotion-finished.png"), full_page=True)
            record = site.call("GET", f"/teams/team-a/promotions/{promotion_id}", "alice").json()
            assert status.inner_text() == "success", (page.inner_text("#promotion-message"), record["log_tail"][-3000:])

            # what the page shows is the record: this commit, this version, the image the registry holds
            assert (record["commit"], record["version"], record["created_by"]) == (newest["sha"], VERSION, "alice")
            ref = page.inner_text("#image-ref").strip()
            assert IMAGE_REF.match(ref), ref
            assert ref == f"{record['image']}@{record['digest']}"
            assert record["digest"] == gitlab.registry_client.digest(f"radiology/browser-segmenter:{VERSION}")
            assert record["base_image"] == gitlab.dev_pinned  # the team's dev image, by digest, when promoted
            stages = [(s["name"], [(j["name"], j["status"]) for j in s["jobs"]]) for s in record["pipeline"]["stages"]]
            assert stages == [("build", [("build-prod-image", "success")]),
                              ("verify", [("verify-prod", "success"), ("verify-dev", "success")])]
            listed = site.call("GET", "/teams/team-a/promotions", "bob", params={"project_id": project["id"]}).json()
            assert [p["id"] for p in listed["items"]] == [promotion_id]  # members read it too
            expect(row.locator("code.image-ref")).to_have_text(ref)
            expect(row).to_contain_text("success")
            for check in ("base", "tree", "reference"):
                expect(page.locator(f"#checks [data-check='{check}'] .check-status")).to_have_text("passed")
            jobs = page.locator("#stages [data-job]")
            assert jobs.count() >= 2 and all(t.strip().endswith("success") for t in jobs.all_inner_texts()), \
                jobs.all_inner_texts()
            expect(page.locator(f"#tags [data-tag='{VERSION}']")).to_have_count(1)  # the project reloaded its tags
            assert page.csp_errors == [] and page.dialogs == []

            start = page.locator("#start-prod")
            expect(start).to_be_visible()
            assert start.get_attribute("href") == \
                f"/hub/spawn/alice/{SERVER}?profile=team-a/prod&promotion={promotion_id}"
            start.click()
            wait_ready(site, "alice", SERVER)
            page.wait_for_load_state()
            page.screenshot(path=str(artifacts / "promotion-prod-server.png"), full_page=True)
            ids = subprocess.run(["podman", "ps", "-q", "--filter", f"label=org.aiportal.server={SERVER}"],
                                 capture_output=True, text=True, timeout=60).stdout.split()
            assert len(ids) == 1, ids
            image_id = subprocess.run(["podman", "inspect", "--format", "{{.Image}}", ids[0]],
                                      capture_output=True, text=True, timeout=60).stdout.strip()
            digests = subprocess.run(["podman", "image", "inspect", "--format", "{{json .RepoDigests}}", image_id],
                                     capture_output=True, text=True, timeout=60).stdout
            assert f"@{record['digest']}" in digests, digests  # the container runs the promoted image
            mounts = subprocess.run(["podman", "inspect", "--format", "{{range .Mounts}}{{.Destination}} {{end}}",
                                     ids[0]], capture_output=True, text=True, timeout=60).stdout.split()
            assert "/src" not in mounts, mounts  # prod mode: the code is the image's /code
            code = subprocess.run(["podman", "exec", ids[0], "cat", "/code/segment.py"], capture_output=True,
                                  text=True, timeout=60)
            assert code.stdout == "print('segmenting')\n", code
        except Exception:
            page.screenshot(path=str(artifacts / "promotion-browser-failed.png"), full_page=True)
            raise
        finally:
            requests.delete(f"{site.hub_api}/users/alice/servers/{SERVER}", json={"remove": True},
                            headers={"Authorization": f"token {site.token('alice')}"}, timeout=120)


def test_a_member_who_may_not_promote_sees_the_project_but_no_promote_form(promotion_site, new_project, artifacts):
    site = promotion_site
    project = new_project("browser-readonly")
    with chromium() as browser:
        page = signed_in(browser, site.portal, "bob")
        open_project(page, site, project)
        expect(page.locator("#project-path")).to_have_text("radiology/browser-readonly")
        expect(page.locator("#promotions-empty")).to_be_visible()
        page.screenshot(path=str(artifacts / "promotion-member.png"), full_page=True)
        assert not page.locator("#promote-form").is_visible()
        assert page.locator("#setup").count() == 0
        assert page.csp_errors == [] and page.dialogs == []


def test_a_project_without_the_template_is_set_up_by_a_merge_request(promotion_site, gitlab, new_project, artifacts):
    site = promotion_site
    project = new_project("browser-fresh", {"README.md": b"# fresh\n"})
    with chromium() as browser:
        page = signed_in(browser, site.portal, "alice")
        open_project(page, site, project)
        expect(page.locator("#setup-box")).to_be_visible()
        assert not page.locator("#promote-form").is_visible()  # nothing to promote before the template is in
        page.click("#setup")
        expect(page.locator("#setup-result")).to_be_visible()
        page.screenshot(path=str(artifacts / "promotion-setup.png"), full_page=True)
        link = page.locator("#setup-link")
        expect(link).to_have_text(re.compile(r"^!\d+ Set up promotion to production$"))
        assert link.get_attribute("href").startswith(f"{gitlab.url}/radiology/browser-fresh/-/merge_requests/")
        branch = site.call("GET", f"/teams/team-a/projects/{project['id']}", "alice",
                           params={"ref": "aiportal/set-up-promotion"}).json()
        assert branch["set_up"] is True  # the merge request's branch carries images/prod/Containerfile
        assert page.csp_errors == [] and page.dialogs == []
