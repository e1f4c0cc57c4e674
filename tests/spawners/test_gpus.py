"""GPU inventory from portal.yaml or nvidia-smi, and NVIDIA's CDI spec (quotas: test_quotas)."""

from spawners.gpus import cdi_spec_present, inventory, parse_nvidia_smi

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
