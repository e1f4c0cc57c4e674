"""Reads a real OCI registry (distribution's HTTP API v2, plain HTTP) for the double's
container-registry endpoints: repositories under a project's path, their tags and digests."""

from __future__ import annotations

import json

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


class Registry:
    """The registry at `host` ("127.0.0.1:PORT"); every method answers as if it were empty
    when the registry does not know the name."""

    def __init__(self, host: str):
        self.host = host

    async def _get(self, path: str, accept: str = "application/json"):
        try:
            return await AsyncHTTPClient().fetch(
                f"http://{self.host}/v2/{path}", headers={"Accept": accept}, request_timeout=10)
        except HTTPClientError as error:
            if error.code == 404:
                return None
            raise

    async def repositories(self, prefix: str) -> list[str]:
        """Repository paths equal to `prefix` or under `prefix/`."""
        names, path = [], "_catalog?n=1000"
        while path:
            response = await self._get(path)
            names += json.loads(response.body).get("repositories") or [] if response else []
            link = response.headers.get("Link", "") if response else ""  # </v2/_catalog?last=…&n=…>; rel="next"
            path = link[len("</v2/"):link.index(">")] if link.startswith("</v2/") else None
        return sorted(n for n in names if n == prefix or n.startswith(prefix + "/"))

    async def tags(self, repository: str) -> list[str]:
        response = await self._get(f"{repository}/tags/list")
        return sorted(json.loads(response.body).get("tags") or []) if response else []

    async def tag(self, repository: str, tag: str) -> dict | None:
        """digest, revision (the config digest's hex), total_size and created of one tag."""
        response = await self._get(f"{repository}/manifests/{tag}", accept=MANIFEST_TYPES)
        if response is None:
            return None
        manifest = json.loads(response.body)
        digest = response.headers.get("Docker-Content-Digest", "")
        config = manifest.get("config") or {}
        sizes = [layer.get("size", 0) for layer in manifest.get("layers") or manifest.get("manifests") or []]
        created = None
        if config.get("digest"):
            blob = await self._get(f"{repository}/blobs/{config['digest']}", accept="*/*")
            created = json.loads(blob.body).get("created") if blob else None
        revision = config.get("digest", digest).split(":")[-1]
        return {"digest": digest, "revision": revision, "total_size": sum(sizes) + config.get("size", 0),
                "created_at": created}
