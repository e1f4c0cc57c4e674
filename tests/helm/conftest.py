"""Fixtures of the Helm chart tests (tests/helm/).

- `helm`: Path of the helm binary that scripts/install-kubernetes.sh builds into the cache
  (`${AIPORTAL_CACHE:-~/.cache/aiportal}/k8s-v1.37.2/bin/helm`). Without it the test fails,
  naming the script: chart tests are never skipped.
- `chart`: Path of the chart, helm/aiportal.
- `all_options`: Path of tests/helm/all-options.yaml, a values file that sets every option.
- `render`: `render(*values_files, set_values=(), release="t")` → the manifests `helm template`
  renders (dicts); a failed render raises HelmError with helm's message.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HELM = Path(os.environ.get("AIPORTAL_CACHE", Path.home() / ".cache" / "aiportal")) / "k8s-v1.37.2" / "bin" / "helm"


class HelmError(RuntimeError):
    """helm exited non-zero; the message is its output."""


def run_helm(helm: Path, *args: str, timeout: float = 60) -> str:
    done = subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise HelmError(done.stdout + done.stderr)
    return done.stdout


@pytest.fixture(scope="session")
def helm() -> Path:
    if not os.access(HELM, os.X_OK):
        pytest.fail(f"no helm at {HELM}: run scripts/install-kubernetes.sh (make test does)")
    return HELM


@pytest.fixture(scope="session")
def chart() -> Path:
    return ROOT / "helm" / "aiportal"


@pytest.fixture(scope="session")
def all_options() -> Path:
    return Path(__file__).with_name("all-options.yaml")


@pytest.fixture(scope="session")
def render(helm, chart):
    def render(*values_files: Path, set_values: tuple[str, ...] = (), release: str = "t") -> list[dict]:
        args = ["template", release, str(chart), "--namespace", "aiportal"]
        for path in values_files:
            args += ["--values", str(path)]
        for value in set_values:
            args += ["--set", value]
        return [doc for doc in yaml.safe_load_all(run_helm(helm, *args)) if doc]
    return render
