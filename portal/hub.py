"""A small async client for the JupyterHub REST API, authenticated with the service token.

JupyterHub ships no Python client for its REST API; this wraps the handful of calls the
portal makes, with the hub's own error messages turned into HubError.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError


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

    async def request(self, method: str, path: str, body=None):
        kwargs = {"method": method, "headers": {"Authorization": f"token {self.token}"},
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

    async def groups(self) -> list[dict]:
        return await self.request("GET", "/groups")

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
