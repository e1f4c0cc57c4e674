"""GPUs: the machine's inventory, what each is doing now, and whether they can be attached
as CDI devices.

Who holds which GPU, within each team's quota, is quotas.py's ledger.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_NVIDIA_SMI_LINE = re.compile(r"^GPU (\d+): ", re.M)
CDI_DIRS = ("/etc/cdi", "/var/run/cdi")
#: One line per GPU: "0, GPU-5c0a…, 87, 60241, 81920" (utilisation in %, memory in MiB).
READING_QUERY = ["nvidia-smi", "--query-gpu=index,uuid,utilization.gpu,memory.used,memory.total",
                 "--format=csv,noheader,nounits"]
MiB = 2**20


@dataclass(frozen=True)
class Reading:
    """One GPU now; None where nvidia-smi cannot tell ("[N/A]", "[Not Supported]")."""

    index: str
    uuid: str
    utilization: float | None  # 0..1
    memory_used: int | None  # bytes
    memory_total: int | None  # bytes


def parse_nvidia_smi(listing: str) -> tuple[str, ...]:
    """GPU indexes from `nvidia-smi -L` ("GPU 0: NVIDIA A100 (UUID: GPU-…)")."""
    return tuple(_NVIDIA_SMI_LINE.findall(listing))


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def parse_readings(output: str) -> list[Reading]:
    """The GPUs of READING_QUERY's output; a line that is not five fields with a numeric index
    is skipped."""
    readings = []
    for line in output.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 5 or not fields[0].isdigit():
            continue
        utilization, used, total = map(_number, fields[2:])
        readings.append(Reading(fields[0], fields[1], None if utilization is None else utilization / 100,
                                None if used is None else int(used * MiB), None if total is None else int(total * MiB)))
    return readings


def read_gpus(timeout: float) -> list[Reading]:
    """What each GPU is doing now (blocking); raises OSError, SubprocessError or
    TimeoutExpired when nvidia-smi is missing, fails or hangs."""
    result = subprocess.run(READING_QUERY, capture_output=True, text=True, timeout=timeout, check=True)
    return parse_readings(result.stdout)


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
