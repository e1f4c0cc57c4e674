"""Datasets benchmark: the portal's presigned flow and listing against the S3 server itself.

Starts a single-machine portal on the embedded SeaweedFS in a temporary folder and, in
the same run, measures:

(a) 1 GiB uploaded and downloaded as a browser does through the portal (POST /uploads,
    parts PUT to presigned URLs 4 at a time, complete; GET /download → 307 → GET) against
    the minio SDK talking to the same server directly (put_object with 4 parallel parts,
    get_object), best of three rounds each; and the portal service's RSS growth meanwhile
    (the bytes must not pass through it).
(b) the first page of a folder through the portal API against a raw list_objects first
    page, with 10,000 objects in the folder and again with 100,000 (the page time must
    not grow with the folder).

Prints progress on stderr and, as its last line, one JSON object with every figure,
ratio and target. Run: .venv/bin/python benchmarks/datasets.py
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import urllib3
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.launcher import Portal  # noqa: E402
from portal.storage import store_from_config  # noqa: E402
from portal.tokens import new_token  # noqa: E402

GiB, MiB = 2**30, 2**20
PARALLEL = 4
BUCKET = "bench"
CONFIG = {
    "hub": {"admin_users": ["admin"]},
    "storage": {"type": "seaweedfs", "usage_interval": 3600},
    "profiles": {"cpu": {"image": "unused"}},
    "teams": [{"name": BUCKET, "members": ["user"], "profiles": ["cpu"]}],
}


def say(message: str) -> None:
    print(f"[datasets bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_pid(hub_pid: int) -> int:
    """The portal service: the hub's child running `python -m portal.serve`."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == hub_pid and b"portal.serve" in cmdline:
                return int(entry.name)
    raise RuntimeError("portal service process not found")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class PeakRSS:
    """Samples a process's RSS every 50 ms while active."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, rss_mb(pid), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def drain(response) -> int:
    n = 0
    for chunk in response.stream(MiB):
        n += len(chunk)
    response.release_conn()
    return n


def portal_upload(api: requests.Session, http: urllib3.PoolManager, key: str, data: bytes) -> None:
    r = api.post(f"{api.base}/uploads", json={"key": key, "size": len(data)})
    r.raise_for_status()
    up = r.json()

    def put(part):
        offset = (part["number"] - 1) * up["part_size"]
        resp = http.request("PUT", part["url"], body=data[offset:offset + up["part_size"]])
        assert resp.status == 200, resp.data[:300]
        return {"number": part["number"], "etag": resp.headers["ETag"]}

    with ThreadPoolExecutor(PARALLEL) as pool:
        parts = list(pool.map(put, up["parts"]))
    api.post(f"{api.base}/uploads/{up['id']}/complete", json={"parts": parts}).raise_for_status()


def portal_download(api: requests.Session, http: urllib3.PoolManager, key: str) -> int:
    r = api.get(f"{api.base}/download", params={"key": key}, allow_redirects=False)
    assert r.status_code == 307, r.text
    return drain(http.request("GET", r.headers["Location"], preload_content=False))


def sdk_upload(client, key: str, data: bytes) -> None:
    client.put_object(BUCKET, key, io.BytesIO(data), len(data), part_size=8 * MiB,
                      num_parallel_uploads=PARALLEL)


def sdk_download(client, key: str) -> int:
    return drain(client.get_object(BUCKET, key))


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def transfer(api, client, service: int) -> dict:
    say("generating 1 GiB")
    data = os.urandom(GiB)
    http = urllib3.PoolManager(maxsize=PARALLEL * 2)
    best = {"portal_upload_s": [], "portal_download_s": [], "sdk_upload_s": [], "sdk_download_s": []}
    before = rss_mb(service)
    runs = {"portal": (portal_upload, portal_download, "gib/portal.bin", (api, http)),
            "sdk": (sdk_upload, sdk_download, "gib/sdk.bin", (client,))}
    with PeakRSS(service) as rss:
        for round_ in range(3):
            # Alternate who goes first: the server's own state (volume growth, overwrites)
            # then costs both sides alike.
            for name in (("portal", "sdk") if round_ % 2 == 0 else ("sdk", "portal")):
                upload, download, key, args = runs[name]
                best[f"{name}_upload_s"].append(timed(upload, *args, key, data))
                start = time.perf_counter()
                assert download(*args, key) == GiB
                best[f"{name}_download_s"].append(time.perf_counter() - start)
                say(f"1 GiB round {round_ + 1} {name}: up {best[f'{name}_upload_s'][-1]:.2f} s, "
                    f"down {best[f'{name}_download_s'][-1]:.2f} s")
    figures = {k: round(min(v), 3) for k, v in best.items()}
    portal_s = figures["portal_upload_s"] + figures["portal_download_s"]
    sdk_s = figures["sdk_upload_s"] + figures["sdk_download_s"]
    ratio = sdk_s / portal_s  # throughput ratio: same bytes, so the inverse of the times
    growth = rss.peak - before
    return {
        "bytes": GiB, **figures,
        "upload_ratio": round(figures["sdk_upload_s"] / figures["portal_upload_s"], 3),
        "download_ratio": round(figures["sdk_download_s"] / figures["portal_download_s"], 3),
        "throughput_ratio": round(ratio, 3), "throughput_target": ">=0.9", "throughput_ok": ratio >= 0.9,
        "service_rss_before_mb": round(before, 1), "service_rss_peak_mb": round(rss.peak, 1),
        "service_rss_growth_mb": round(growth, 1), "rss_target": "<50", "rss_ok": growth < 50,
    }


def fill(client, prefix: str, start: int, stop: int) -> None:
    def put(i):
        client.put_object(BUCKET, f"{prefix}obj-{i:07d}", io.BytesIO(b"x"), 1)

    with ThreadPoolExecutor(8) as pool:  # the client's connection pool holds 10
        list(pool.map(put, range(start, stop)))


def first_pages(api, client, prefix: str, repeat: int = 15) -> dict:
    def portal_page():
        r = api.get(f"{api.base}/datasets", params={"prefix": prefix, "limit": 1000})
        assert r.status_code == 200 and len(r.json()["items"]) == 1000, r.text[:300]

    def raw_page():
        assert len(list(itertools.islice(client.list_objects(BUCKET, prefix=prefix), 1000))) == 1000

    portal_page(), raw_page()  # warm: token cache, connections
    portal, raw = [], []
    for _ in range(repeat):  # interleaved, so noise hits both alike
        portal.append(timed(portal_page))
        raw.append(timed(raw_page))
    p, r = statistics.median(portal), statistics.median(raw)
    return {"portal_s": round(p, 4), "raw_s": round(r, 4), "ratio": round(p / r, 3)}


def listing(api, client) -> dict:
    prefix = "many/"
    say("writing 10,000 objects")
    fill(client, prefix, 0, 10_000)
    small = first_pages(api, client, prefix)
    say("writing 90,000 more objects")
    fill(client, prefix, 10_000, 100_000)
    large = first_pages(api, client, prefix)
    growth = large["portal_s"] / small["portal_s"]
    return {
        "objects_10k": small, "objects_100k": large, "ratio_target": "<=1.5",
        "ratio_ok": large["ratio"] <= 1.5 and small["ratio"] <= 1.5,
        "page_growth_100k_vs_10k": round(growth, 3), "growth_target": "<=1.5", "growth_ok": growth <= 1.5,
    }


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="aiportal-bench-datasets-"))
    config = dict(CONFIG, storage={**CONFIG["storage"], "port": free_port()})
    (work / "portal.yaml").write_text(yaml.safe_dump(config))
    portal = Portal(work, str(work / "portal.yaml"), port=free_port(), quiet=True)
    try:
        say("starting the portal (SeaweedFS)")
        portal.start()
        api = requests.Session()
        api.headers["Authorization"] = f"token {new_token(work, 'user', str(work / 'portal.yaml'))}"
        api.base = f"{portal.url}services/portal/api/v1/teams/{BUCKET}"
        store = store_from_config(portal.config, portal.data.root)
        client = store.client()
        result = {"bench": "datasets", "server": "seaweedfs",
                  **transfer(api, client, service_pid(portal.hub.pid)), **listing(api, client)}
    finally:
        portal.stop()
        shutil.rmtree(work, ignore_errors=True)
    result["ok"] = all(v for k, v in result.items() if k.endswith("_ok"))
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
