"""GPUs: the machine's inventory, and whether they can be attached as CDI devices.

Who holds which GPU, within each team's quota, is quotas.py's ledger.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

_NVIDIA_SMI_LINE = re.compile(r"^GPU (\d+): ", re.M)
CDI_DIRS = ("/etc/cdi", "/var/run/cdi")


def parse_nvidia_smi(listing: str) -> tuple[str, ...]:
    """GPU indexes from `nvidia-smi -L` ("GPU 0: NVIDIA A100 (UUID: GPU-…)")."""
    return tuple(_NVIDIA_SMI_LINE.findall(listing))


def inventory(configured: Sequence[str] | None) -> tuple[str, ...]:
    """portal.yaml's `gpus` if set, else what nvidia-smi lists, else none."""
    if configured is not None:
        return tuple(configured)
    if not shutil.which("nvidia-smi"):
        return ()
    result = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    return parse_nvidia_smi(result.stdout) if result.returncode == 0 else ()


def cdi_spec_present(dirs: Sequence[str] = CDI_DIRS) -> bool:
    """Whether the host describes its NVIDIA GPUs for CDI (`nvidia-ctk cdi generate`).

    Without such a spec a CDI device request fails the container's creation, so GPUs are
    then given only through NVIDIA_VISIBLE_DEVICES (read by the NVIDIA runtime hook).
    """
    specs = [spec for d in map(Path, dirs) if d.is_dir() for spec in sorted(d.iterdir())
             if spec.suffix in (".yaml", ".json")]
    return any("nvidia.com/gpu" in spec.read_text(errors="replace") for spec in specs)
