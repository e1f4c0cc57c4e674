"""Datasets: a team's bucket as the portal shows it: keys, pages, links, folders, deletes
(share links: ``shares.py``).

Object bytes never pass through the portal: it lists, checks and signs URLs, and the
browser moves the data to and from S3 itself (``uploads.py`` holds the multipart side).
Every S3 call is made as the team (``storage.team_access``). Calls block: the handlers
run them in threads.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice
from urllib.parse import quote

from minio.datatypes import parse_list_objects
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from .audit import AuditLog
from .storage.team_access import TeamAccess
from .usage import UsageCache

MAX_KEY_BYTES = 1024  # S3's longest key
MAX_NAME_BYTES = 255  # both SeaweedFS and MinIO refuse a longer name between two '/'
MAX_FOLDER_NAME_BYTES = MAX_NAME_BYTES - len("__XLDIR__")  # MinIO keeps folder 'x/' as the object 'x__XLDIR__'
MAX_PAGE = 1000  # S3's most keys in one ListObjectsV2 answer
MAX_SHARE_SECONDS = 7 * 24 * 3600  # the longest a share link may live (portal/shares.py)
DOWNLOAD_TTL = timedelta(hours=1)  # long enough for a browser to resume a big download
MISSING = {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}
#: Characters that read as '/', '\\' or '.' (to a person, or once NFKC-normalized, as some
#: tools do) but are not: a key holding one could pass for another path. Found by asking
#: NFKC which characters become '/', '\\' or dots, plus the slashes it leaves alone; the
#: ellipses (U+2026, U+FE19) stay allowed: "…" is common in names and reads as no path.
LOOKALIKES = ("\u2024\u2025\ufe30\ufe52\uff0e"  # one- and two-dot leaders, small and fullwidth full stops
              "\u2044\u2215\u29f8\uff0f"  # fraction, division, big and fullwidth solidus
              "\u2100\u2101\u2105\u2106"  # a/c, a/s, c/o, c/u
              "\ufe68\uff3c")  # small and fullwidth reverse solidus


class DatasetError(Exception):
    """A request the portal refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def utf8_size(value: str, what: str) -> int:
    try:
        return len(value.encode())
    except UnicodeEncodeError:  # a lone surrogate, which a JSON \\uD800 escape can carry
        raise DatasetError(400, f"{what}: must be valid UTF-8") from None


def check_cursor(value, what: str = "start_after") -> str:
    """Text echoed back to S3 as it was listed (``start_after``): bounded, printable."""
    if not isinstance(value, str):
        raise DatasetError(400, f"{what}: must be a string")
    size = utf8_size(value, what)
    if size > MAX_KEY_BYTES:
        raise DatasetError(400, f"{what}: must be at most {MAX_KEY_BYTES} bytes of UTF-8 ({size} given)")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
        raise DatasetError(400, f"{what}: must not contain control characters")
    if value.startswith("/"):
        raise DatasetError(400, f"{what}: must not start with '/'")
    return value


def _check_names(names: list[str], what: str) -> None:
    """Names between '/': not '.', '..' or empty, and short enough for S3 servers."""
    if any(n in (".", "..") for n in names):
        raise DatasetError(400, f"{what}: must not contain a '.' or '..' segment")
    if "" in names:
        raise DatasetError(400, f"{what}: must not contain an empty segment ('//')")
    longest = max((utf8_size(n, what) for n in names), default=0)
    if longest > MAX_NAME_BYTES:
        raise DatasetError(400, f"{what}: each name between '/' must be at most {MAX_NAME_BYTES} bytes "
                                f"of UTF-8 ({longest} given)")


def whole(value) -> int | None:
    """``value`` as an int if it is a whole number (JSON's 3.0 is one, as JSON Schema says), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def check_prefix(value, what: str = "prefix") -> str:
    """A folder to list, optionally followed by the start of the names to show: each name
    in it, the unfinished last one too, follows the key rules, but it may be empty or end
    with '/'. (MinIO refuses a listing whose prefix ends in '.' or '..' as a name.)"""
    check_cursor(value, what)
    if "\\" in value:
        raise DatasetError(400, f"{what}: must not contain '\\' (S3 servers read it as a path separator "
                                "or refuse it)")
    if lookalike := next((c for c in value if c in LOOKALIKES), None):
        raise DatasetError(400, f"{what}: must not contain characters that read as '/', '\\' or '.' "
                                f"(U+{ord(lookalike):04X} {unicodedata.name(lookalike)})")
    *folders, last = value.split("/")
    _check_names([*folders, last] if last else folders, what)
    return value


def check_key(value, what: str = "key", *, folder: bool | None = False) -> str:
    """An object key: the rules of the issue, each refusal naming its rule.

    ``folder``: True requires a trailing '/', False forbids it, None accepts both.
    """
    key = check_prefix(value, what)
    if not key:
        raise DatasetError(400, f"{what}: must not be empty")
    is_folder = key.endswith("/")
    if folder is False and is_folder:
        raise DatasetError(400, f"{what}: names a folder (ends with '/'); give a file")
    if folder is True and not is_folder:
        raise DatasetError(400, f"{what}: a folder must end with '/'")
    return key


def content_disposition(key: str) -> str:
    """``attachment`` with the file's own name (RFC 6266), whatever its characters."""
    name = key.rsplit("/", 1)[-1]
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@dataclass(frozen=True)
class Place:
    """Where a request acts: the team, its bucket, who asks, and whether the team's
    delete_policy lets them delete (and so replace) objects."""

    team: str
    bucket: str
    user: str
    may_delete: bool = False


def find(access: TeamAccess, place: Place, key: str):
    """The object at ``key`` (its stat), or None."""
    try:
        return access.run(place.team, place.bucket, lambda c: c.stat_object(place.bucket, key))
    except S3Error as e:
        if e.code in MISSING:
            return None
        raise


def check_replace(access: TeamAccess, place: Place, key: str):
    """The object at ``key`` or None; 409 if there is one and ``place`` may not delete it:
    the delete_policy covers overwriting an object as much as deleting it."""
    found = find(access, place, key)
    if found is not None and not place.may_delete:
        raise DatasetError(409, f"{key!r} exists; only team admins may replace objects in team "
                                f"{place.team!r} (its delete_policy)")
    return found


class Datasets:
    def __init__(self, access: TeamAccess, usage: UsageCache, audit: AuditLog):
        self.access = access
        self.usage = usage
        self.audit = audit

    def _run(self, place: Place, call):
        return self.access.run(place.team, place.bucket, call)

    def _stat(self, place: Place, key: str):
        found = find(self.access, place, key)
        if found is None:
            raise DatasetError(404, f"no object {key!r}")
        return found

    def page(self, place: Place, prefix: str = "", start_after: str = "", limit: int = MAX_PAGE) -> dict:
        """One page of the folder ``prefix``: objects and sub-folders, by name.

        One ListObjectsV2 request of at most ``limit`` entries; ``next`` is the last entry,
        to pass as ``start_after``, or None at the end. The folder's own marker is left out.
        """
        check_prefix(prefix)
        check_cursor(start_after)
        query = {"list-type": "2", "delimiter": "/", "encoding-type": "url",
                 "max-keys": str(limit), "prefix": prefix}
        if start_after:
            query["start-after"] = start_after

        def list_once(client):
            # MinIO has answered empty pages marked truncated (minio#14132, minio-js#1314):
            # follow their token a few times rather than end the listing early.
            for _ in range(10):
                objects, truncated, token, _ = parse_list_objects(
                    client._execute("GET", place.bucket, query_params=dict(query)))
                if objects or not truncated or not token:
                    break
                query["continuation-token"] = token
            return objects, truncated

        objects, truncated = self._run(place, list_once)
        items = sorted(({"key": o.object_name, "size": o.size,
                         "last_modified": o.last_modified.isoformat().replace("+00:00", "Z")
                         if o.last_modified else None,
                         "is_prefix": o.size is None}
                        for o in objects if o.object_name != prefix), key=lambda i: i["key"])
        last = max((o.object_name for o in objects), default=None)
        return {"items": items, "next": last if truncated else None}

    def download_url(self, place: Place, key: str) -> str:
        check_key(key)
        self._stat(place, key)
        return self.access.sign(place.team, place.bucket, "GET", key, DOWNLOAD_TTL,
                                response_headers={"response-content-disposition": content_disposition(key)})

    def new_folder(self, place: Place, key) -> tuple[dict, bool]:
        """A folder is an empty object whose key ends with '/', as S3 consoles make them.

        One that exists already (a marker, or on SeaweedFS a directory holding files) is
        left as it is: making a folder never replaces an object. Returns (the folder,
        whether it was created).
        """
        key = check_key(key, folder=None)
        key = key if key.endswith("/") else key + "/"
        check_key(key, folder=True)  # the added '/' may push it past the length limit
        name = utf8_size(key[:-1].rsplit("/", 1)[-1], "key")
        if name > MAX_FOLDER_NAME_BYTES:
            raise DatasetError(400, f"key: a new folder's name must be at most {MAX_FOLDER_NAME_BYTES} bytes of "
                                    f"UTF-8 ({name} given)")
        if find(self.access, place, key) is not None:
            return {"key": key}, False
        self._run(place, lambda c: c.put_object(place.bucket, key, io.BytesIO(b""), 0))
        self.usage.add(place.team, key, 1, 0)
        self.audit.record(place.user, place.team, "folder", key)
        return {"key": key}, True

    def delete(self, place: Place, key, recursive: bool = False) -> dict:
        """Delete a file, or a folder: an empty one, or with ``recursive`` everything under it.

        A folder with content and no ``recursive`` answers 409, so a mistaken click on a
        folder cannot empty it. The recursive case lists and deletes in batches of 1000
        (one DeleteObjects request each) and is audited as one event with its totals.
        """
        key = check_key(key, folder=None)
        if not place.may_delete:
            raise DatasetError(403, f"only team admins may delete in team {place.team!r} (its delete_policy)")
        if not key.endswith("/"):
            size = self._stat(place, key).size or 0
            self._run(place, lambda c: c.remove_object(place.bucket, key))
            self.usage.add(place.team, key, -1, -size)
            self.audit.record(place.user, place.team, "delete", key, size=size)
            return {"key": key, "objects": 1, "bytes": size}
        if not recursive and self.page(place, key, limit=2)["items"]:
            raise DatasetError(409, f"folder {key!r} is not empty: delete what it holds first, "
                                    "or delete it with recursive=true")
        objects, nbytes = self._run(place, lambda c: self._delete_under(c, place, key))
        if objects == 0:
            raise DatasetError(404, f"no folder {key!r}")
        self.audit.record(place.user, place.team, "delete", key, objects=objects, size=nbytes)
        return {"key": key, "objects": objects, "bytes": nbytes}

    def _delete_under(self, client, place: Place, prefix: str) -> tuple[int, int]:
        """Delete every object whose key starts with ``prefix``, then its folders, deepest first.

        Folders go last because SeaweedFS keeps a directory whose marker was deleted while it
        still held files, and lists it until the directory itself is deleted once empty;
        on other servers deleting a folder key that is not an object is a no-op.
        """
        objects = nbytes = 0
        folders = {prefix}
        listing = client.list_objects(place.bucket, prefix=prefix, recursive=True)
        while batch := list(islice(listing, 1000)):
            files = [o for o in batch if not o.object_name.endswith("/")]
            self._remove(client, place, [o.object_name for o in files], objects)
            for o in batch:
                parts = o.object_name[len(prefix):].split("/")[:-1]
                folders.update(prefix + "/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1))
                self.usage.add(place.team, o.object_name, -1, -(o.size or 0))
                objects, nbytes = objects + 1, nbytes + (o.size or 0)
        if objects:
            self._remove(client, place, sorted(folders, reverse=True), objects)
        return objects, nbytes

    @staticmethod
    def _remove(client, place: Place, keys: list[str], done: int) -> None:
        """One DeleteObjects request per 1000 keys; the first refusal stops the delete."""
        for failed in client.remove_objects(place.bucket, (DeleteObject(k) for k in keys)):
            raise DatasetError(502, f"the storage server refused to delete {failed.name!r}: {failed.message} "
                                    f"(after {done} objects)")
