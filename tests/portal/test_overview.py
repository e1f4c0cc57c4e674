"""The operators' overview counted from hub user models (dicts), without a hub."""

from portal.config import Profile
from portal.overview import overview
from portal.teams import Team

GiB = 2**30
PROFILES = {
    "cpu": Profile("cpu", "img", "CPU", "", "dev", 0.1, 1 * GiB, 0, "jupyter"),
    "gpu": Profile("gpu", "img", "GPU", "", "dev", 2, 4 * GiB, 1, "jupyter"),
}


def team(name, **quota):
    return Team(name, {"quota": quota}, ["alice"])


def user(**servers):
    """A hub user model as `GET /users?state=active` lists it: its active servers."""
    return {"name": "u", "servers": {name: {"name": name, "ready": True, "user_options": options}
                                     for name, options in servers.items()}}


def by_name(uses):
    return {u.team.name: u for u in uses}


def test_servers_hold_their_profiles_resources_in_their_team():
    users = [user(a={"team": "team-a", "profile": "gpu"}, b={"team": "team-a", "profile": "cpu"}),
             user(**{"": {"team": "team-a", "profile": "cpu"}}, c={"team": "team-b", "profile": "gpu"})]
    uses = by_name(overview([team("team-a"), team("team-b")], users, PROFILES, {}))
    a, b = uses["team-a"], uses["team-b"]
    assert (a.servers, a.gpus, a.cpu, a.memory) == (3, 1, 2.2, 6 * GiB)
    assert (b.servers, b.gpus, b.cpu, b.memory) == (1, 1, 2, 4 * GiB)


def test_every_team_is_listed_in_order_even_without_servers_or_a_count():
    uses = overview([team("team-c"), team("team-a")], [], PROFILES, {"team-a": 5})
    assert [(u.team.name, u.servers, u.gpus, u.storage) for u in uses] == [("team-c", 0, 0, None),
                                                                           ("team-a", 0, 0, 5)]


def test_cpu_sums_are_rounded_like_the_quota_check():
    users = [user(**{str(i): {"team": "team-a", "profile": "cpu"} for i in range(3)})]
    assert overview([team("team-a")], users, PROFILES, {})[0].cpu == 0.3


def test_servers_of_other_teams_unknown_profiles_or_no_options():
    users = [user(a={"team": "gone", "profile": "gpu"}, b={"team": "team-a", "profile": "removed"},
                  c={}, d=None), {"name": "no-servers-key"}]
    a = overview([team("team-a")], users, PROFILES, {})[0]
    assert (a.servers, a.gpus, a.cpu, a.memory) == (1, 0, 0, 0)  # counted, holding nothing known


def test_over_quota_after_a_limit_was_lowered():
    users = [user(a={"team": "team-a", "profile": "gpu"}, b={"team": "team-a", "profile": "gpu"})]
    a = overview([team("team-a", gpus=1, cpu=4, storage=10)], users, PROFILES, {"team-a": 10})[0]
    assert a.over("gpus") and not a.over("cpu") and not a.over("storage") and not a.over("memory")
    assert not overview([team("team-a", storage=1)], [], PROFILES, {})[0].over("storage")  # not counted yet
