"""Reading images from an OCI registry (manifests and configs), for the reproducibility proof.

The distribution API directly, with its token flow (a 401 names a realm that trades the
GitLab token for a registry token, as `docker login` does), since no Python client of the
field covers it. Read-only.
"""

from __future__ import annotations

import re

import requests

MANIFESTS = ", ".join([
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
])
REFERENCE = re.compile(r"^(?P<host>[^/]+)/(?P<path>[^:@]+)(:(?P<tag>[^@]+))?(@(?P<digest>sha256:[0-9a-f]{64}))?$")


class RegistryError(Exception):
    """The registry could not give what was asked; the message says what."""


def split(reference: str) -> tuple[str, str, str]:
    """registry/path[:tag][@digest] → (host, path, tag or digest)."""
    match = REFERENCE.match(reference or "")
    if not match:
        raise RegistryError(f"{reference[:200]!r} is not an image reference registry/path[:tag][@sha256:…]")
    return match["host"], match["path"], match["digest"] or match["tag"] or "latest"


class Registry:
    def __init__(self, insecure: bool = False, ca_bundle: str | None = None, credentials: tuple[str, str] | None = None,
                 timeout: float = 15):
        self.scheme = "http" if insecure else "https"
        self.verify = ca_bundle or True
        self.credentials = credentials
        self.timeout = timeout

    def _get(self, host: str, path: str, what: str, accept: str) -> requests.Response:
        url = f"{self.scheme}://{host}/v2/{path}/{what}"
        headers = {"Accept": accept}
        try:
            answer = requests.get(url, headers=headers, timeout=self.timeout, verify=self.verify)
            if answer.status_code == 401 and "bearer" in answer.headers.get("WWW-Authenticate", "").lower():
                headers["Authorization"] = "Bearer " + self._token(answer.headers["WWW-Authenticate"])
                answer = requests.get(url, headers=headers, timeout=self.timeout, verify=self.verify)
        except requests.RequestException as e:
            raise RegistryError(f"registry {host} is unreachable ({type(e).__name__})") from None
        if answer.status_code != 200:
            raise RegistryError(f"registry {host} answered {answer.status_code} for {path} {what.split('/')[-1]}")
        return answer

    def _token(self, challenge: str) -> str:
        fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = fields.pop("realm", "")
        answer = requests.get(realm, params=fields, auth=self.credentials, timeout=self.timeout, verify=self.verify)
        if answer.status_code != 200:
            raise RegistryError(f"the registry's token service refused ({answer.status_code})")
        body = answer.json()
        return body.get("token") or body.get("access_token") or ""

    def digest(self, reference: str) -> str:
        host, path, ref = split(reference)
        return self._get(host, path, f"manifests/{ref}", MANIFESTS).headers.get("Docker-Content-Digest", "")

    def image(self, reference: str) -> dict:
        """digest, layer digests and config labels of a single-platform image."""
        host, path, ref = split(reference)
        answer = self._get(host, path, f"manifests/{ref}", MANIFESTS)
        manifest = answer.json()
        if "manifests" in manifest:
            raise RegistryError(f"{reference} is a multi-platform index; the proof reads single images")
        config = self._get(host, path, f"blobs/{manifest['config']['digest']}", "*/*").json()
        return {"digest": answer.headers.get("Docker-Content-Digest", ""),
                "layers": [layer["digest"] for layer in manifest.get("layers", [])],
                "labels": (config.get("config") or {}).get("Labels") or {}}
