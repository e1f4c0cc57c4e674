"""A small async client for the JupyterHub REST API, authenticated with the service token.

JupyterHub ships no Python client for its REST API; this wraps the handful of calls the
portal makes, with the hub's own error messages turned into HubError.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

PAGINATION = "application/jupyterhub-pagination+json"
PAGE_SIZE = 200  # the hub's own api_page_max_limit default


class HubError(Exception):
    """A hub API call failed; `status` is the hub's HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class HubClient:
    def __init__(self, api_url: str, token: str):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.http = AsyncHTTPClient()

    async def request(self, method: str, path: str, body=None, headers: dict | None = None):
        kwargs = {"method": method, "headers": {"Authorization": f"token {self.token}", **(headers or {})},
                  "allow_nonstandard_methods": True}
        if body is not None:
            kwargs["body"] = json.dumps(body)
            kwargs["headers"]["Content-Type"] = "application/json"
        elif method in ("POST", "PUT", "PATCH"):
            kwargs["body"] = b""
        try:
            response = await self.http.fetch(f"{self.api_url}{path}", **kwargs)
        except HTTPClientError as e:
            message = e.message
            if e.response is not None and e.response.body:
                try:
                    message = json.loads(e.response.body).get("message", message)
                except ValueError:
                    pass
            raise HubError(e.code, message) from None
        return json.loads(response.body) if response.body else None

    async def pages(self, path: str, page_size: int = PAGE_SIZE) -> AsyncIterator[list[dict]]:
        """A hub collection page by page, following its `_pagination.next` to the end.

        Without the pagination Accept header the hub silently answers only its first page
        (200 items by default), so a deployment with more teams or users would lose some.
        """
        offset = 0
        while True:
            sep = "&" if "?" in path else "?"
            page = await self.request("GET", f"{path}{sep}offset={offset}&limit={page_size}",
                                      headers={"Accept": PAGINATION})
            yield page["items"]
            following = page["_pagination"]["next"]
            if not following:
                return
            offset = following["offset"]

    async def groups(self) -> list[dict]:
        """Every group of the hub (all pages)."""
        return [g async for page in self.pages("/groups") for g in page]

    async def find(self, path: str) -> dict | None:
        """GET a model, None when the hub says 404."""
        try:
            return await self.request("GET", path)
        except HubError as e:
            if e.status == 404:
                return None
            raise

    async def group(self, name: str) -> dict | None:
        return await self.find(f"/groups/{quote(name, safe='')}")

    async def create_group(self, name: str) -> dict:
        return await self.request("POST", f"/groups/{quote(name, safe='')}")

    async def delete_group(self, name: str) -> None:
        await self.request("DELETE", f"/groups/{quote(name, safe='')}")

    async def active_users(self) -> list[dict]:
        """Users with an active server (starting, running or stopping), their servers included."""
        return [u async for page in self.pages("/users?state=active") for u in page]

    async def set_group_properties(self, name: str, properties: dict) -> dict:
        return await self.request("PUT", f"/groups/{quote(name, safe='')}/properties", properties)

    async def add_group_users(self, name: str, users: list[str]) -> dict:
        return await self.request("POST", f"/groups/{quote(name, safe='')}/users", {"users": users})

    async def remove_group_users(self, name: str, users: list[str]) -> dict:
        return await self.request("DELETE", f"/groups/{quote(name, safe='')}/users",
                                  {"users": users})

    async def user(self, name: str) -> dict | None:
        return await self.find(f"/users/{quote(name, safe='')}")

    async def ensure_users(self, names: list[str]) -> None:
        missing = [n for n in names if await self.user(n) is None]
        if missing:
            await self.request("POST", "/users", {"usernames": missing})
