"""Security headers on every answer of the portal service, and its pages under their CSP.

The policy: scripts only from the hub's and the portal's static paths plus JupyterHub's
inline scripts carrying the page's nonce, no 'unsafe-inline'; browsers connect to the
portal and the S3 endpoint only; no framing by another origin; nosniff.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests

from tests.browser import login

HTTP_TIMEOUT = 30


def policy(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


@pytest.fixture
def page(portal, browser):
    """The operator's browser session; CSP violations reported on the console are collected."""
    context = browser.new_context()
    page = context.new_page()
    page.csp_errors = []
    page.on("console", lambda m: "Content Security Policy" in m.text and page.csp_errors.append(m.text))
    login(page, portal.url, "admin", portal.data.admin_password("admin"))
    yield page
    context.close()


def test_every_answer_carries_the_headers(portal, token):
    base = f"{portal.url}services/portal/"
    auth = {"Authorization": f"token {token('admin')}"}
    answers = {
        "page": requests.get(base, headers=auth, timeout=HTTP_TIMEOUT),
        "API": requests.get(f"{base}api/v1/teams", headers=auth, timeout=HTTP_TIMEOUT),
        "API 401": requests.get(f"{base}api/v1/teams", timeout=HTTP_TIMEOUT),
        "error page": requests.get(f"{base}no/such/page", timeout=HTTP_TIMEOUT),
        "static file": requests.get(f"{base}static/portal.js", timeout=HTTP_TIMEOUT),
        "OpenAPI": requests.get(f"{base}api/v1/openapi.json", timeout=HTTP_TIMEOUT),
        "login redirect": requests.get(f"{base}teams/team-a", allow_redirects=False, timeout=HTTP_TIMEOUT),
    }
    assert [(name, r.status_code) for name, r in answers.items()] == [
        ("page", 200), ("API", 200), ("API 401", 401), ("error page", 404), ("static file", 200),
        ("OpenAPI", 200), ("login redirect", 302)]
    for name, r in answers.items():
        assert r.headers["X-Content-Type-Options"] == "nosniff", name
        assert r.headers["Referrer-Policy"] == "same-origin", name
        csp = policy(r.headers["Content-Security-Policy"])
        assert csp["frame-ancestors"] == ["'self'"] and csp["default-src"] == ["'self'"], name
        assert not any("unsafe" in source for sources in csp.values() for source in sources), name
        scripts = [s for s in csp["script-src"] if not s.startswith("'nonce-")]
        assert scripts == [f"{portal.url}hub/static/", f"{portal.url}services/portal/static/"], name
        assert csp["connect-src"][0] == "'self'" and \
            csp["connect-src"][1].endswith(f":{portal.config.storage_port}"), name  # browsers ⇄ S3
    assert answers["static file"].headers["Content-Type"].split(";")[0] in ("text/javascript", "application/javascript")


def test_a_pages_inline_scripts_carry_its_own_fresh_nonce(portal, token):
    auth = {"Authorization": f"token {token('admin')}"}
    nonces = []
    for _ in range(2):
        r = requests.get(f"{portal.url}services/portal/teams/team-a", headers=auth, timeout=HTTP_TIMEOUT)
        (nonce,) = [s[len("'nonce-"):-1] for s in policy(r.headers["Content-Security-Policy"])["script-src"]
                    if s.startswith("'nonce-")]
        inline = re.findall(r"<script(?![^>]*\ssrc=)([^>]*)>", r.text)
        executable = [attrs for attrs in inline if "application/json" not in attrs]
        assert executable and all(f'nonce="{nonce}"' in attrs for attrs in executable), inline
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def test_pages_work_under_the_policy_and_it_is_in_force(portal, page):
    base = f"{portal.url}services/portal/"
    for path, ready in [("", ".team-card"), ("teams", "#overview"), ("teams/team-a", "#members"),
                        ("teams/team-a/datasets", "#listing")]:
        page.goto(base + path)
        page.wait_for_selector(ready)
    page.goto(f"{base}teams")
    page.click("tr[data-team=team-a] .edit-limits")  # Bootstrap's modal and the page's script run
    page.wait_for_selector("#limits-modal.show")
    assert page.locator("#limits-form [name=gpus]").input_value() == "2"  # filled from the API by fetch
    assert page.csp_errors == []

    with page.expect_console_message(lambda m: "inline script" in m.text, timeout=15_000):  # and it is seen
        injected = page.evaluate("""() => {
            const s = document.createElement("script");
            s.textContent = "window.injected = true";
            document.body.append(s);
            return window.injected === true;
        }""")
    assert injected is False


@pytest.fixture
def other_origin(portal):
    """A site on another port of the portal's host that frames `/<path>` of the portal.

    Another origin of the same site: the browser sends the session cookie along, so the
    portal's own page answers and only its frame-ancestors can stop it. (A page made by
    Playwright's router would not do: Chromium refuses its frames for other reasons.)
    """

    class Framing(BaseHTTPRequestHandler):
        def do_GET(self):
            body = f'<!doctype html><iframe src="{portal.url}{self.path[1:]}" width="900" height="500"></iframe>'
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((urlsplit(portal.url).hostname, 0), Framing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{urlsplit(portal.url).hostname}:{server.server_port}/"
    server.shutdown()
    server.server_close()


def test_another_origin_cannot_frame_a_portal_page(portal, page, other_origin, artifacts):
    path = "services/portal/teams/team-a"
    page.route(f"{portal.url}framing-control", lambda route: route.fulfill(
        body=f'<!doctype html><iframe src="{portal.url}{path}"></iframe>', content_type="text/html"))
    page.goto(f"{portal.url}framing-control")  # the control: the portal may frame itself
    page.frame_locator("iframe").locator("#team-title").wait_for()

    refused = []
    page.on("requestfailed", lambda r: refused.append((r.url, r.failure)))
    with page.expect_console_message(lambda m: "frame-ancestors 'self'" in m.text, timeout=15_000):
        page.goto(other_origin + path)
    page.screenshot(path=str(artifacts / "framing-refused.png"))
    assert (portal.url + path, "net::ERR_BLOCKED_BY_RESPONSE") in refused  # the page itself, not a login
    assert page.frame_locator("iframe").locator("#team-title").count() == 0
