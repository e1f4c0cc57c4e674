"""The promotions page rendered without a hub: the config its script reads, names with HTML
in them kept as text, and what it says when promotion is off."""

from __future__ import annotations

import json

from portal.rbac import ADMIN
from tests.portal.test_pages_templates import HOSTILE, Elements, Handler, render, team


class Config(Elements):
    """The page's tags, and the text of its `promotions-config` JSON block."""

    def __init__(self, html: str):
        self.inside, self.config = False, None
        super().__init__(html)

    def handle_starttag(self, tag, attrs):
        super().handle_starttag(tag, attrs)
        self.inside = tag == "script" and dict(attrs).get("id") == "promotions-config"

    def handle_data(self, data):
        if self.inside:
            self.config = (self.config or "") + data

    def handle_endtag(self, tag):
        self.inside = False


def page(may_promote=True, enabled=True, user="alice"):
    handler = Handler(user, [f"{ADMIN}!group=team-a"])
    html = render("promotions.html", handler, team=team(), enabled=enabled, may_promote=may_promote)
    return html, Config(html)


def test_the_config_block_carries_the_api_base_the_user_and_may_promote():
    for may in (True, False):
        html, parsed = page(may_promote=may)
        config = json.loads(parsed.config)
        assert config["api"] == "/services/portal/api/v1/teams/team-a"
        assert config["mayPromote"] is may
        assert config["user"] == "alice" and config["team"] == "team-a"
        assert config["spawn"] == "/hub/spawn/"
        assert parsed.find("script", src="/services/portal/static/promotions.js")
        assert parsed.find("form", id="promote-form") and parsed.find("select", id="branch")
        assert bool(parsed.find("button", id="setup")) is may  # only a promoter opens the set-up MR


def test_a_user_name_cannot_break_out_of_the_config_block():
    _, parsed = page(user="</script><script>alert(1)</script>")
    assert json.loads(parsed.config)["user"] == "</script><script>alert(1)</script>"


def test_html_in_the_team_display_name_is_text():
    html, parsed = page()
    assert not parsed.find("img", src="x")
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert HOSTILE not in html


def test_the_page_says_promotion_is_off_and_runs_no_script_when_disabled():
    html, parsed = page(enabled=False)
    assert parsed.find("div", id="promotion-off")
    assert "Promotion is off" in html
    assert parsed.config is None and not parsed.find("script", src="/services/portal/static/promotions.js")
    assert not parsed.find("form", id="promote-form") and not parsed.find("div", id="projects")
    enabled, _ = page(enabled=True)
    assert "Promotion is off" not in enabled


def test_the_breadcrumb_leads_back_to_the_team():
    _, parsed = page()
    assert parsed.find("a", href="/services/portal/teams/team-a")
    assert parsed.find("a", href="/services/portal/")
