"""The interactive apps pages: the catalog (apps by category, each with its launch form) and
My sessions, rendered without a hub from the same app views as the apps API, and served by
the session portal (no containers: nothing is launched here; tests/portal/test_sessions_browser.py
launches)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import requests

from portal import config as portal_config
from portal.apps import catalog_for
from portal.handlers.app_pages import AppsPageHandler, by_category
from portal.rbac import ADMIN
from portal.teams import Team
from tests.conftest import TEST_CONFIG
from tests.portal.test_pages_templates import HOSTILE, Elements, Handler, render

CONFIG = portal_config.validate(TEST_CONFIG)
CATALOG = catalog_for(CONFIG)
ICONS = ["app", "jupyter", "desktop", "terminal", "code", "annotate", "microscope", "model"]
HTTP_TIMEOUT = 30


def teams(*names: str, member: str = "bob") -> list[Team]:
    props = {"team-a": {"display_name": HOSTILE, "profiles": ["cpu", "gpu", "prod"]},
             "team-b": {"display_name": "Team B", "profiles": ["cpu", "missing", "tiny"]}}
    return [Team(n, props[n], [member], "portal") for n in names]


def catalog_page(caller: Handler, member_of: list[Team], operator: bool = False) -> str:
    """apps.html as AppsPageHandler renders it: its own view and profile options, on a
    stand-in for the handler that has what they read (the config and the caller)."""
    handler = SimpleNamespace(portal_config=CONFIG, caller=SimpleNamespace(is_operator=operator))
    views = [v for app in CATALOG.apps.values()
             if (v := AppsPageHandler.view(handler, app, member_of)) and v["teams"]]
    views = [AppsPageHandler.with_profile_options(handler, v) for v in views]
    return render("apps.html", caller, categories=by_category(views),
                  team_names={t.name: t.display_name for t in member_of},
                  broken=CATALOG.broken if operator else ())


def one(page: Elements, tag: str, **attrs) -> dict:
    found = page.find(tag, **attrs)
    assert len(found) == 1, (tag, attrs, found)
    return found[0]


def options(html: str, select_id: str) -> list[tuple[str, str, bool]]:
    """(value, text, selected) of a select's options."""
    class Options(Elements):
        def __init__(self):
            self.inside, self.found, self.current = False, [], None
            super().__init__(html)

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "select":
                self.inside = attrs.get("id") == select_id
            elif tag == "option" and self.inside:
                self.current = [attrs["value"], "", "selected" in attrs]
                self.found.append(self.current)

        def handle_data(self, data):
            if self.current is not None:
                self.current[1] += data

        def handle_endtag(self, tag):
            if tag == "option":
                self.current = None
            elif tag == "select":
                self.inside = False

    return [tuple(o) for o in Options().found]


def test_apps_are_grouped_by_category_each_with_its_launch_form():
    html = catalog_page(Handler("bob"), teams("team-a"))
    page = Elements(html)
    categories = [a["data-category"] for a in page.find("section")]
    assert {"Imaging", "Notebooks"} <= set(categories) and categories == sorted(categories, key=str.casefold)
    sections = html.split('<section class="mb-4 app-category" data-category="')[1:]  # each: its name, its cards
    in_section = {s.split('"', 1)[0]: [a["data-app"] for a in Elements(s).find("form")] for s in sections}
    assert in_section["Imaging"] == ["team-a-tool"] and in_section["Notebooks"] == ["jupyterlab"]
    assert one(page, "div", id="apps")["data-api"] == "/services/portal/api/v1/sessions"

    # JupyterLab: the team, its dev profiles (not 'prod'), hours 1..72 defaulting to 8.
    assert options(html, "launch-jupyterlab-team") == [("team-a", f"{HOSTILE} (team-a)", False)]
    assert options(html, "launch-jupyterlab-profile") == [("cpu", "CPU notebook", False),
                                                           ("gpu", "GPU notebook", False)]
    hours = one(page, "input", id="launch-jupyterlab-hours")
    assert {k: hours[k] for k in ("type", "name", "min", "max", "step", "value", "data-kind")} == {
        "type": "number", "name": "hours", "min": "1", "max": "72", "step": "1", "value": "8", "data-kind": "hours"}
    assert "The session stops when its time is up" in html  # help text under the input

    # The test app: every other kind, defaults filled in.
    zoom = one(page, "input", id="launch-team-a-tool-zoom")
    assert (zoom["min"], zoom["max"], zoom["step"], zoom["value"]) == ("0.5", "4", "0.5", "1")
    assert options(html, "launch-team-a-tool-layout") == [("single", "single", True), ("grid", "Grid of four", False)]
    slide = one(page, "input", id="launch-team-a-tool-slide")
    assert (slide["type"], slide["maxlength"], slide["value"], slide["data-pattern"]) == (
        "text", "64", "first", r"[A-Za-z0-9_-]+(\.svs)?")
    tool_hours = one(page, "input", id="launch-team-a-tool-hours")
    assert (tool_hours["max"], tool_hours["value"]) == ("4", "2")
    # Each input has a place for the portal's message about it.
    for field in ("team", "hours", "zoom", "layout", "slide"):
        assert page.find("div", id=f"launch-team-a-tool-{field}-error")


def test_html_in_app_names_and_team_names_is_text():
    html = catalog_page(Handler("bob"), teams("team-a"))
    page = Elements(html)
    assert not page.find("b") and not page.find("img", src="x")
    assert "<script>alert(1)" not in html
    assert "Slide &lt;b&gt;viewer&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; (team-a)" in html


def test_the_profile_select_offers_each_teams_own_profiles():
    html = catalog_page(Handler("bob"), teams("team-a", "team-b"))
    page = Elements(html)
    form = one(page, "form", **{"data-app": "jupyterlab"})
    assert json.loads(form["data-profiles"]) == {
        "team-a": [["cpu", "CPU notebook"], ["gpu", "GPU notebook"]],
        "team-b": [["cpu", "CPU notebook"], ["missing", "Image never built"], ["tiny", "Too little memory"]]}
    assert [v for v, _, _ in options(html, "launch-jupyterlab-team")] == ["team-a", "team-b"]
    # The test app is team-a's only: team-b is not offered for it.
    assert [v for v, _, _ in options(html, "launch-team-a-tool-team")] == ["team-a"]


def test_a_user_without_teams_sees_why_there_is_nothing_to_launch():
    page = Elements(catalog_page(Handler("dave"), []))
    assert one(page, "div", id="no-apps") and not page.find("form")


def test_operators_see_the_app_files_that_did_not_load():
    html = catalog_page(Handler("admin", [ADMIN]), [], operator=True)
    page = Elements(html)
    assert one(page, "div", id="broken-apps")
    assert "broken-bounds.yaml</code>: walltime.default_hours: 10 is above max_hours (4)" in html
    assert not page.find("form")  # an operator in no team launches nothing
    assert not Elements(catalog_page(Handler("bob"), teams("team-a"))).find("div", id="broken-apps")


def test_every_built_in_icon_is_drawn_and_an_apps_own_svg_is_an_image():
    html = render("sessions.html", Handler("bob"))
    page = Elements(html)
    drawn = [a["data-icon"] for a in page.find("svg")]
    assert drawn == ICONS
    bodies = html.split('<template class="app-icon-template"')[1:]
    assert len(set(bodies)) == len(ICONS)  # eight different drawings
    handler = SimpleNamespace(portal_config=CONFIG, caller=SimpleNamespace(is_operator=False))
    app = CATALOG.apps["jupyterlab"]
    view = AppsPageHandler.with_profile_options(handler, AppsPageHandler.view(handler, app, teams("team-a")))
    view["icon"] = "icons/viewer.svg"  # an app's own SVG file: an image from the apps API
    html = render("apps.html", Handler("bob"), categories=by_category([view]), team_names={}, broken=())
    assert Elements(html).find("svg", **{"class": "app-icon"}) == []
    assert [(i["data-icon"], i["src"]) for i in Elements(html).find("img", **{"class": "app-icon"})] == [
        ("file", "/services/portal/api/v1/apps/jupyterlab/icon")]


def test_the_sessions_page_is_a_frame_its_script_fills():
    handler = Handler("bob")
    html = render("sessions.html", handler)
    page = Elements(html)
    root = one(page, "div", id="sessions")
    assert (root["data-api"], root["data-poll-ms"]) == ("/services/portal/api/v1/sessions", "3000")
    assert one(page, "a", id="catalog-link")["href"] == "/services/portal/apps"
    assert one(page, "div", id="stop-modal") and one(page, "button", id="stop-confirm")
    assert one(page, "script", src="/services/portal/static/sessions.js")
    # No inline script of ours: the CSP allows only the static paths and the hub's nonced ones.
    inline = [a for a in page.find("script") if "src" not in a]
    assert all(a.get("nonce") for a in inline)
    # Both pages are in the navigation.
    assert one(page, "a", id="nav-apps")["href"] == "/services/portal/apps"
    assert one(page, "a", id="nav-sessions")["href"] == "/services/portal/sessions"


def test_by_category_sorts_categories_and_keeps_the_catalogs_order():
    views = [{"id": "b", "category": "imaging"}, {"id": "a", "category": "Notebooks"},
             {"id": "c", "category": "Imaging"}, {"id": "d", "category": "imaging"}]
    assert [(c, [v["id"] for v in vs]) for c, vs in by_category(views)] == [
        ("imaging", ["b", "d"]), ("Imaging", ["c"]), ("Notebooks", ["a"])]


# --- served by the session portal (hub, proxy, portal; nothing launched) -------------------

def page_as(portal, token, user: str | None, path: str) -> requests.Response:
    headers = {"Authorization": f"token {token(user)}"} if user else {}
    return requests.get(f"{portal.url}services/portal/{path}", headers=headers, allow_redirects=False,
                        timeout=HTTP_TIMEOUT)


def test_the_catalog_page_shows_each_user_the_apps_their_teams_may_launch(portal, token):
    bob, carol, admin = (page_as(portal, token, u, "apps") for u in ("bob", "carol", "admin"))
    assert (bob.status_code, carol.status_code, admin.status_code) == (200, 200, 200)
    assert "text/html" in bob.headers["Content-Type"]
    cards = {u: [a["data-app"] for a in Elements(r.text).find("form")] for u, r in
             (("bob", bob), ("carol", carol), ("admin", admin))}
    assert {"team-a-tool", "jupyterlab"} <= set(cards["bob"])
    assert "jupyterlab" in cards["carol"] and "team-a-tool" not in cards["carol"]
    assert cards["admin"] == []  # in no team: nothing to launch
    assert options(carol.text, "launch-jupyterlab-profile") == [
        ("cpu", "CPU notebook", False), ("missing", "Image never built", False), ("tiny", "Too little memory", False)]
    assert "broken-bounds.yaml" in admin.text and "broken-bounds.yaml" not in bob.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in bob.text and "<script>alert(1)" not in bob.text


def test_both_pages_ask_for_a_login(portal, token):
    for path in ("apps", "sessions"):
        r = page_as(portal, token, None, path)
        assert r.status_code == 302 and "/hub/" in r.headers["Location"], (path, r.status_code)
    r = page_as(portal, token, "bob", "sessions")
    assert r.status_code == 200 and Elements(r.text).find("div", id="sessions")
