"""The ledger's quota rules: GPUs, CPUs and memory of a team's servers (the races through
the hub are in test_containers, the local record in test_local_servers)."""

import asyncio

import pytest

from spawners.profiles import ResolvedProfile
from spawners.quotas import Holding, Ledger, QuotaRefused, human_bytes, limits

GiB = 2**30


def profile(team="team-a", gpus=0, cpu=1, memory=GiB):
    return ResolvedProfile(team=team, profile="p", display_name="P", image="img:1", mode="dev",
                           cpu=cpu, memory=memory, gpus=gpus, app="jupyter")


def refusal(ledger, key, needs, team_limits, running) -> str:
    with pytest.raises(QuotaRefused) as e:
        ledger.reserve(key, needs, team_limits, running)
    assert key not in ledger.pending
    return str(e.value)


async def test_gpu_quota_counts_running_and_pending_servers_of_the_team():
    ledger = Ledger(["0", "1", "2", "3"])
    running = {"bob/1": Holding("team-a", ("0",)), "carol/1": Holding("team-b", ("1", "2"))}
    assert ledger.reserve("bob/2", profile(gpus=1), {"gpus": 2}, running).gpus == ("3",)
    assert refusal(ledger, "bob/3", profile(gpus=1), {"gpus": 2}, running) == (
        "team team-a uses 2 of 2 GPUs and this profile needs 1: stop a server or ask an operator")
    await ledger.settle("bob/2")  # its container is running now: listed, not pending
    assert ledger.used_by("team-a", {**running, "bob/2": Holding("team-a", ("3",))})["gpus"] == 2
    assert ledger.used_by("team-a", running)["gpus"] == 1  # bob/2 died: it holds nothing


def test_cpu_and_memory_quotas_bound_the_sum_of_the_teams_limits():
    ledger = Ledger()
    running = {"bob/1": Holding("team-a", cpu=4, memory=16 * GiB), "alice/1": Holding("team-a", cpu=2, memory=GiB),
               "carol/1": Holding("team-b", cpu=32, memory=64 * GiB)}
    quota = {"cpu": 8, "memory": 32 * GiB}
    assert refusal(ledger, "bob/2", profile(cpu=4), quota, running) == (
        "team team-a uses 6 of 8 CPUs and this profile needs 4: stop a server or ask an operator")
    assert refusal(ledger, "bob/2", profile(cpu=2, memory=16 * GiB), quota, running) == (
        "team team-a uses 17 GiB of 32 GiB memory and this profile needs 16 GiB: stop a server or ask an operator")
    held = ledger.reserve("bob/2", profile(cpu=2, memory=15 * GiB), quota, running)  # exactly the quota
    assert held == Holding("team-a", (), 2, 15 * GiB)
    assert ledger.used_by("team-a", running) == {"gpus": 0, "cpu": 8, "memory": 32 * GiB}
    assert refusal(ledger, "alice/2", profile(cpu=0.5, memory=GiB), quota, running).startswith(
        "team team-a uses 8 of 8 CPUs and this profile needs 0.5")


def test_fractional_cpus_add_up_exactly():
    ledger = Ledger()
    for i in range(3):
        ledger.reserve(f"bob/{i}", profile(cpu=0.1), {"cpu": 0.3}, {})  # 0.1 + 0.1 + 0.1 > 0.3 in floats
    assert refusal(ledger, "bob/3", profile(cpu=0.1), {"cpu": 0.3}, {}).startswith(
        "team team-a uses 0.3 of 0.3 CPUs")


def test_only_what_the_profile_needs_is_checked():
    ledger = Ledger(["0"])
    running = {"bob/1": Holding("team-a", ("0",), cpu=1)}
    # the GPU quota was lowered below what runs: CPU servers still start
    assert ledger.reserve("bob/2", profile(), {"gpus": 0, "cpu": 2}, running) == Holding("team-a", (), 1, GiB)
    assert ledger.reserve("carol/1", profile("team-b", cpu=64), {}, running).cpu == 64  # no limits: none


async def test_settling_waits_for_a_reservation_in_progress():
    ledger = Ledger()
    ledger.reserve("bob/1", profile(cpu=2), {"cpu": 2}, {})
    async with ledger.lock:  # another spawn is between listing containers and reserving
        settling = asyncio.ensure_future(ledger.settle("bob/1"))
        await asyncio.sleep(0.01)
        # its listing may predate bob/1's container: bob/1 still counts
        refusal(ledger, "bob/2", profile(cpu=2), {"cpu": 2}, {})
    await settling
    assert ledger.pending == {}


def test_a_server_listed_and_pending_counts_once():
    ledger = Ledger(["0", "1"])
    ledger.reserve("bob/1", profile(gpus=1, cpu=2), {"gpus": 2}, {})
    assert ledger.used_by("team-a", {"bob/1": Holding("team-a", ("0",), 2, GiB)}) == {
        "gpus": 1, "cpu": 2, "memory": GiB}


def test_machine_exhaustion_says_so():
    ledger = Ledger(["0", "1"])
    running = {"carol/1": Holding("team-b", ("0",))}
    assert refusal(ledger, "bob/1", profile(gpus=2), {}, running) == (
        "1 of the 2 GPUs of this machine are free and this profile needs 2: try again when other servers stop")
    assert refusal(ledger, "bob/1", profile(gpus=2), {"gpus": 1}, running).startswith(
        "team team-a uses 0 of 1 GPUs and this profile needs 2")


def test_the_spawn_form_note_shows_only_limits_that_are_set():
    ledger = Ledger(["0", "1", "2"])
    running = {"bob/1": Holding("team-a", ("0",), 2, 4 * GiB), "carol/1": Holding("team-b", ("1",), 1, GiB)}
    full = {"gpus": 2, "cpu": 8, "memory": 32 * GiB}
    assert ledger.describe("team-a", full, running, gpu_profiles=True) == (
        "1 of 2 team GPUs free, 6 of 8 team CPUs free, 28 GiB of 32 GiB team memory free")
    assert ledger.describe("team-a", full, running, gpu_profiles=False) == (
        "6 of 8 team CPUs free, 28 GiB of 32 GiB team memory free")
    assert ledger.describe("team-a", {"cpu": 1}, running, gpu_profiles=False) == "0 of 1 team CPUs free"
    assert ledger.describe("team-c", {}, running, gpu_profiles=True) == "1 of 3 GPUs free"
    assert ledger.describe("team-c", {}, running, gpu_profiles=False) == ""
    assert ledger.describe("team-c", {"gpus": 3}, running, gpu_profiles=True) == (
        "1 of 3 team GPUs free (the machine has 1 free)")
    assert Ledger().describe("team-a", {"gpus": 2}, {}, gpu_profiles=True) == ""  # no GPUs here


def test_limits_come_from_group_properties():
    assert limits({"quota": {"gpus": 2, "cpu": 4, "memory": GiB, "storage": 10 * GiB}}) == {
        "gpus": 2, "cpu": 4, "memory": GiB}
    assert limits({"quota": {"gpus": 0}}) == {"gpus": 0}  # zero is a limit, absent is none
    assert limits({"quota": {}}) == {} and limits({}) == {}


@pytest.mark.parametrize("nbytes,text", [(32 * GiB, "32 GiB"), (24 * 2**20, "24 MiB"), (2 * 10**9, "1.9 GiB"),
                                         (0, "0 B"), (2**50, "1 PiB")])
def test_memory_reads_as_people_write_it(nbytes, text):
    assert human_bytes(nbytes) == text
