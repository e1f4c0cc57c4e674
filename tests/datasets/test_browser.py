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

from portal.uploads import human as portal_human
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
    assert snapshot(page, "#uploads")["width"] == "100%"
    assert page.locator("#total-text").inner_text() == "47.7 MiB of 47.7 MiB (100%)"
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


def open_link(browser, url: str):
    """Open a share link in a new, logged-out browser session, which downloads the file."""
    context = browser.new_context(accept_downloads=True)
    visitor = context.new_page()
    with visitor.expect_download(timeout=30_000) as info:
        try:
            visitor.goto(url)
        except Exception as e:  # a navigation that turns into a download is aborted by design
            assert "Download is starting" in str(e) or "ERR_ABORTED" in str(e), e
    return context, visitor, info


def test_share_copy_open_logged_out_revoke_then_the_link_is_dead(seaweedfs_portal, page, artifacts, tmp_path):
    site = seaweedfs_portal
    key = unique("journey.txt")
    site.admin_s3.put_object("team-a", key, io.BytesIO(b"journey bytes"), 13)
    open_folder(page, site, key.split("/")[0] + "/")
    page.locator(f"tr[data-key='{key}'] .share").click()
    page.wait_for_selector("#share-modal.show")
    page.click("#share-form button[type=submit]")
    page.wait_for_selector("#share-result:not(.d-none)")
    url = page.input_value("#share-url")
    assert url.startswith(f"{site.portal.url}services/portal/s/") and len(url) < 120  # short, the portal's host
    page.click("#share-copy")
    page.screenshot(path=str(artifacts / "share-dialog.png"), full_page=True, animations="disabled")
    page.keyboard.press("Escape")
    page.wait_for_selector("#share-modal", state="hidden")
    row = page.locator("#share-list li", has=page.locator(f"a[href='{url}']"))
    row.wait_for()
    assert key in row.inner_text() and "by admin" in row.inner_text()
    page.screenshot(path=str(artifacts / "share-listed.png"), full_page=True)

    context, visitor, info = open_link(page.context.browser, url)
    saved = tmp_path / "journey.txt"
    info.value.save_as(saved)
    assert info.value.suggested_filename == "journey.txt" and saved.read_bytes() == b"journey bytes"
    context.close()

    row.locator(".revoke").click()
    row.wait_for(state="detached")
    assert f"Revoked the link to {key}" in page.locator("#datasets-alert").inner_text()
    page.screenshot(path=str(artifacts / "share-revoked-list.png"), full_page=True)
    context = page.context.browser.new_context()
    visitor = context.new_page()
    answer = visitor.goto(url)
    assert answer.status == 410
    assert visitor.locator("h1").inner_text() == "Link revoked"
    visitor.screenshot(path=str(artifacts / "share-revoked-page.png"), full_page=True)
    context.close()
    assert page.csp_errors == []


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


# -- progress, and uploads left by a closed tab ----------------------------------------------------

MiB = 2**20


def human(nbytes: int) -> str:
    """As the page writes sizes (portal.js)."""
    return f"{nbytes} B" if nbytes < 1024 else portal_human(nbytes)


def snapshot(page, box: str) -> dict:
    """A bar and its text read in one go: the text, the bar's width as set and as drawn (a
    fraction of its track), and aria-valuenow. ``box``: the upload card or one file's row."""
    return page.locator(box).first.evaluate("""box => {
        const bar = box.querySelector('.progress-bar');
        const text = box.querySelector('#total-text') || box.querySelector('.status');
        return {text: text.textContent, width: bar.style.width,
                aria: bar.parentElement.getAttribute('aria-valuenow'),
                drawn: bar.getBoundingClientRect().width / bar.parentElement.getBoundingClientRect().width};
    }""")


def hold_parts(page, pattern: str, let_through: int = 0) -> list:
    """Hold the part PUTs matching ``pattern`` (after the first ``let_through``) until the test
    continues them; CORS preflights pass."""
    held, passed = [], []

    def handle(route):
        if route.request.method != "PUT":
            route.continue_()
        elif len(passed) < let_through:
            passed.append(route.request.url)
            route.continue_()
        else:
            held.append(route)

    page.route(pattern, handle)
    return held


def wait_held(page, held: list, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(held) < count:
        assert time.monotonic() < deadline, f"{len(held)} part(s) sent, {count} expected"
        page.wait_for_timeout(100)  # lets Playwright deliver the route events


def test_progress_text_and_bar_agree_at_every_acknowledged_part(seaweedfs_portal, page, artifacts, tmp_path):
    site = seaweedfs_portal
    key = unique("progress.bin")
    folder = key.split("/")[0] + "/"
    size = 40 * MiB  # 5 parts of 8 MiB, 4 in flight at a time
    source = tmp_path / "progress.bin"
    source.write_bytes(os.urandom(size))
    pattern = f"**/team-a/{key}?*partNumber=*"
    held = hold_parts(page, pattern)
    try:
        open_folder(page, site, folder)
        page.set_input_files("#file-input", str(source))
        row = f"#upload-list li[data-key='{key}']"
        wait_held(page, held, 4)
        for box in ("#uploads", row):
            shown = snapshot(page, box)
            assert shown["text"] == f"0 B of {human(size)} (0%)" and shown["width"] == "0%" and shown["aria"] == "0"
        for n in range(1, 6):
            wait_held(page, held, 1)
            held.pop(0).continue_()
            pct = 20 * n
            text = f"{human(n * 8 * MiB)} of {human(size)} ({pct}%)"
            expect(page.locator("#total-text")).to_have_text(text, timeout=30_000)
            for box in ("#uploads", row):  # the total and the file's own row, drawn at once
                shown = snapshot(page, box)
                # the last part's row may already say that S3 is assembling the parts
                said = (text, f"{text} · completing") if n == 5 and box == row else (text,)
                assert shown["text"] in said and shown["width"] == f"{pct}%" and shown["aria"] == str(pct), shown
                assert abs(shown["drawn"] - pct / 100) < 0.01, shown  # no bar lagging behind its text
            if n == 2:
                page.screenshot(path=str(artifacts / "datasets-progress-agrees.png"), full_page=True)
        page.wait_for_selector(f"{row}[data-state=done]", timeout=30_000)
    finally:
        page.unroute(pattern)
    assert site.admin_s3.stat_object("team-a", key).size == size


def test_upload_of_a_closed_tab_is_listed_with_its_user_and_size_and_cancelled(
        seaweedfs_portal, page, artifacts, tmp_path):
    site = seaweedfs_portal
    admin = site.api("admin")
    key = unique("closed-tab.bin")
    folder = key.split("/")[0] + "/"
    size = 40 * MiB
    source = tmp_path / "closed-tab.bin"
    source.write_bytes(os.urandom(size))

    def held_by_uploads() -> tuple[int, int]:
        items = admin.get(f"{admin.base}/uploads", params={"limit": 100}).json()["items"]
        return sum(u["size"] for u in items), len(items)

    tab = page.context.new_page()  # the tab that will be closed mid-upload
    hold_parts(tab, f"**/team-a/{key}?*partNumber=*", let_through=1)
    tab.goto(f"{site.portal.url}services/portal/teams/team-a/datasets?prefix={folder}")
    tab.wait_for_selector("#listing")
    tab.set_input_files("#file-input", str(source))
    expect(tab.locator("#total-text")).to_have_text(f"{human(8 * MiB)} of {human(size)} (20%)", timeout=30_000)
    tab.screenshot(path=str(artifacts / "datasets-closed-tab-before-closing.png"), full_page=True)
    tab.close()  # mid-upload: one part in S3, the others never sent
    assert open_uploads(site, key)

    try:
        open_folder(page, site, folder)  # the other tab
        row = page.locator(f"#unfinished-list li[data-key='{key}']")
        expect(row).to_be_visible()
        assert row.locator(".unfinished-user").inner_text() == "admin"
        assert row.locator(".unfinished-size").inner_text() == human(size)
        assert "The portal drops it at" in row.locator(".unfinished-expiry").inner_text()
        total, count = held_by_uploads()
        assert total >= size
        label = f"+ {human(total)} held by {count} upload{'' if count == 1 else 's'} in progress"
        expect(page.locator("#usage-held")).to_have_text(label)
        held_share = page.locator("#usage-held-bar").evaluate("b => parseFloat(b.style.width)")  # % of quota
        assert held_share > 0
        page.screenshot(path=str(artifacts / "datasets-closed-tab-listed.png"), full_page=True)

        row.locator(".abort").click()
        expect(row).to_have_count(0)
        assert open_uploads(site, key) == []  # its parts are gone from S3
        assert held_by_uploads() == (total - size, count - 1)  # and its reservation released
        released = page.locator("#usage-held")
        if count == 1:
            expect(released).to_be_hidden()
        else:
            expect(released).to_have_text(f"+ {human(total - size)} held by {count - 1} "
                                          f"upload{'' if count == 2 else 's'} in progress")
        # the share of the quota drawn, not pixels: sub-pixel widths move with the layout
        assert page.locator("#usage-held-bar").evaluate("b => parseFloat(b.style.width)") < held_share
        page.screenshot(path=str(artifacts / "datasets-closed-tab-cancelled.png"), full_page=True)
        assert page.csp_errors == []
    finally:
        for upload in admin.get(f"{admin.base}/uploads", params={"limit": 100}).json()["items"]:
            if upload["key"] == key:
                admin.delete(f"{admin.base}/uploads/{upload['id']}")

