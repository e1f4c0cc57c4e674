"""Notebooks get their team's S3 keys, which open that bucket and no other; rotate-keys."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import requests
from minio.error import S3Error

from tests.datasets import flow
from tests.datasets.kernel import run_python, spawn, stop
from tests.http import HTTP_TIMEOUT

# A notebook cell: the variables the portal promised, and what they open.
CELL = """
import json, os
from urllib.parse import urlsplit
from minio import Minio
from minio.error import S3Error
env = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "S3_BUCKET")}
url = urlsplit(env["AWS_ENDPOINT_URL"])
s3 = Minio(url.netloc, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], secure=url.scheme == "https",
           region=os.environ.get("AWS_DEFAULT_REGION"))
own = s3.get_object(env["S3_BUCKET"], "nb/input.txt").read().decode()
s3.put_object(env["S3_BUCKET"], "nb/output.txt", __import__("io").BytesIO(b"from the notebook"), 17)
try:
    s3.get_object("team-b", "nb/secret.txt").read()
    other = "read"
except S3Error as e:
    other = e.code
print(json.dumps({"env": env, "all_values": list(os.environ.values()), "own": own, "other": other}))
"""


def notebook_run(ds) -> dict:
    spawn(ds, "bob", {"team": "team-a", "profile": "cpu"})
    try:
        return json.loads(run_python(ds, "bob", CELL).strip().splitlines()[-1])
    finally:
        stop(ds, "bob")


def rotate(ds, team: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "portal.cli", "storage", "rotate-keys", team,
         "--data-dir", str(ds.portal.data.root), "--config", str(ds.portal.config_path)],
        capture_output=True, text=True, timeout=120)


def test_notebook_keys_open_their_team_bucket_only_and_rotate(ds):
    bob = ds.api("bob")
    flow.upload(bob, "nb/input.txt", b"team-a data")
    flow.upload(ds.api("carol", "team-b"), "nb/secret.txt", b"team-b data")
    admin = ds.store._admin

    first = notebook_run(ds)
    env = first["env"]
    # the team's server, seen from where the notebook runs (a container reaches it through the host)
    assert env["S3_BUCKET"] == "team-a"
    assert urlsplit(env["AWS_ENDPOINT_URL"]).port == urlsplit(ds.store.endpoint).port
    assert first["own"] == "team-a data" and first["other"] == "AccessDenied"
    assert admin.access_key not in first["all_values"] and admin.secret_key not in first["all_values"]
    assert flow.download(bob, "nb/output.txt").content == b"from the notebook"
    old = ds.store.client_for(type(admin)(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]))
    assert old.get_object("team-a", "nb/input.txt").read() == b"team-a data"

    share = bob.post(f"{bob.base}/shares", json={"key": "nb/input.txt", "expires_in": 600}).json()
    r = rotate(ds, "team-a")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("team-a: new S3 keys") and admin.secret_key not in r.stdout + r.stderr

    with pytest.raises(S3Error) as refused:
        old.get_object("team-a", "nb/input.txt").read()
    assert refused.value.code in ("InvalidAccessKeyId", "AccessDenied")
    assert flow.download(bob, "nb/input.txt").content == b"team-a data"  # the portal follows the rotation
    # A share link is a portal record signed afresh at each visit: it follows the rotation
    # (revoking it is how a link is stopped; tests/datasets/test_shares.py).
    assert requests.get(share["url"], timeout=HTTP_TIMEOUT).content == b"team-a data"

    second = notebook_run(ds)
    assert second["env"]["AWS_ACCESS_KEY_ID"] != env["AWS_ACCESS_KEY_ID"]
    assert second["own"] == "team-a data" and second["other"] == "AccessDenied"


def test_rotate_keys_of_an_unknown_team_fails_in_one_line(ds):
    r = rotate(ds, "no-such-team")
    assert r.returncode == 1
    assert r.stderr.strip() == "aiportal storage rotate-keys: no team 'no-such-team' (no bucket 'no-such-team')"
