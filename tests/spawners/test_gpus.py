"""GPU inventory and the ledger's quota rules (the race through the hub is in test_containers)."""

import asyncio

import pytest

from spawners.gpus import GpuLedger, GpuRefused, Holding, cdi_spec_present, gpu_quota, inventory, parse_nvidia_smi

# The first line as an H200 host printed it; the MIG line is how nvidia-smi lists MIG slices.
NVIDIA_SMI = """GPU 0: NVIDIA H200 (UUID: GPU-2d490110-0bc3-0d53-af9c-c20bd3647e81)
GPU 1: NVIDIA H200 (UUID: GPU-2d490110-0bc3-0d53-af9c-c20bd3647e82)
  MIG 1g.18gb     Device  0: (UUID: MIG-11111111-2222-3333-4444-555555555555)
"""


def test_inventory_from_nvidia_smi_or_config():
    assert parse_nvidia_smi(NVIDIA_SMI) == ("0", "1")
    assert inventory(["3", "4"]) == ("3", "4")
    assert inventory([]) == ()  # configured empty: no GPUs even where nvidia-smi finds some


def test_cdi_spec_is_recognised(tmp_path):
    assert not cdi_spec_present([str(tmp_path / "absent")])
    (tmp_path / "other.yaml").write_text("kind: vendor.com/fpga\n")
    assert not cdi_spec_present([str(tmp_path)])
    (tmp_path / "nvidia.yaml").write_text("cdiVersion: 0.5.0\nkind: nvidia.com/gpu\n")
    assert cdi_spec_present([str(tmp_path)])


async def test_quota_counts_running_and_pending_servers_of_the_team():
    ledger = GpuLedger(["0", "1", "2", "3"])
    running = {"c1": Holding("team-a", ("0",)), "c2": Holding("team-b", ("1", "2"))}
    assert ledger.reserve("c3", "team-a", 1, 2, running) == ("3",)
    with pytest.raises(GpuRefused) as e:
        ledger.reserve("c4", "team-a", 1, 2, running)
    assert str(e.value) == "team team-a uses 2 of 2 GPUs: stop a server or ask a team admin"
    await ledger.settle("c3")  # its container is running now: listed, not pending
    assert ledger.used_by("team-a", {**running, "c3": Holding("team-a", ("3",))}) == 2
    assert ledger.used_by("team-a", running) == 1  # c3 died: it holds nothing


async def test_settling_waits_for_a_reservation_in_progress():
    ledger = GpuLedger(["0", "1"])
    ledger.reserve("c1", "team-a", 1, 1, {})
    async with ledger.lock:  # another spawn is between listing containers and reserving
        settling = asyncio.ensure_future(ledger.settle("c1"))
        await asyncio.sleep(0.01)
        with pytest.raises(GpuRefused):  # its listing may predate c1's container: c1 still counts
            ledger.reserve("c2", "team-a", 1, 1, {})
    await settling
    assert ledger.pending == {}


def test_a_server_listed_and_pending_counts_once():
    ledger = GpuLedger(["0", "1"])
    ledger.reserve("c1", "team-a", 1, 2, {})
    assert ledger.used_by("team-a", {"c1": Holding("team-a", ("0",))}) == 1


def test_machine_exhaustion_and_multi_gpu_profiles_say_so():
    ledger = GpuLedger(["0", "1"])
    running = {"c1": Holding("team-b", ("0",))}
    with pytest.raises(GpuRefused) as e:
        ledger.reserve("c2", "team-a", 2, None, running)
    assert str(e.value) == ("1 of the 2 GPUs of this machine are free and this profile needs 2: "
                            "try again when other servers stop")
    with pytest.raises(GpuRefused) as e:
        ledger.reserve("c2", "team-a", 2, 1, running)
    assert "team team-a uses 0 of 1 GPUs and this profile needs 2" in str(e.value)
    assert ledger.pending == {}


def test_describe_for_the_spawn_form():
    ledger = GpuLedger(["0", "1", "2"])
    running = {"c1": Holding("team-a", ("0",)), "c2": Holding("team-b", ("1",))}
    assert ledger.describe("team-a", 2, running) == "1 of 2 team GPUs free"
    assert ledger.describe("team-c", None, running) == "1 of 3 GPUs free"
    assert ledger.describe("team-c", 3, running) == "1 of 3 team GPUs free (the machine has 1 free)"


def test_quota_comes_from_group_properties():
    assert gpu_quota({"quota": {"gpus": 2, "cpu": 4}}) == 2
    assert gpu_quota({"quota": {}}) is None and gpu_quota({}) is None
