"""XSRF for real: a browser session's cookies do not act on the portal API without its XSRF token.

The operator logs in with Chromium; the session cookies the browser holds are then sent
with PATCH/PUT/POST/DELETE requests to the portal API, without and with the XSRF token
(`window.jhdata.xsrf_token` of a portal page, equal to the `_xsrf` cookie). HubOAuth
does not accept cookie authentication without a matching token, so the request counts as
unauthenticated: 401 with a challenge, and nothing changes. With the token it succeeds.
The same holds for fetch() from the portal's own page, and for a page of another origin
on the same site (which the browser sends the cookies from): a cross-site form or a
no-cors fetch cannot act, while the identical request carrying the token could.
"""

from __future__ import annotations

import html
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit

import pytest

from tests.browser import login

TEAM = "team-x"  # of SECURITY_CONFIG: only these tests change it


@dataclass
class BrowserSession:
    page: object
    cookies: list[dict]
    xsrf: str  # as the portal page gives it to its scripts

    def cookie_header(self, url: str) -> str:
        """The Cookie header the browser itself would send to `url`."""
        path = urlsplit(url).path
        return "; ".join(f"{c['name']}={c['value']}" for c in self.cookies if path.startswith(c["path"]))


def open_session(browser, site) -> BrowserSession:
    context = browser.new_context()
    page = context.new_page()
    login(page, site.url, "admin", site.portal.data.admin_password("admin"))
    page.goto(f"{site.url}services/portal/teams/{TEAM}")
    page.wait_for_load_state("networkidle")
    xsrf = page.evaluate("window.jhdata.xsrf_token")
    assert xsrf, "the portal page gives its scripts no XSRF token"
    return BrowserSession(page, context.cookies(), xsrf)


@pytest.fixture(scope="module")
def session(browser, security_portal) -> BrowserSession:
    return open_session(browser, security_portal)


def team(site) -> dict:
    r = site.call("GET", f"{site.api}/teams/{TEAM}", site.token("admin"))
    assert r.status_code == 200, r.text
    return r.json()


def keys(site, prefix: str) -> list[str]:
    r = site.call("GET", f"{site.api}/teams/{TEAM}/datasets", site.token("admin"), params={"prefix": prefix})
    assert r.status_code == 200, r.text
    return [i["key"] for i in r.json()["items"]]


class Action:
    """One state-changing request: set-up, the request, whether it took effect, restore."""

    def __init__(self, name, method, path, kwargs, done, restore=None, setup=None):
        self.name, self.method, self.path, self.kwargs = name, method, path, kwargs
        self.done, self.restore, self.setup = done, restore, setup


def _as_operator(site, method, path, **kwargs):
    r = site.call(method, f"{site.api}{path}", site.token("admin"), **kwargs)
    assert r.status_code in (200, 201), r.text


ACTIONS = [
    Action("PATCH display_name", "PATCH", f"/teams/{TEAM}", {"json": {"display_name": "Renamed by XSRF"}},
           done=lambda s: team(s)["display_name"] == "Renamed by XSRF",
           restore=lambda s: _as_operator(s, "PATCH", f"/teams/{TEAM}", json={"display_name": "Team X"})),
    Action("PATCH limits", "PATCH", f"/teams/{TEAM}", {"json": {"quota": {"gpus": 3}}},
           done=lambda s: team(s)["quota"].get("gpus") == 3,
           restore=lambda s: _as_operator(s, "PATCH", f"/teams/{TEAM}", json={"quota": {"gpus": 1}})),
    Action("PUT member", "PUT", f"/teams/{TEAM}/members/erin", {},
           done=lambda s: "erin" in team(s)["members"],
           restore=lambda s: _as_operator(s, "DELETE", f"/teams/{TEAM}/members/erin")),
    Action("DELETE member", "DELETE", f"/teams/{TEAM}/members/grace", {},
           done=lambda s: "grace" not in team(s)["members"],
           restore=lambda s: _as_operator(s, "PUT", f"/teams/{TEAM}/members/grace")),
    Action("POST folder", "POST", f"/teams/{TEAM}/folders", {"json": {"key": "xsrf/folder/"}},
           done=lambda s: "xsrf/folder/" in keys(s, "xsrf/"),
           restore=lambda s: _as_operator(s, "DELETE", f"/teams/{TEAM}/datasets", params={"key": "xsrf/folder/"})),
    Action("DELETE object", "DELETE", f"/teams/{TEAM}/datasets", {"params": {"key": "xsrf/object.txt"}},
           done=lambda s: "xsrf/object.txt" not in keys(s, "xsrf/"),
           setup=lambda s: s.put_object(TEAM, "xsrf/object.txt")),
]


def send(site, session, action, xsrf: str | None = None):
    url = f"{site.api}{action.path}"
    headers = {"Cookie": session.cookie_header(url)}
    if xsrf is not None:
        headers["X-XSRFToken"] = xsrf
    return site.call(action.method, url, headers=headers, **action.kwargs)


@pytest.mark.parametrize("action", ACTIONS, ids=[a.name for a in ACTIONS])
def test_session_cookie_without_xsrf_token_is_refused(security_portal, session, action):
    site = security_portal
    if action.setup:
        action.setup(site)
    assert not action.done(site)
    r = send(site, session, action)
    assert r.status_code == 401, r.text  # the cookie is not accepted: an anonymous request
    assert r.headers.get("WWW-Authenticate") and r.json()["message"]
    assert not action.done(site), f"{action.name} took effect without the XSRF token"


@pytest.mark.parametrize("source", ["page", "cookie"])
@pytest.mark.parametrize("action", ACTIONS, ids=[a.name for a in ACTIONS])
def test_session_cookie_with_xsrf_token_is_accepted(security_portal, session, action, source):
    site = security_portal
    if action.setup:
        action.setup(site)
    xsrf = session.xsrf if source == "page" else next(c["value"] for c in session.cookies
                                                       if c["name"] == "_xsrf" and c["path"].startswith("/services"))
    r = send(site, session, action, xsrf)
    try:
        assert r.status_code in (200, 201), r.text
        assert action.done(site)
    finally:
        if action.restore and action.done(site):
            action.restore(site)


def test_xsrf_token_of_another_session_is_refused(security_portal, session, browser):
    site = security_portal
    other = open_session(browser, site)
    assert other.xsrf != session.xsrf
    action = ACTIONS[0]
    r = send(site, session, action, other.xsrf)
    assert r.status_code == 401, r.text
    assert not action.done(site)


FETCH = """async ([url, body, xsrf]) => {
  const headers = {"Content-Type": "application/json"};
  if (xsrf) headers["X-XSRFToken"] = xsrf;
  const r = await fetch(url, {method: "PATCH", credentials: "same-origin", headers, body,
                              signal: AbortSignal.timeout(30000)});
  return [r.status, await r.text()];
}"""


def test_fetch_from_the_portal_page_needs_the_xsrf_header(security_portal, session):
    site, page = security_portal, session.page
    url = f"{site.api}/teams/{TEAM}"
    status, body = page.evaluate(FETCH, [url, json.dumps({"display_name": "Renamed by fetch"}), None])
    assert status == 401, body
    assert team(site)["display_name"] == "Team X"
    status, body = page.evaluate(FETCH, [url, json.dumps({"display_name": "Renamed by fetch"}),
                                         page.evaluate("window.jhdata.xsrf_token")])
    try:
        assert status == 200, body
        assert team(site)["display_name"] == "Renamed by fetch"
    finally:
        _as_operator(site, "PATCH", f"/teams/{TEAM}", json={"display_name": "Team X"})


class AttackerSite:
    """Pages of another origin on the portal's site (same host, another port): the browser
    sends the portal's cookies with the requests these pages make."""

    def __init__(self, host: str):
        pages = self.pages = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = pages.get(self.path, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.origin = f"http://{host}:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def open(self, session, name: str, body: str):
        self.pages[f"/{name}"] = body
        page = session.page.context.new_page()
        return page, f"{self.origin}/{name}"


@pytest.fixture(scope="module")
def attacker(security_portal):
    site = AttackerSite(urlsplit(security_portal.url).hostname)
    yield site
    site.server.shutdown()
    site.server.server_close()


def test_form_from_another_origin_cannot_act(security_portal, session, attacker):
    """A form posting JSON-looking text/plain (no CORS preflight) is refused without the
    token; the same form with the token reaches the handler, so the token is what decides."""
    site = security_portal
    action = f"{site.api}/teams/{TEAM}/folders"
    form = (f'<form method="post" enctype="text/plain" action="{html.escape(action)}">'
            '<input name=\'{"key": "csrf-form/", "pad": "\' value=\'"}\'></form>'
            "<script>document.forms[0].submit()</script>")
    page, url = attacker.open(session, "form.html", form)
    with page.expect_navigation(url=action):
        page.goto(url)
    answer = json.loads(page.locator("body").inner_text())
    assert answer["status"] == 401, answer
    assert "csrf-form/" not in keys(site, "csrf-form")

    with_token = (f'<form method="post" action="{html.escape(action)}">'
                  f'<input name="_xsrf" value="{html.escape(session.xsrf)}"></form>'
                  "<script>document.forms[0].submit()</script>")
    page.close()
    page, url = attacker.open(session, "form-with-token.html", with_token)
    with page.expect_navigation(url=action):
        page.goto(url)
    answer = json.loads(page.locator("body").inner_text())
    assert answer["status"] == 400 and "JSON" in answer["message"], answer  # authenticated: the body is checked
    page.close()


def test_no_cors_fetch_from_another_origin_cannot_act(security_portal, session, attacker):
    site = security_portal
    action = f"{site.api}/teams/{TEAM}/folders"
    script = """<script>
      async function attack(url, key) {
        await fetch(url, {method: "POST", mode: "no-cors", credentials: "include",
                          headers: {"Content-Type": "text/plain"}, body: JSON.stringify({key}),
                          signal: AbortSignal.timeout(30000)});
      }
    </script>"""
    page, url = attacker.open(session, "fetch.html", script)
    page.goto(url)
    page.evaluate("([url, key]) => attack(url, key)", [action, "csrf-fetch/"])
    assert "csrf-fetch/" not in keys(site, "csrf-fetch")
    # the identical request with the token (which the other origin cannot read) succeeds
    page.evaluate("([url, key]) => attack(url, key)", [f"{action}?_xsrf={quote(session.xsrf)}", "csrf-fetch-control/"])
    try:
        assert "csrf-fetch-control/" in keys(site, "csrf-fetch-control")
    finally:
        _as_operator(site, "DELETE", f"/teams/{TEAM}/datasets", params={"key": "csrf-fetch-control/"})
    page.close()
