"""GPU inventory from portal.yaml or nvidia-smi, GPU readings, and NVIDIA's CDI spec (quotas:
test_quotas; readings in the metrics: tests/portal/test_metrics.py)."""

from pathlib import Path

from spawners.gpus import MiB, Reading, cdi_spec_present, inventory, parse_nvidia_smi, parse_readings

FAKE_QUERY_OUTPUT = Path(__file__).resolve().parent.parent / "fake_nvidia" / "query-gpu.csv"

# The first line as an H200 host printed it; the MIG line is how nvidia-smi lists MIG slices.
NVIDIA_SMI = """GPU 0: NVIDIA H200 (UUID: GPU-2d490110-0bc3-0d53-af9c-c20bd3647e81)
GPU 1: NVIDIA H200 (UUID: GPU-2d490110-0bc3-0d53-af9c-c20bd3647e82)
  MIG 1g.18gb     Device  0: (UUID: MIG-11111111-2222-3333-4444-555555555555)
"""


def test_inventory_from_nvidia_smi_or_config():
    assert parse_nvidia_smi(NVIDIA_SMI) == ("0", "1")
    assert inventory(["3", "4"]) == ("3", "4")
    assert inventory([]) == ()  # configured empty: no GPUs even where nvidia-smi finds some


def test_readings_of_the_gpu_query():
    readings = parse_readings(FAKE_QUERY_OUTPUT.read_text())
    assert [r.index for r in readings] == ["0", "1", "2", "3"]
    assert readings[0] == Reading("0", "GPU-5c0a8b3e-71f2-3c4d-9e1a-2b6f4d8c0e13", 0.87, 60241 * MiB, 81920 * MiB)
    assert readings[3].utilization is None and readings[3].memory_used == 0  # "[N/A]": MIG mode
    # what is not a line of the query is skipped, not an error
    assert parse_readings("NVIDIA-SMI has failed because it couldn't communicate with the driver.\n"
                          "x, GPU-1, 1, 2, 3\n0, GPU-1, 1, 2\n") == []


def test_cdi_spec_is_recognised(tmp_path):
    assert not cdi_spec_present([str(tmp_path / "absent")])
    (tmp_path / "other.yaml").write_text("kind: vendor.com/fpga\n")
    assert not cdi_spec_present([str(tmp_path)])
    (tmp_path / "nvidia.yaml").write_text("cdiVersion: 0.5.0\nkind: nvidia.com/gpu\n")
    assert cdi_spec_present([str(tmp_path)])
