"""The proof that a prod image is what the team developed, per promoted version:

(a) base: the image was built FROM the team's dev image (by digest), and its first layers
    are that image's layers;
(b) tree: `/code` in the image equals the tagged git tree, by a hash computed both ways;
(c) reference: the project's `aiportal-reference.sh` prints the same in the dev and the
    prod container.

The pipeline's verify jobs (images/prod/gitlab-ci.yml) print `AIPORTAL_TREE_SHA256=` and
`AIPORTAL_REFERENCE_SHA256=` lines in the containers; the portal reads their logs, the
registry and the tagged tree itself.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile

BASE_DIGEST_LABEL = "org.opencontainers.image.base.digest"
TREE_LABEL = "io.aiportal.tree.sha256"
REFERENCE_SCRIPT = "aiportal-reference.sh"
_LINE = re.compile(r"^AIPORTAL_(TREE|REFERENCE)_SHA256=([0-9a-f]{64})\s*$", re.M)


def tree_sha256(archive: bytes) -> str:
    """The tree hash of a GitLab repository archive (a tar whose paths all sit under one
    `<project>-<ref>-<sha>/` folder), as the verify jobs compute it in a directory:
    `find . -type f ! -path './.git/*' -print0 | LC_ALL=C sort -z | xargs -0r sha256sum | sha256sum`."""
    lines = []
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            inside = member.name.split("/", 1)[1] if "/" in member.name else ""
            if member.isfile() and inside and not inside.startswith(".git/"):
                lines.append(("./" + inside, hashlib.sha256(tar.extractfile(member).read()).hexdigest()))
    listing = "".join(f"{digest}  {path}\n" for path, digest in sorted(lines, key=lambda line: line[0].encode()))
    return hashlib.sha256(listing.encode()).hexdigest()


def job_hashes(log: str) -> dict[str, str]:
    """{"tree": …, "reference": …} from a verify job's log (the last of each line wins)."""
    return {kind.lower(): value for kind, value in _LINE.findall(log)}


def _check(ok: bool | None, detail: str) -> dict:
    return {"status": {True: "passed", False: "failed", None: "not run"}[ok], "detail": detail}


def checks(*, image: dict, dev_digest: str | None, dev_layers: list[str] | None, tree: str,
           prod: dict[str, str], dev: dict[str, str]) -> dict:
    """The three checks from what was read: the prod `image` (registry), the dev image's
    digest and layers, the tagged tree's hash, and the verify jobs' hashes."""
    labels = image.get("labels", {})
    if dev_digest is None or dev_layers is None:
        base = _check(None, "the team's dev image could not be read")
    else:
        same_base = labels.get(BASE_DIGEST_LABEL) == dev_digest
        prefix = image["layers"][:len(dev_layers)] == dev_layers
        base = _check(same_base and prefix,
                      f"built FROM {labels.get(BASE_DIGEST_LABEL) or 'an unlabelled base'}; "
                      f"team dev image {dev_digest}; "
                      f"its {len(dev_layers)} layers {'are' if prefix else 'are not'} the image's first layers")
    in_image = prod.get("tree")
    code = _check(None, "the verify-prod job printed no tree hash") if in_image is None else _check(
        in_image == tree and labels.get(TREE_LABEL, tree) == tree,
        f"/code {in_image}; tagged tree {tree}" + (f"; label {labels[TREE_LABEL]}" if TREE_LABEL in labels else ""))
    if "reference" not in prod and "reference" not in dev:
        reference = _check(None, f"the project ships no {REFERENCE_SCRIPT}")
    else:
        reference = _check(prod.get("reference") == dev.get("reference") and "reference" in prod,
                           f"prod {prod.get('reference', 'none')}; dev {dev.get('reference', 'none')}")
    return {"base": base, "tree": code, "reference": reference}
