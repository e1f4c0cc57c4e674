"""The team pages' new controls rendered without a hub: who sees "Make admin", "Delete",
"New team" and the pending sign-ups, and that names stay text."""

from __future__ import annotations

from portal.overview import overview, team_servers
from portal.rbac import ADMIN, Caller
from tests.portal.test_pages_templates import HOSTILE, PROFILES, Elements, Handler, render, team


def buttons(html, cls):
    return [a for a in Elements(html).find("button") if cls in a.get("class", "").split()]


def test_operators_see_make_and_unmake_admin_and_team_admins_do_not():
    operator = render("team.html", Handler("admin", [ADMIN]), team=team(), profiles=PROFILES, can_admin=True,
                      gitlab_group_url="")
    assert {(b["data-user"], b["data-admin"]) for b in buttons(operator, "set-admin")} == {
        ("alice", "false"), ("bob", "true")}
    assert {b["data-user"] for b in buttons(operator, "remove-member")} == {"alice", "bob"}
    team_admin = render("team.html", Handler("alice", [f"{ADMIN}!group=team-a"]), team=team(), profiles=PROFILES,
                        can_admin=True, gitlab_group_url="")
    assert buttons(team_admin, "set-admin") == []
    assert {b["data-user"] for b in buttons(team_admin, "remove-member")} == {"bob"}  # not the admin


def test_the_overview_offers_new_team_and_delete_except_for_portal_yaml_teams():
    others = team()
    others.name = "team-web"
    html = render("overview.html", Handler("admin", [ADMIN]), uses=overview([team(), others], [], PROFILES, {}),
                  profiles=PROFILES, declared={"team-a"}, gpu_inventory=4)
    assert Elements(html).find("button", id="new-team")
    assert [b["data-team"] for b in buttons(html, "delete-team")] == ["team-web"]
    assert "This machine has 4 GPUs." in html
    assert Elements(html).find("input", id="delete-team-typed")
    assert not [a for t, a in Elements(html).tags if "style" in a]  # CSP: no style attributes
    assert not [a for t, a in Elements(html).tags if t == "script" and "src" not in a and "nonce" not in a]


def test_the_operators_home_lists_pending_sign_ups_as_text():
    html = render("home.html", Handler("admin", [ADMIN]), teams=[], caller=None,
                  pending_signups=["newcomer", HOSTILE])
    page = Elements(html)
    assert page.find("a", id="authorize-link", href="/hub/authorize")
    assert "newcomer" in html and "&lt;img src=x" in html and not page.find("img", src="x")
    assert "pending-signups" not in render("home.html", Handler("bob"), teams=[], caller=None, pending_signups=[])


def test_team_admins_from_the_admins_property_count_as_team_admins():
    alice = Caller({"name": "alice", "scopes": []})
    assert alice.can(ADMIN, "team-a", ["alice"], ["alice"]) and alice.can("custom:portal:read", "team-a", (), ["alice"])
    assert not alice.can(ADMIN, "team-a", ["alice"], [])
    assert not alice.can("operator", "team-a", ["alice"], ["alice"])  # never an operator's rights


def test_a_teams_servers_are_named():
    in_t1 = {"user_options": {"team": "t1"}}
    users = [{"name": "bob", "servers": {"": in_t1, "gpu": in_t1}},
             {"name": "carol", "servers": {"x": {"user_options": {"team": "t2"}}}}]
    assert team_servers("t1", users) == ["bob", "bob/gpu"]
