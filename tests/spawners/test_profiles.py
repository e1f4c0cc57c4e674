"""Profile resolution: the rules both spawner backends share."""

import pytest

from spawners.profiles import PRESELECT_SCRIPT, ProfileError, allowed, options_form, options_from_form, resolve

PROFILES = {
    "cpu": {"name": "cpu", "image": "img:1", "display_name": "CPU", "mode": "dev", "cpu": 1,
            "memory": 2**30, "gpus": 0, "app": "jupyter"},
    "gpu": {"name": "gpu", "image": "img:1", "display_name": "GPU", "mode": "prod", "cpu": 4,
            "memory": 2**33, "gpus": 2, "app": "desktop"},
}
TEAMS = {"team-a": {"display_name": "Team A", "profiles": ["cpu", "gpu", "gone"]},
         "team-b": {"profiles": ["cpu"]}}


def test_allowed_drops_undefined_profiles():
    assert allowed(TEAMS, PROFILES) == {"team-a": ["cpu", "gpu"], "team-b": ["cpu"]}


def test_resolve_gives_everything_a_backend_needs():
    r = resolve({"team": "team-a", "profile": "gpu"}, TEAMS, PROFILES)
    assert (r.team, r.profile, r.image, r.mode, r.cpu, r.memory, r.gpus, r.app) == \
        ("team-a", "gpu", "img:1", "prod", 4, 2**33, 2, "desktop")
    assert r.default_url == "/desktop/"


def test_single_choice_may_be_implicit():
    r = resolve({}, {"team-b": TEAMS["team-b"]}, PROFILES)
    assert (r.team, r.profile) == ("team-b", "cpu")


@pytest.mark.parametrize("options,message", [
    ({"team": "team-c", "profile": "cpu"}, "you are not a member of team 'team-c'"),
    ({"team": "team-b", "profile": "gpu"}, "profile: 'gpu' is not allowed for team 'team-b' (allowed: cpu)"),
    ({"team": "team-a", "profile": "gone"}, "'gone' is not allowed for team 'team-a'"),
    ({"team": "team-a"}, "profile: 'None' is not allowed"),
    ({"team": "../etc", "profile": "cpu"}, "team: give the name of one of your teams"),
    ({"team": ["team-a"], "profile": "cpu"}, "team: give the name of one of your teams"),
    ({"team": "team-a", "profile": "cpu", "image": "evil"}, "unknown user option(s): image"),
    ("team-a", "user_options must be a JSON object"),
])
def test_refusals_say_what_is_wrong(options, message):
    with pytest.raises(ProfileError) as e:
        resolve(options, TEAMS, PROFILES)
    assert message in str(e.value)


def test_form_offers_only_the_users_teams_and_escapes_names():
    teams = {"team-a": {"display_name": "<script>x</script>", "profiles": ["cpu"]}}
    form = options_form(teams, PROFILES, {"team-a": "1 of 2 GPUs free"})
    assert 'value="team-a/cpu"' in form and "team-b" not in form and "gpu" not in form
    assert form.count("<script>") == 1 and form.endswith(PRESELECT_SCRIPT)  # only the preselection's
    assert "&lt;script&gt;x&lt;/script&gt;" in form
    assert "1 of 2 GPUs free" in form
    assert options_from_form({"profile": ["team-a/cpu"]}) == {"team": "team-a", "profile": "cpu"}


def test_form_without_choices_says_so():
    assert "no team" in options_form({}, PROFILES, {})
