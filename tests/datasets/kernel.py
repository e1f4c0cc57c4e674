"""Run Python in a user's Jupyter server through its REST and kernel websocket APIs,
as a notebook cell runs: the code sees exactly the environment the spawner gave it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.http import HTTP_TIMEOUT, TimedSession


def hub_api(site, user: str) -> requests.Session:
    s = TimedSession()
    s.headers["Authorization"] = f"token {site.token(user)}"
    s.base = f"{site.portal.url}hub/api"
    return s


def spawn(site, user: str, options: dict, timeout: float = 120) -> None:
    hub = hub_api(site, user)
    r = hub.post(f"{hub.base}/users/{user}/server", json=options)
    assert r.status_code in (201, 202), r.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = hub.get(f"{hub.base}/users/{user}").json()["servers"].get("")
        if server and server["ready"]:
            return
        assert server and server.get("pending"), f"server of {user} stopped while starting"
        time.sleep(0.5)
    raise AssertionError(f"server of {user} not ready in {timeout:.0f} s")


def stop(site, user: str) -> None:
    hub = hub_api(site, user)
    hub.delete(f"{hub.base}/users/{user}/server")
    deadline = time.monotonic() + 60
    while hub.get(f"{hub.base}/users/{user}").json()["servers"].get("") and time.monotonic() < deadline:
        time.sleep(0.3)


async def _execute(ws_url: str, token: str, code: str, timeout: float) -> str:
    ws = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {token}"}))
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    out = []
    try:
        while True:
            raw = await asyncio.wait_for(ws.read_message(), timeout)
            assert raw is not None, "kernel websocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                raise AssertionError("\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()


def run_python(site, user: str, code: str, timeout: float = 60) -> str:
    """stdout of ``code`` run in a fresh kernel of the user's default server."""
    token = site.token(user)
    base = f"{site.portal.url}user/{user}/api/kernels"
    headers = {"Authorization": f"token {token}"}
    kernel = requests.post(base, headers=headers, json={"name": "python3"}, timeout=HTTP_TIMEOUT)
    assert kernel.status_code == 201, kernel.text
    kid = kernel.json()["id"]
    try:
        ws_url = f"{base.replace('http', 'ws', 1)}/{kid}/channels"
        return asyncio.run(_execute(ws_url, token, code, timeout))
    finally:
        requests.delete(f"{base}/{kid}", headers=headers, timeout=HTTP_TIMEOUT)
