"""Released versions as prod-mode servers: resolution, the spawn form's "Promoted versions",
the form and query values, the servers' labels, and reading them from the portal database."""

from pathlib import Path

import pytest

from portal.db import Database
from portal.promotion.records import Promotions
from spawners.container import container_spec
from spawners.homes import Home
from spawners.kubernetes import pod_settings
from spawners.profiles import ProfileError, ResolvedProfile, options_form, options_from_form, pinned, resolve
from spawners.team import ReleasedVersions
from tests.conftest import TEST_CONFIG
from tests.portal.test_hub_config import load_hub_config

DIGEST = "sha256:" + "ab12cd34ef56" + "0" * 52
OLD_DIGEST = "sha256:" + "99" * 32
PROFILES = {
    "cpu": {"image": "localhost/dev:1", "display_name": "CPU", "mode": "dev", "cpu": 1,
            "memory": 2**30, "gpus": 0, "app": "jupyter"},
    "prod": {"image": "localhost/dev:1", "display_name": "Production model", "mode": "prod", "cpu": 2,
             "memory": 2**32, "gpus": 1, "app": "jupyter"},
    "prod-big": {"image": "localhost/dev:1", "display_name": "Big", "mode": "prod", "cpu": 8,
                 "memory": 2**34, "gpus": 2, "app": "desktop"},
}
TEAMS = {"team-a": {"profiles": ["cpu", "prod"]}, "team-b": {"profiles": ["cpu", "prod"]},
         "team-c": {"profiles": ["cpu"]}}


def release(id, team="team-a", project="team-a/model", version="v1.2.0", digest=DIGEST, status="success"):
    return {"id": id, "team": team, "project": project, "version": version, "status": status,
            "image": f"registry.example:5000/{project}:{version}", "digest": digest}


RELEASED = {"team-a": [release(12), release(7, version="v1.1.0", digest=OLD_DIGEST)],
            "team-b": [release(13, team="team-b", project="team-b/secret")]}


def test_a_released_version_runs_pinned_by_digest_in_prod_mode_with_the_profiles_resources():
    r = resolve({"team": "team-a", "profile": "prod", "promotion": 12}, TEAMS, PROFILES, RELEASED)
    assert r == ResolvedProfile(
        team="team-a", profile="prod", display_name="team-a/model v1.2.0 (Production model)",
        image=f"registry.example:5000/team-a/model@{DIGEST}", mode="prod", cpu=2, memory=2**32, gpus=1,
        app="jupyter", promotion=12, version="v1.2.0")


def test_the_only_prod_profile_may_be_implicit_and_a_profile_without_a_promotion_is_unchanged():
    r = resolve({"team": "team-a", "promotion": 7}, TEAMS, PROFILES, RELEASED)
    assert (r.profile, r.version, r.image) == ("prod", "v1.1.0", f"registry.example:5000/team-a/model@{OLD_DIGEST}")
    plain = resolve({"team": "team-a", "profile": "prod"}, TEAMS, PROFILES, RELEASED)
    assert (plain.image, plain.promotion, plain.version) == ("localhost/dev:1", None, "")


@pytest.mark.parametrize("image,pinned_image", [
    ("registry.example:5000/team-a/model:v1.2.0", f"registry.example:5000/team-a/model@{DIGEST}"),
    ("registry.example:5000/team-a/model", f"registry.example:5000/team-a/model@{DIGEST}"),
    (f"registry.example/team-a/model@{OLD_DIGEST}", f"registry.example/team-a/model@{DIGEST}"),
    ("model:v1", f"model@{DIGEST}"),
])
def test_pinned_replaces_the_tag_by_the_digest(image, pinned_image):
    assert pinned(image, DIGEST) == pinned_image


UNKNOWN = "promotion: 13 is not a promoted version of team 'team-a'"


@pytest.mark.parametrize("options,released,message", [
    ({"team": "team-a", "profile": "prod", "promotion": 13}, RELEASED, UNKNOWN),  # team-b's
    ({"team": "team-a", "profile": "prod", "promotion": 13}, {}, UNKNOWN),  # no such promotion
    ({"team": "team-a", "profile": "prod", "promotion": 13},
     {"team-a": [release(13, status="failed")]}, UNKNOWN),
    ({"team": "team-a", "profile": "cpu", "promotion": 12}, RELEASED,
     "profile: 'cpu' is not a prod-mode profile of team 'team-a'; a promoted version runs in one of: prod"),
    ({"team": "team-a", "profile": "prod-big", "promotion": 12}, RELEASED,
     "profile: 'prod-big' is not a prod-mode profile of team 'team-a'; a promoted version runs in one of: prod"),
    ({"team": "team-c", "profile": "cpu", "promotion": 12}, {"team-c": [release(12, team="team-c")]},
     "a promoted version runs in one of: none (ask an operator)"),
    ({"team": "team-a", "profile": "prod", "promotion": "12"}, RELEASED,
     "promotion: '12' is not a promotion id (a whole number)"),
    ({"team": "team-a", "profile": "prod", "promotion": True}, RELEASED, "promotion: 'True' is not a promotion id"),
    ({"team": "team-a", "profile": "prod", "promotion": 12.0}, RELEASED, "promotion: '12.0' is not a promotion id"),
    ({"team": "team-a", "profile": "prod", "promotion": None}, RELEASED, "promotion: 'None' is not a promotion id"),
    ({"team": "team-b", "profile": "prod", "promotion": 13}, RELEASED, "you are not a member of team 'team-b'"),
])
def test_refusals_name_the_field_and_say_why(options, released, message):
    teams = {t: TEAMS[t] for t in ("team-a", "team-c")}
    with pytest.raises(ProfileError) as e:
        resolve(options, teams, PROFILES, released)
    assert message in str(e.value)
    if message == UNKNOWN:
        assert str(e.value) == UNKNOWN  # another team's id reads as an unknown one


def test_the_form_lists_released_versions_newest_first_after_the_teams_profiles():
    released = {"team-a": [release(7, version="v1.1.0", digest=OLD_DIGEST), release(12)],
                "team-c": [release(3, team="team-c", project="team-c/x")]}
    form = options_form(TEAMS, PROFILES, {}, released=released)
    a, b = form.split('data-team="team-b"')[0], form.split('data-team="team-b"')[1]
    assert a.index('value="team-a/prod"') < a.index("Promoted versions")
    assert a.index('value="team-a/prod@12"') < a.index('value="team-a/prod@7"')
    assert "team-a/model v1.2.0 <small>(ab12cd34ef56, Production model: 2 CPU, 4 GiB, 1 GPU)" in a
    assert "Promoted versions" not in b  # team-b has released nothing
    assert "team-c/x" not in form  # team-c has no prod-mode profile to run it in
    assert form.count(" checked") == 1 and 'value="team-a/cpu" checked' in form


def test_the_form_escapes_project_names():
    released = {"team-a": [release(12, project='<img src=x onerror="alert(1)">')]}
    form = options_form({"team-a": TEAMS["team-a"]}, PROFILES, {}, released=released)
    assert "<img" not in form and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in form


@pytest.mark.parametrize("formdata,options", [
    ({"profile": ["team-a/prod@12"]}, {"team": "team-a", "profile": "prod", "promotion": 12}),
    ({"profile": ["team-a/prod"], "promotion": ["12"]}, {"team": "team-a", "profile": "prod", "promotion": 12}),
    ({"profile": ["team-a/cpu"]}, {"team": "team-a", "profile": "cpu"}),
])
def test_form_and_query_values_parse_back(formdata, options):
    assert options_from_form(formdata) == options


def test_every_radio_of_the_form_parses_back_to_what_resolves():
    form = options_form({"team-a": TEAMS["team-a"]}, PROFILES, {}, released=RELEASED)
    assert 'value="team-a/prod@12"' in form
    options = options_from_form({"profile": ["team-a/prod@12"]})
    assert resolve(options, TEAMS, PROFILES, RELEASED).promotion == 12


@pytest.mark.parametrize("formdata,message", [
    ({"profile": ["team-a/prod@x1"]}, "promotion: 'x1' is not a promotion id"),
    ({"profile": ["team-a/prod@"]}, "promotion: '' is not a promotion id"),
    ({"profile": ["team-a/prod@-3"]}, "promotion: '-3' is not a promotion id"),
    ({"profile": ["team-a/prod@١٢"]}, "is not a promotion id"),  # decimal, but not ASCII
    ({"profile": ["team-a/prod@" + "9" * 5000]}, "is not a promotion id"),
    ({"profile": ["team-a/prod@12"], "promotion": ["12"]}, "promotion: give one promotion id"),
])
def test_garbage_values_are_refused(formdata, message):
    with pytest.raises(ProfileError) as e:
        options_from_form(formdata)
    assert message in str(e.value)


RELEASE = resolve({"team": "team-a", "promotion": 12}, TEAMS, PROFILES, RELEASED)


def test_a_released_versions_container_is_labelled_and_runs_its_code_without_src():
    spec = container_spec(RELEASE, name="n", portal="x", user="bob", server="prod-v1-2-0", command=["c"],
                          env={}, home=Home(Path("/h/bob"), 1, 1), account=Path("/a/bob"))
    assert spec["image"] == f"registry.example:5000/team-a/model@{DIGEST}"
    assert spec["working_dir"] == "/code" and "/src" not in str(spec["host_config"]["binds"])
    assert {k: v for k, v in spec["labels"].items() if k.endswith(("promotion", "version"))} == {
        "org.aiportal.promotion": "12", "org.aiportal.version": "v1.2.0"}


def test_a_released_versions_pod_is_labelled_and_runs_its_code_without_src():
    s = pod_settings(RELEASE, user="bob", namespace="aiportal-team-a", uid=1000)
    assert s["image"] == f"registry.example:5000/team-a/model@{DIGEST}"
    assert s["working_dir"] is None and not any(m["mountPath"] == "/src" for m in s["volume_mounts"])
    assert {"name": "home", "mountPath": "/home/bob"} in s["volume_mounts"]  # empty, in the pod
    assert s["extra_labels"]["aiportal.org/mode"] == "prod"
    assert (s["extra_labels"]["aiportal.org/promotion"], s["extra_labels"]["aiportal.org/version"]) == ("12", "v1.2.0")


def test_released_versions_are_read_from_the_portal_database_by_team(tmp_path):
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    promotions = Promotions(Database(url))

    def promote(team, version, **fields):
        record = promotions.create(team=team, project_id={"team-a": 1, "team-b": 2}[team], project_path=f"{team}/model",
                                   commit_sha="c0ffee", version=version, created_by="alice")
        return promotions.update(record["id"], **fields)["id"]

    done = {"status": "success", "image": "registry.example/m:v", "digest": DIGEST}
    a1, a2 = promote("team-a", "v1.0.0", **done), promote("team-a", "v1.1.0", **done)
    promote("team-a", "v1.2.0", status="failed")
    promote("team-b", "v1.0.0", **done)
    released = ReleasedVersions(url)
    by_team = released(["team-a", "team-c"])
    assert {team: [r["id"] for r in records] for team, records in by_team.items()} == {"team-a": [a2, a1],
                                                                                        "team-c": []}
    a3 = promote("team-a", "v1.3.0", **done)  # promoted a moment ago: startable now
    assert [r["id"] for r in released(["team-a"])["team-a"]] == [a3, a2, a1]


def test_the_hub_reads_released_versions_from_the_portal_database(tmp_path, monkeypatch):
    c = load_hub_config(tmp_path, monkeypatch, TEST_CONFIG)
    assert c.Spawner.released_versions.db_url == f"sqlite:///{tmp_path / 'data' / 'portal.sqlite'}"
