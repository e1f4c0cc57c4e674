"""Page templates rendered without a hub: what the team page shows when GitLab owns the
membership, and that names with HTML in them stay text on every page."""

from __future__ import annotations

from html.parser import HTMLParser
from types import SimpleNamespace

from portal.app import make_renderer
from portal.config import Profile
from portal.overview import overview
from portal.page_security import SecurityPolicy
from portal.rbac import ADMIN
from portal.teams import Team

HOSTILE = '<img src=x onerror="alert(1)">'
PROFILES = {"cpu": Profile("cpu", "img", f"CPU {HOSTILE}", "", "dev", 1, 2**30, 0, "jupyter")}


class Handler:
    """What the renderer reads from a request handler."""

    xsrf_token = b"xsrf"
    request = SimpleNamespace(protocol="https", host="portal.example")

    def __init__(self, user: str, scopes=()):
        self.current_user = {"name": user, "scopes": list(scopes)}
        self.headers = {}

    def set_header(self, name, value):
        self.headers[name] = value

    def static_url(self, path):
        return f"/services/portal/static/{path}"


class Elements(HTMLParser):
    """The tags of a page, with their attributes."""

    def __init__(self, html: str):
        super().__init__()
        self.tags = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def find(self, tag, **attrs):
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def render(template, handler, **ns):
    policy = SecurityPolicy(("/hub/static/", "/services/portal/static/"))
    return make_renderer("/hub/", "/services/portal/", policy)(handler, template, **ns)


def team(source="portal"):
    return Team("team-a", {"display_name": HOSTILE, "profiles": ["cpu"], "admins": ["alice"]},
                ["alice", "bob"], source)


def test_gitlab_membership_links_to_the_group_instead_of_member_controls():
    html = render("team.html", Handler("alice", [f"{ADMIN}!group=team-a"]), team=team("gitlab"), profiles=PROFILES,
                  can_admin=True, gitlab_group_url="https://gitlab.example/groups/team-a")
    page = Elements(html)
    assert page.find("a", href="https://gitlab.example/groups/team-a")
    assert not page.find("form", id="member-form") and "remove-member" not in html
    assert page.find("form", id="name-form")  # the display name is still the team admin's
    assert "Membership is managed in gitlab" in html


def test_names_with_html_are_text_on_every_page():
    operator = Handler("admin", [ADMIN])
    pages = [
        render("team.html", operator, team=team(), profiles=PROFILES, can_admin=True, gitlab_group_url=""),
        render("home.html", operator, teams=[team()], caller=None),
        render("overview.html", operator, uses=overview([team()], [], PROFILES, {}), profiles=PROFILES),
        render("datasets.html", operator, team=team(), usage={}, can_delete=True, max_share=1, page_size=1,
               manage_shares=False),
    ]
    for html in pages:
        assert not Elements(html).find("img", src="x")
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html


def test_the_page_header_nonce_is_the_one_on_jupyterhubs_inline_scripts():
    handler = Handler("alice")
    html = render("error.html", handler, status_code=404, status_message="Not Found", message="no page")
    csp = handler.headers["Content-Security-Policy"]
    inline = [a for a in Elements(html).find("script") if "src" not in a]
    assert inline and all(f"'nonce-{a['nonce']}'" in csp for a in inline)
    assert "https://portal.example/hub/static/ https://portal.example/services/portal/static/" in csp
