"""The datasets page in Chromium: a 50 MB upload with progress, download, share, delete, escaping,
unfinished uploads; all under the page's Content-Security-Policy (bytes go browser ⇄ S3)."""

from __future__ import annotations

import hashlib
import io
import os
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.browser import chromium, login
from tests.datasets.conftest import open_uploads, unique
from tests.http import HTTP_TIMEOUT

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def page(seaweedfs_portal):
    site = seaweedfs_portal
    with chromium() as browser:
        page = browser.new_context(accept_downloads=True).new_page()
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        page.csp_errors = []
        page.on("console", lambda m: "Content Security Policy" in m.text and page.csp_errors.append(m.text))
        login(page, site.portal.url, "admin", site.portal.data.admin_password("admin"))
        yield page


def open_folder(page, site, folder: str):
    page.goto(f"{site.portal.url}services/portal/teams/team-a/datasets?prefix={folder}")
    page.wait_for_selector("#listing")


def test_upload_50_mb_with_progress_then_download_the_same_bytes(seaweedfs_portal, page, artifacts, tmp_path):
    site = seaweedfs_portal
    data = os.urandom(50 * 10**6)
    source = tmp_path / "scan-50mb.bin"
    source.write_bytes(data)
    open_folder(page, site, "browser/")
    page.set_input_files("#file-input", str(source))
    row = page.locator("#upload-list li[data-key='browser/scan-50mb.bin']")
    # The bars grow with a CSS transition: wait until they have drawn some progress.
    page.locator("#total-progress").wait_for(state="visible", timeout=30_000)
    row.locator(".progress-bar").wait_for(state="visible", timeout=30_000)
    page.screenshot(path=str(artifacts / "datasets-uploading.png"), full_page=True)
    page.wait_for_selector("#upload-list li[data-key='browser/scan-50mb.bin'][data-state=done]", timeout=120_000)
    assert page.locator("#total-progress").get_attribute("style").replace(" ", "") == "width:100%;"
    assert page.locator("#total-text").inner_text() == "47.7 MiB of 47.7 MiB"
    page.wait_for_selector("tr[data-key='browser/scan-50mb.bin']")
    page.screenshot(path=str(artifacts / "datasets-uploaded.png"), full_page=True)
    assert site.admin_s3._list_multipart_uploads("team-a", prefix="browser/scan-50mb.bin").uploads == []

    with page.expect_download() as info:
        page.locator("tr[data-key='browser/scan-50mb.bin'] a.download").click()
    download = info.value
    assert download.suggested_filename == "scan-50mb.bin"
    saved = tmp_path / "downloaded.bin"
    download.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert page.csp_errors == []  # the parts went to S3 and back under connect-src


def test_hostile_name_shows_as_text(seaweedfs_portal, page, artifacts):
    site = seaweedfs_portal
    key = f"escape/{HOSTILE}"
    site.admin_s3.put_object("team-a", key, io.BytesIO(b"x"), 1)
    open_folder(page, site, "escape/")
    cell = page.locator("#rows tr").first.locator("td").first
    cell.wait_for()
    assert cell.inner_text().strip() == HOSTILE
    assert page.locator("#rows img").count() == 0
    page.locator("#rows tr .share").first.click()  # the name appears in the modal too
    page.wait_for_selector("#share-modal.show")
    assert page.locator("#share-key").inner_text() == key
    page.screenshot(path=str(artifacts / "datasets-escaped.png"), full_page=True, animations="disabled")
    page.keyboard.press("Escape")
    assert page.dialogs == []


def test_share_new_folder_and_delete_with_confirmation(seaweedfs_portal, page):
    site = seaweedfs_portal
    site.admin_s3.put_object("team-a", "ui/notes.txt", io.BytesIO(b"shared notes"), 12)
    open_folder(page, site, "ui/")
    page.locator("tr[data-key='ui/notes.txt'] .share").click()
    page.wait_for_selector("#share-modal.show")
    page.fill("#share-form input[name=amount]", "2")
    page.select_option("#share-form select[name=unit]", "3600")
    page.click("#share-form button[type=submit]")
    page.wait_for_selector("#share-result:not(.d-none)")
    url = page.input_value("#share-url")
    assert requests.get(url, timeout=HTTP_TIMEOUT).content == b"shared notes"  # logged out
    page.keyboard.press("Escape")
    page.wait_for_selector("#share-modal", state="hidden")

    page.fill("#folder-form input[name=name]", "results")
    page.click("#folder-form button")
    page.wait_for_selector("tr[data-key='ui/results/'] a.folder")

    page.locator("tr[data-key='ui/notes.txt'] .delete").click()
    page.wait_for_selector("#delete-modal.show")
    assert page.locator("#delete-key").inner_text() == "ui/notes.txt"
    page.click("#delete-confirm")
    page.wait_for_selector("tr[data-key='ui/notes.txt']", state="detached")
    assert [o.object_name for o in site.admin_s3.list_objects("team-a", prefix="ui/")] == ["ui/results/"]

    site.admin_s3.put_object("team-a", "ui/results/model.pt", io.BytesIO(b"weights"), 7)
    page.locator("tr[data-key='ui/results/'] .delete").click()
    page.wait_for_selector("#delete-modal.show #delete-folder-warning:not(.d-none)")
    page.click("#delete-confirm")
    page.wait_for_selector("tr[data-key='ui/results/']", state="detached")
    assert "Deleted ui/results/ and the 2 objects in it" in page.locator("#datasets-alert").inner_text()
    assert list(site.admin_s3.list_objects("team-a", prefix="ui/", recursive=True)) == []


def test_team_pages_link_to_datasets(seaweedfs_portal, page):
    site = seaweedfs_portal
    page.goto(f"{site.portal.url}services/portal/")
    page.locator(".team-card[data-team=team-a] a", has_text="Datasets").click()
    page.wait_for_selector("#listing")
    assert page.url.endswith("/teams/team-a/datasets")
    page.goto(f"{site.portal.url}services/portal/teams/team-a")
    page.click("#datasets-link")
    page.wait_for_selector("#usage-text")
    assert "of 10.0 GiB" in page.locator("#usage-text").inner_text()


def test_folder_picker_and_drop_keep_relative_paths(seaweedfs_portal, page, tmp_path):
    site = seaweedfs_portal
    root = tmp_path / "study"
    (root / "series-1").mkdir(parents=True)
    (root / "series-1" / "img-001.dcm").write_bytes(b"dicom 1")
    (root / "notes.txt").write_bytes(b"notes")
    open_folder(page, site, "picked/")
    page.set_input_files("#folder-input", str(root))
    page.wait_for_selector("#upload-list li[data-key='picked/study/series-1/img-001.dcm'][data-state=done]")
    page.wait_for_selector("#upload-list li[data-key='picked/study/notes.txt'][data-state=done]")
    page.evaluate("""() => {
        const data = new DataTransfer();
        data.items.add(new File(["dropped bytes"], "dropped.txt"));
        document.getElementById("dropzone").dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
    }""")
    page.wait_for_selector("#upload-list li[data-key='picked/dropped.txt'][data-state=done]")
    keys = sorted(o.object_name for o in site.admin_s3.list_objects("team-a", prefix="picked/", recursive=True))
    assert keys == ["picked/dropped.txt", "picked/study/notes.txt", "picked/study/series-1/img-001.dcm"]
    assert site.admin_s3.get_object("team-a", "picked/dropped.txt").read() == b"dropped bytes"


def test_a_failed_part_is_retried_and_cancel_aborts(seaweedfs_portal, page, tmp_path):
    site = seaweedfs_portal
    data = os.urandom(8 * 2**20 + 100)
    source = tmp_path / "retry.bin"
    source.write_bytes(data)
    refused = []

    def flaky(route):  # part 2 fails until the test lets it through
        if len(refused) < 3:
            refused.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/team-a/flaky/retry.bin?*partNumber=2*", flaky)
    open_folder(page, site, "flaky/")
    page.set_input_files("#file-input", str(source))
    row = "#upload-list li[data-key='flaky/retry.bin']"
    page.wait_for_selector(f"{row}[data-state=failed]", timeout=30_000)
    assert len(refused) == 3 and "part(s) 2 failed 3 times" in page.locator(f"{row} .status").inner_text()
    page.click(f"{row} .retry")
    page.wait_for_selector(f"{row}[data-state=done]", timeout=30_000)
    page.unroute("**/team-a/flaky/retry.bin?*partNumber=2*")
    assert hashlib.sha256(site.admin_s3.get_object("team-a", "flaky/retry.bin").read()).digest() == \
        hashlib.sha256(data).digest()

    cdp = page.context.new_cdp_session(page)  # slow uploads down so that cancel comes mid-way
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                 "uploadThroughput": 2 * 2**20})
    try:
        big = tmp_path / "cancelled.bin"
        big.write_bytes(os.urandom(40 * 2**20))
        page.set_input_files("#file-input", str(big))
        row = "#upload-list li[data-key='flaky/cancelled.bin']"
        page.wait_for_selector(f"{row}[data-state=sending]", timeout=30_000)
        assert site.admin_s3._list_multipart_uploads("team-a", prefix="flaky/cancelled.bin").uploads
        page.click(f"{row} .cancel")
        page.wait_for_selector(f"{row}[data-state=cancelled]")
    finally:
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                     "uploadThroughput": -1})
    deadline = time.monotonic() + 10
    while site.admin_s3._list_multipart_uploads("team-a", prefix="flaky/cancelled.bin").uploads:
        assert time.monotonic() < deadline, "the cancelled upload was not aborted"
        time.sleep(0.2)
    assert [o.object_name for o in site.admin_s3.list_objects("team-a", prefix="flaky/")] == ["flaky/retry.bin"]


def test_more_sort_and_filter(seaweedfs_portal, page):
    site = seaweedfs_portal
    sizes = {"a.bin": 300, "b.bin": 100, "c.bin": 200, "d.bin": 50, "e.bin": 400}
    for name, size in sizes.items():
        site.admin_s3.put_object("team-a", f"sort/{name}", io.BytesIO(b"s" * size), size)
    page.goto(f"{site.portal.url}services/portal/teams/team-a/datasets?prefix=sort/&limit=2")

    def names():
        page.wait_for_selector("#rows tr")
        return [k.removeprefix("sort/") for k in page.locator("#rows tr").evaluate_all(
            "rows => rows.map(r => r.dataset.key)")]

    assert names() == ["a.bin", "b.bin"]
    for shown in (4, 5):
        page.click("#more")
        expect(page.locator("#rows tr")).to_have_count(shown)  # not wait_for_function: no eval under the CSP
    assert page.locator("#more").is_hidden()
    page.click("button.sort[data-sort=size]")
    assert names() == ["d.bin", "b.bin", "c.bin", "a.bin", "e.bin"]
    page.click("button.sort[data-sort=size]")
    assert names() == ["e.bin", "a.bin", "c.bin", "b.bin", "d.bin"]
    page.fill("#filter", "c")
    expect(page.locator("#rows tr")).to_have_count(1)
    assert names() == ["c.bin"]


def test_unfinished_uploads_are_listed_and_aborted(seaweedfs_portal, page, artifacts):
    site = seaweedfs_portal
    mine, alices = unique("mine.bin"), unique("alices.bin")
    admin, alice = site.api("admin"), site.api("alice")
    started = [(admin, admin.post(f"{admin.base}/uploads", json={"key": mine, "size": 10}).json()["id"]),
               (alice, alice.post(f"{alice.base}/uploads", json={"key": alices, "size": 10}).json()["id"])]
    try:
        open_folder(page, site, mine.split("/")[0] + "/")
        for key in (mine, alices):  # an operator sees every member's, as team admins do
            page.wait_for_selector(f"#unfinished-list li[data-key='{key}']")
        assert "alice" in page.locator(f"#unfinished-list li[data-key='{alices}']").inner_text()
        page.screenshot(path=str(artifacts / "datasets-unfinished-uploads.png"), full_page=True)
        page.click(f"#unfinished-list li[data-key='{mine}'] .abort")
        page.wait_for_selector(f"#unfinished-list li[data-key='{mine}']", state="detached")
        assert open_uploads(site, mine) == [] and open_uploads(site, alices)
        assert [u["key"] for u in admin.get(f"{admin.base}/uploads").json()["items"] if u["key"] in (mine, alices)] \
            == [alices]
        assert page.csp_errors == []
    finally:
        for session, upload_id in started:
            session.delete(f"{session.base}/uploads/{upload_id}")
