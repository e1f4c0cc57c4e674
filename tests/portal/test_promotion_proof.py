"""The promotion proof and versions as pure functions: the tree hash agrees with the shell
pipeline the verify jobs run, and each check fails when what it compares differs."""

from __future__ import annotations

import io
import subprocess
import tarfile

import pytest

from portal.promotion.proof import BASE_DIGEST_LABEL, TREE_LABEL, checks, job_hashes, tree_sha256
from portal.promotion.versions import VersionError, check, suggest

SHELL = "find . -type f ! -path './.git/*' -print0 | LC_ALL=C sort -z | xargs -0r sha256sum | sha256sum | cut -d' ' -f1"
DEV = "sha256:" + "d" * 64


def archive_of(root) -> bytes:
    """A tar like GitLab's repository archive: every path under one `<project>-<ref>-<sha>/`."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.add(root, arcname="model-v1.0.0-abc123")
    return data.getvalue()


def test_the_tree_hash_is_the_verify_jobs_shell_pipeline(tmp_path):
    root = tmp_path / "tree"
    for path, content in {"a.txt": "a\n", "B.txt": "b", "sub/dir/c d.py": "print(1)\n", ".dockerignore": ".git\n",
                          ".git/HEAD": "ref: refs/heads/main\n", "sub/é.txt": "accent"}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(content)
    shell = subprocess.run(["sh", "-c", SHELL], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    assert tree_sha256(archive_of(root)) == shell
    (root / "sub/dir/c d.py").write_text("print(2)\n")
    assert tree_sha256(archive_of(root)) != shell  # one changed byte changes it


def test_job_hashes_reads_the_verify_lines_only():
    log = ("$ echo ...\nAIPORTAL_TREE_SHA256=" + "1" * 64 + "\nnoise AIPORTAL_TREE_SHA256=" + "2" * 64 +
           "\nAIPORTAL_REFERENCE_SHA256=" + "3" * 64 + "\nAIPORTAL_TREE_SHA256=short\n")
    assert job_hashes(log) == {"tree": "1" * 64, "reference": "3" * 64}


def proven(**changes) -> dict:
    tree, ref = "a" * 64, "b" * 64
    args = dict(image={"layers": ["l1", "l2", "code"], "labels": {BASE_DIGEST_LABEL: DEV, TREE_LABEL: tree}},
                dev_digest=DEV, dev_layers=["l1", "l2"], tree=tree,
                prod={"tree": tree, "reference": ref}, dev={"tree": tree, "reference": ref})
    args.update(changes)
    return {name: c["status"] for name, c in checks(**args).items()}


def test_checks_pass_only_when_everything_agrees():
    assert proven() == {"base": "passed", "tree": "passed", "reference": "passed"}


@pytest.mark.parametrize("changes,failed", [
    ({"dev_digest": "sha256:" + "e" * 64}, "base"),  # built from another dev image
    ({"dev_layers": ["l1", "other"]}, "base"),  # the dev image's layers are not the image's first
    ({"tree": "f" * 64}, "tree"),  # /code is not the tagged tree
    ({"prod": {"tree": "a" * 64, "reference": "c" * 64}}, "reference"),  # prod computes something else
    ({"dev": {"tree": "a" * 64}}, "reference"),  # the dev run printed no reference
])
def test_each_check_fails_when_its_two_sides_differ(changes, failed):
    statuses = proven(**changes)
    assert statuses[failed] == "failed" and [n for n, s in statuses.items() if s != "passed"] == [failed]


def test_checks_not_run_say_why():
    statuses = proven(dev_digest=None, dev_layers=None, prod={}, dev={})
    assert statuses == {"base": "not run", "tree": "not run", "reference": "not run"}


def test_versions_suggest_the_next_patch_and_refuse_malformed_or_existing():
    assert suggest([]) == "v0.1.0"
    assert suggest(["v1.2.3", "v1.10.0", "latest", "v2.0.0-rc1", "v1.9.9"]) == "v1.10.1"
    assert check("v1.0.0", ["v0.9.0"]) == "v1.0.0"
    for bad in ("1.0.0", "v1.0", "v01.0.0", "v1.0.0\n", " v1.0.0", "v1.0.0-rc1", None, 1):
        with pytest.raises(VersionError, match="^version: "):
            check(bad, [])
    with pytest.raises(VersionError, match="already exists"):
        check("v1.0.0", ["v1.0.0"])
