"""The portal's REST API for Python: `Portal(url, token)` and its parts.

- `portal.teams()`: your teams (name, display name, quota, profiles, …).
- `portal.dev`: your dev server (JupyterHub's default server): `start`, `stop`, `status`.
- `portal.data`: a team's datasets: `ls`, `upload`, `download`, `rm`, `share`.
- `portal.jobs`: batch jobs of a team (aiportal/jobs.py): `submit`, `list`, `get`.

Bytes never go through the portal: uploads PUT their parts to presigned S3 URLs, downloads
follow the portal's 307 to a presigned GET. An answer the API refuses raises PortalError
with the API's `status`, `message` and (where it names one) `field`; a portal that cannot
be reached raises PortalUnreachable.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

API = "services/portal/api/v1"
PART_TRIES = 3  # each part of an upload is sent at most this often
PARTS_IN_FLIGHT = 4
CHUNK = 1 << 20

#: progress(done_bytes, total_bytes), called as a transfer advances
Progress = Callable[[int, int], None]


class PortalError(Exception):
    """The API refused a request: `status` (HTTP), `message` (the API's words), `field`
    (the input at fault, where the API names one, e.g. `resources.memory`)."""

    def __init__(self, status: int | None, message: str, field: str | None = None):
        self.status = status
        self.message = message
        self.field = field
        super().__init__(self.text)

    @property
    def text(self) -> str:
        """One line: the field (unless the message starts with it) and the message."""
        if self.field and not self.message.startswith(f"{self.field}:"):
            return f"{self.field}: {self.message}"
        return self.message

    @classmethod
    def from_response(cls, r: requests.Response) -> PortalError:
        try:
            body = r.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return cls(r.status_code, body["message"], body.get("field"))
        return cls(r.status_code, f"{r.status_code} {r.reason or ''}".strip() + f" from {r.url.split('?')[0]}")


class PortalUnreachable(PortalError):
    """No answer from the portal (or from the storage a presigned URL names)."""

    def __init__(self, url: str, why: str):
        super().__init__(None, f"cannot reach {url}: {why}")


class Portal:
    """A connection to one portal as one user.

    `url` is the portal's address (e.g. `https://portal.example.org/`), `token` a hub API
    token of the user (the hub's Token page, or `aiportal login`), `timeout` the seconds
    each request may wait for an answer (transfers: for each chunk).
    """

    def __init__(self, url: str, token: str, timeout: float = 30):
        self.url = url.rstrip("/") + "/"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"
        self.session.headers["User-Agent"] = "aiportal-client"
        self._token = token
        self._user: str | None = None
        self.dev = Dev(self)
        self.data = Data(self)
        from .jobs import Jobs

        self.jobs = Jobs(self)

    @classmethod
    def from_config(cls, timeout: float = 30) -> Portal:
        """The portal and token `aiportal login` stored (AIPORTAL_URL/AIPORTAL_TOKEN override)."""
        from . import config

        cfg = config.load()
        if not cfg.get("url") or not cfg.get("token"):
            raise PortalError(401, "not logged in: run `aiportal login URL` (or set AIPORTAL_URL and AIPORTAL_TOKEN)")
        portal = cls(cfg["url"], cfg["token"], timeout)
        portal._user = cfg.get("user")
        return portal

    def __repr__(self) -> str:
        return f"Portal({self.url!r}, user={self._user!r})"

    # --- HTTP -----------------------------------------------------------------------------

    def request(self, method: str, path: str, *, ok=(200, 201, 202, 204), **kwargs) -> requests.Response:
        """`method` on `path` (relative to the portal's URL, e.g. `hub/api/user`); PortalError
        unless the status is one of `ok`."""
        url = path if path.startswith(("http://", "https://")) else self.url + path.lstrip("/")
        kwargs.setdefault("timeout", self.timeout)
        try:
            r = self.session.request(method, url, **kwargs)
        except requests.ConnectionError as e:
            raise PortalUnreachable(self.url, _reason(e)) from None
        except requests.Timeout:
            raise PortalUnreachable(self.url, f"no answer within {self.timeout} s") from None
        if r.status_code not in ok:
            raise PortalError.from_response(r)
        return r

    def api(self, method: str, path: str, **kwargs):
        """The portal API (`/services/portal/api/v1/<path>`): the JSON answer (None if empty)."""
        r = self.request(method, f"{API}/{path.lstrip('/')}", **kwargs)
        return r.json() if r.content else None

    def hub(self, method: str, path: str, **kwargs):
        """The hub's REST API (`/hub/api/<path>`): the JSON answer (None if empty)."""
        r = self.request(method, f"hub/api/{path.lstrip('/')}", **kwargs)
        return r.json() if r.content else None

    def pages(self, path: str, **params) -> Iterator[dict]:
        """Every item of a paginated portal list (`{"items", "_pagination"}`), page by page."""
        offset = 0
        while True:
            page = self.api("GET", path, params={**params, "offset": offset, "limit": 1000})
            yield from page["items"]
            nxt = (page.get("_pagination") or {}).get("next")
            if not nxt or not page["items"]:
                return
            offset = nxt["offset"]

    # --- who and what ---------------------------------------------------------------------

    @property
    def user(self) -> str:
        """The name of the token's user (asked from the hub once)."""
        if self._user is None:
            self._user = self.hub("GET", "user")["name"]
        return self._user

    def teams(self) -> list[dict]:
        """Your teams, by name: each with name, display_name, quota, profiles, members, admins, …"""
        return list(self.pages("teams"))


def _reason(e: Exception) -> str:
    """A connection error in a few words (requests nests the reason deep)."""
    text = str(e)
    for marker in ("Connection refused", "Name or service not known", "Temporary failure in name resolution",
                   "No route to host", "timed out", "certificate verify failed", "Network is unreachable"):
        if marker in text:
            return marker.lower() if marker != "Connection refused" else "connection refused"
    return text.splitlines()[0][:200] if text else type(e).__name__


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class Dev:
    """Your dev server: JupyterHub's default server of your user, in one of your teams with
    one of its profiles (the same choice as the hub's spawn form)."""

    def __init__(self, portal: Portal):
        self._portal = portal

    def _path(self, suffix: str = "") -> str:
        return f"users/{_quote(self._portal.user)}/server{suffix}"

    def status(self) -> dict:
        """`{"state": "stopped"|"starting"|"running"|"stopping", "team", "profile", "url",
        "started", "last_activity"}`; `url` is the server's full address."""
        model = self._portal.hub("GET", f"users/{_quote(self._portal.user)}")
        server = (model.get("servers") or {}).get("")
        if not server:
            return {"state": "stopped", "team": None, "profile": None, "url": None, "started": None,
                    "last_activity": None}
        if server.get("pending") == "stop":
            state = "stopping"
        elif server.get("pending"):
            state = "starting"
        else:
            state = "running" if server.get("ready") else "stopped"
        options = server.get("user_options") or {}
        return {"state": state, "team": options.get("team"), "profile": options.get("profile"),
                "url": self._portal.url + server["url"].lstrip("/") if server.get("url") else None,
                "started": server.get("started"), "last_activity": server.get("last_activity")}

    def progress(self) -> Iterator[dict]:
        """The hub's progress events of the server's start, as they come: `{"progress",
        "message", "ready"?, "failed"?}`; ends when the start does."""
        r = self._portal.request("GET", "hub/api/" + self._path("/progress"), stream=True,
                                 headers={"Accept": "text/event-stream"}, timeout=(self._portal.timeout, 600))
        with r:
            for line in r.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    try:
                        event = json.loads(line[5:].strip())
                    except ValueError:
                        continue
                    yield event
                    if event.get("ready") or event.get("failed"):
                        return

    def start(self, team: str | None = None, profile: str | None = None, *, wait: bool = True,
              progress: Callable[[dict], None] | None = None) -> dict:
        """Start the dev server in `team` with `profile` (either may be left out where you
        have only one to choose from). With `wait`, follow the start to its end, calling
        `progress(event)` for each of the hub's progress events (pass `print` to see them),
        and raise PortalError if it failed. A server already running is left as it is.
        Returns `status()`."""
        current = self.status()
        if current["state"] == "running":
            return current
        if current["state"] != "starting":
            body = {k: v for k, v in (("team", team), ("profile", profile)) if v is not None}
            self._portal.hub("POST", self._path(), json=body)
        if wait:
            for event in self.progress():
                if progress:
                    progress(event)
                if event.get("failed"):
                    raise PortalError(500, event.get("message") or "the server failed to start")
        return self.status()

    def stop(self, *, wait: bool = True, timeout: float = 120) -> dict:
        """Stop the dev server (nothing happens if none runs); with `wait`, until it has
        stopped. Returns `status()`."""
        if self.status()["state"] == "stopped":
            return self.status()
        self._portal.hub("DELETE", self._path())
        deadline = time.monotonic() + timeout
        while wait:
            status = self.status()
            if status["state"] == "stopped":
                return status
            if time.monotonic() > deadline:
                raise PortalError(None, f"the server did not stop within {timeout:g} s")
            time.sleep(0.5)
        return self.status()


class Data:
    """A team's datasets (its S3 bucket) through the portal: the portal checks and signs,
    the bytes go between this machine and S3 directly."""

    def __init__(self, portal: Portal):
        self._portal = portal
        self._s3 = requests.Session()  # presigned URLs: no portal token goes to S3

    def ls(self, team: str, prefix: str = "") -> list[dict]:
        """One folder of the team's bucket (`prefix` "" for its top, or ending in `/`): its
        objects and sub-folders, `{"key", "size", "last_modified", "is_prefix"}`, by key."""
        items, start_after = [], None
        while True:
            params = {"prefix": prefix, "limit": 1000}
            if start_after:
                params["start_after"] = start_after
            page = self._portal.api("GET", f"teams/{_quote(team)}/datasets", params=params)
            items.extend(page["items"])
            start_after = page.get("next")
            if not start_after:
                return items

    def upload(self, team: str, local_path: str | os.PathLike, key: str, progress: Progress | None = None) -> dict:
        """Send a local file to `key` of the team's bucket (a multipart upload: the portal
        checks key and quota first, the parts go straight to S3, each tried up to 3 times;
        on failure the upload is aborted, so nothing is left holding the quota).
        `progress(done, total)` sees bytes S3 has acknowledged. Returns `{"key", "size"}`."""
        path = Path(local_path)
        size = path.stat().st_size
        base = f"teams/{_quote(team)}/uploads"
        upload = self._portal.api("POST", base, json={"key": key, "size": size})
        done = 0
        counted = threading.Lock()
        report = progress or (lambda d, t: None)
        report(0, size)

        def send(part: dict) -> dict:
            nonlocal done
            start = (part["number"] - 1) * upload["part_size"]
            length = max(0, min(upload["part_size"], size - start))
            with open(path, "rb") as f:
                f.seek(start)
                body = f.read(length)
            for attempt in range(1, PART_TRIES + 1):
                try:
                    r = self._s3.put(part["url"], data=body, timeout=max(self._portal.timeout, 120))
                    if r.ok:
                        break
                    why = f"S3 answered {r.status_code}"
                except requests.RequestException as e:
                    why = _reason(e)
                if attempt == PART_TRIES:
                    raise PortalError(None, f"part {part['number']} of {key} failed {PART_TRIES} times: {why}")
                time.sleep(attempt)
            with counted:  # parts finish in several threads; progress never goes back
                done += length
                report(done, size)
            return {"number": part["number"], "etag": r.headers.get("ETag", "").strip('"')}

        try:
            with ThreadPoolExecutor(PARTS_IN_FLIGHT) as pool:
                parts = list(pool.map(send, upload["parts"]))
            return self._portal.api("POST", f"{base}/{_quote(upload['id'])}/complete", json={"parts": parts})
        except BaseException:
            try:
                self._portal.api("DELETE", f"{base}/{_quote(upload['id'])}")
            except PortalError:
                pass
            raise

    def download(self, team: str, key: str, local_path: str | os.PathLike = ".",
                 progress: Progress | None = None) -> Path:
        """Fetch `key` of the team's bucket into `local_path` (a file, or a directory to put
        it in under its own name) by the portal's presigned URL. The file appears complete
        or not at all (written beside it, then renamed). Returns the file's path."""
        r = self._portal.request("GET", f"{API}/teams/{_quote(team)}/download", params={"key": key},
                                 allow_redirects=False, ok=(302, 303, 307))
        target = Path(local_path)
        if target.is_dir() or str(local_path).endswith(os.sep):
            target = target / key.rstrip("/").rsplit("/", 1)[-1]
        location = urllib.parse.urljoin(r.url, r.headers["Location"])
        try:
            s3 = self._s3.get(location, stream=True, timeout=max(self._portal.timeout, 120))
        except requests.RequestException as e:
            raise PortalUnreachable(location.split("?")[0], _reason(e)) from None
        with s3:
            if not s3.ok:
                raise PortalError(s3.status_code, f"the storage answered {s3.status_code} for {key}")
            total = int(s3.headers.get("Content-Length") or 0)
            partial = target.with_name(f".{target.name}.part")
            done = 0
            if progress:
                progress(0, total)
            try:
                with open(partial, "wb") as f:
                    for chunk in s3.iter_content(CHUNK):
                        f.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total)
                os.replace(partial, target)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        return target

    def rm(self, team: str, keys: str | list[str], recursive: bool = False) -> list[dict]:
        """Delete objects, or folders (keys ending in `/`: empty ones, or everything under
        them with `recursive`). Returns `{"key", "objects", "bytes"}` for each."""
        keys = [keys] if isinstance(keys, str) else list(keys)
        return [self._portal.api("DELETE", f"teams/{_quote(team)}/datasets",
                                 params={"key": key, "recursive": "true" if recursive else "false"})
                for key in keys]

    def share(self, team: str, key: str, expires: int | str = 86400) -> dict:
        """A link to `key` that works without logging in until it expires (seconds, or a
        duration such as "30m", "12h", "7d"; at most 7 days) or is revoked. Returns the
        share: `{"id", "url", "key", "expires_at", …}`; hand out its `url`."""
        return self._portal.api("POST", f"teams/{_quote(team)}/shares",
                                json={"key": key, "expires_in": seconds(expires)})


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(duration: int | str) -> int:
    """`3600`, `"3600"`, `"90m"`, `"12h"`, `"7d"` → seconds; ValueError otherwise."""
    if isinstance(duration, int) and not isinstance(duration, bool):
        return duration
    text = str(duration).strip().lower()
    if text.isdigit():
        return int(text)
    if len(text) > 1 and text[:-1].isdigit() and text[-1] in UNITS:
        return int(text[:-1]) * UNITS[text[-1]]
    raise ValueError(f"{duration!r} is not a duration: seconds, or a number with s, m, h, d or w")
