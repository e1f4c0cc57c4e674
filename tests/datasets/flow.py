"""What a browser does with the datasets API, in Python: start, PUT parts to S3, complete."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.http import HTTP_TIMEOUT


def start(s: requests.Session, key: str, size: int) -> dict:
    r = s.post(f"{s.base}/uploads", json={"key": key, "size": size})
    assert r.status_code == 201, r.text
    return r.json()


def part_bytes(upload: dict, data: bytes, number: int) -> bytes:
    offset = (number - 1) * upload["part_size"]
    return data[offset:offset + upload["part_size"]]


def put_part(upload: dict, data: bytes, number: int, body: bytes | None = None) -> str:
    """PUT one part straight to S3, with no portal credentials at all; its ETag."""
    url = upload["parts"][number - 1]["url"]
    r = requests.put(url, data=part_bytes(upload, data, number) if body is None else body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    return r.headers["ETag"]


def put_parts(upload: dict, data: bytes, numbers=None) -> None:
    """Several parts in flight at once, last first (S3 must not care about order)."""
    numbers = list(numbers or range(len(upload["parts"]), 0, -1))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: put_part(upload, data, n), numbers))


def complete(s: requests.Session, upload: dict, etags: dict[int, str] | None = None) -> requests.Response:
    body = {"parts": [{"number": n, "etag": e} for n, e in etags.items()]} if etags else None
    return s.post(f"{s.base}/uploads/{upload['id']}/complete", json=body)


def upload(s: requests.Session, key: str, data: bytes) -> dict:
    up = start(s, key, len(data))
    put_parts(up, data)
    r = complete(s, up)
    assert r.status_code == 200, r.text
    return r.json()


def download(s: requests.Session, key: str) -> requests.Response:
    """Follow the portal's 307 to S3 as a browser would (the token stays with the portal)."""
    r = s.get(f"{s.base}/download", params={"key": key}, allow_redirects=False)
    assert r.status_code == 307, r.text
    return requests.get(r.headers["Location"], timeout=HTTP_TIMEOUT)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
