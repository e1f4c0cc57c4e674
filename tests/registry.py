"""A real OCI registry for the tests: Debian's `docker-registry` (distribution 2.8).

Kaniko pulls a prod image's base from a registry and pushes the result to one (it cannot
read Podman's store), and a prod server is spawned from `127.0.0.1:PORT/…@sha256:…`, so the
promotion tests need a registry that speaks the real distribution API.

It listens on a fixed loopback address, 127.0.0.1:5055 (AIPORTAL_TEST_REGISTRY overrides
it): Podman's Docker-compatible API has no per-pull TLS switch, so the address is declared
insecure ahead of time in a registries.conf.d drop-in by scripts/podman-setup.sh, which a
random port could not be. Its storage lives in the cache ($AIPORTAL_CACHE/registry), so the
1.1 GB dev image is pushed once and survives between sessions. A registry already answering
on that address (another session's, on the same storage) is used and left running.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

CACHE = Path(os.environ.get("AIPORTAL_CACHE", Path.home() / ".cache" / "aiportal"))
ADDRESS = os.environ.get("AIPORTAL_TEST_REGISTRY", "127.0.0.1:5055")
HTTP_TIMEOUT = 30
MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
))


def split_ref(ref: str) -> tuple[str, str]:
    """'team/dev:latest' → ('team/dev', 'latest'); 'team/dev@sha256:…' → ('team/dev', 'sha256:…')."""
    if "@" in ref:
        repo, _, reference = ref.partition("@")
        return repo, reference
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        raise ValueError(f"{ref!r} names no tag or digest")
    return repo, tag


class Registry:
    """An OCI registry on `host` ("127.0.0.1:PORT") speaking plain HTTP.

    References passed to its methods are relative to the registry ("team/dev:latest" or
    "team/dev@sha256:…"). `close()` stops the server if this object started it.
    """

    def __init__(self, address: str = ADDRESS, storage: Path = CACHE / "registry"):
        self.host = address
        self.storage = storage
        self.url = f"http://{address}"
        self.proc: subprocess.Popen | None = None
        self.run_dir: Path | None = None
        self.http = requests.Session()

    def start(self, timeout: float = 20) -> Registry:
        if self.answers():
            return self
        self.storage.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="aiportal-registry-"))
        config = self.run_dir / "config.yml"
        # JSON is YAML: no template engine needed for the registry's config.
        config.write_text(json.dumps({
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True}},
            "http": {"addr": self.host},
        }))
        log = self.run_dir / "registry.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                why = log.read_text()[-2000:]
                self.close()
                raise RuntimeError(f"docker-registry did not answer on {self.host}: {why}")
            time.sleep(0.1)
        return self

    def answers(self) -> bool:
        """True when a distribution registry serves /v2/ at the address."""
        try:
            r = self.http.get(f"{self.url}/v2/", timeout=2)
        except requests.ConnectionError:
            return False
        return r.status_code == 200 and "Docker-Distribution-Api-Version" in r.headers

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        self.http.close()

    def digest(self, ref: str) -> str | None:
        """The manifest digest of `ref`, or None when the registry lacks it."""
        repo, reference = split_ref(ref)
        r = self.http.head(f"{self.url}/v2/{repo}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES},
                           timeout=HTTP_TIMEOUT)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.headers["Docker-Content-Digest"]

    def manifest(self, ref: str) -> dict:
        repo, reference = split_ref(ref)
        r = self.http.get(f"{self.url}/v2/{repo}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES},
                          timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        return r.json()

    def config(self, ref: str) -> dict:
        """The image configuration (labels, env, layer diff IDs) of a single-image `ref`."""
        repo, _ = split_ref(ref)
        r = self.http.get(f"{self.url}/v2/{repo}/blobs/{self.manifest(ref)['config']['digest']}",
                          timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        return r.json()

    def delete(self, ref: str) -> None:
        """Remove the manifest `ref` points to (and so every tag of it); blobs stay until GC."""
        repo, _ = split_ref(ref)
        digest = self.digest(ref)
        if digest:
            self.http.delete(f"{self.url}/v2/{repo}/manifests/{digest}", timeout=HTTP_TIMEOUT).raise_for_status()

    def push(self, local_image: str, ref: str) -> str:
        """Push a Podman image to `ref` and return its manifest digest.

        Skipped when `ref` already holds that image: Podman's image ID is the digest of the
        image's config, which a push carries over unchanged, so one manifest request tells.
        """
        image_id = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", local_image],
                                  capture_output=True, text=True, check=True).stdout.strip()
        if self.digest(ref) and self.manifest(ref).get("config", {}).get("digest") == f"sha256:{image_id}":
            return self.digest(ref)
        subprocess.run(["podman", "push", "--quiet", "--tls-verify=false", local_image, f"{self.host}/{ref}"],
                       capture_output=True, text=True, check=True)
        return self.digest(ref)


@pytest.fixture(scope="session")
def registry():
    r = Registry().start()
    yield r
    r.close()
