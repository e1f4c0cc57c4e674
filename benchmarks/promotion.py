"""Promotion benchmark: wall time from "Promote" (POST /teams/{team}/promotions) until the
record shows the image's digest, against the same Kaniko build and push done by hand
(`podman run` of the executor on the same tree, FROM the same dev image, to the same
registry) in the same run. The ratio is what the portal and GitLab's pipeline add: the
tag, finding and polling the pipeline, the runner's checkout, reading the registry.
Target ≤ 1.2.

Each round builds a fresh commit both ways (nothing is cached), in alternating order, each
timed build after `sync` and a pause; the ratio is the geometric mean of the rounds'
ratios. After the digest shows, the pipeline's verify jobs still pull the prod and dev
images (GBs): the next timed build waits for the promotion to finish, since running beside
them made it up to 2.5x slower. Uses the tests'
GitLab double, runner and registry (tests/promotion/conftest.py). Runs alone
(`.venv/bin/python benchmarks/promotion.py`, as root: Podman); the last line printed is one
JSON object.
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.promotion.conftest import (  # noqa: E402
    KANIKO,
    PromotionSite,
    config_for,
    make_gitlab,
    set_up_files,
    start_promotion_portal,
)
from tests.registry import Registry  # noqa: E402

ROUNDS = 4
SETTLE_S = 15  # pause before each timed build (see above)
TARGET = 1.2


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def settle() -> None:
    subprocess.run(["sync"], check=True)
    time.sleep(SETTLE_S)


def by_hand(gitlab, sha: str, registry: Registry, n: int) -> float:
    """The baseline: Kaniko's executor run by hand on the commit's tree, pushing to the registry."""
    project = gitlab.projects["radiology/bench"]
    with tempfile.TemporaryDirectory() as tmp:
        context = Path(tmp) / "context"
        context.mkdir(mode=0o755)
        with tarfile.open(fileobj=io.BytesIO(project.repo.archive(sha, "tar"))) as tar:
            tar.extractall(context, filter="data")
        settle()
        began = time.perf_counter()
        subprocess.run([
            "podman", "run", "--rm", "--network", "host", "-v", f"{context}:/workspace:ro",
            "-v", f"{KANIKO}:/kaniko/executor:ro", "localhost/aiportal-base:bookworm", "/kaniko/executor",
            "--context", "dir:///workspace", "--dockerfile", "/workspace/images/prod/Containerfile",
            "--destination", f"{registry.host}/bench/by-hand:v{n}.0.0", "--build-arg", f"DEV_IMAGE={gitlab.dev_pinned}",
            "--insecure", "--insecure-pull", "--skip-tls-verify"], check=True, capture_output=True)
        return time.perf_counter() - began


def through_portal(site: PromotionSite, gitlab, project_id: int, sha: str, n: int) -> float:
    settle()
    began = time.perf_counter()
    r = site.call("POST", "/teams/team-a/promotions", "alice",
                  json={"project_id": project_id, "commit": sha, "version": f"v{n}.0.0"})
    r.raise_for_status()
    record = site.wait("team-a", r.json()["id"], until=lambda p: p["digest"] is not None or p["finished_at"])
    took = time.perf_counter() - began
    if record["digest"] is None:
        raise RuntimeError(f"promotion failed: {record['message']}\n{record['log_tail']}")
    # untimed: the verify jobs pull the images (GBs) after the digest is shown; the next
    # timed build must not run beside them
    record = site.wait("team-a", record["id"])
    if record["status"] != "success":
        raise RuntimeError(f"promotion failed after the build: {record['message']}\n{record['log_tail']}")
    build = next(j for s in record["pipeline"]["stages"] for j in s["jobs"] if j["name"] == "build-prod-image")
    log(f"  portal round {n}: build job {build['duration']:.1f} s of {took:.1f} s")
    return took


def main() -> None:
    registry = Registry().start()
    root = Path(tempfile.mkdtemp(prefix="bench-promotion-"))
    gitlab = make_gitlab(root / "gitlab", registry)
    portal = start_promotion_portal(root / "portal", config_for(gitlab), gitlab.platform_token)
    try:
        site = PromotionSite(portal)
        project = gitlab.add_project("radiology", "bench", files=set_up_files(gitlab.dev_pinned))
        baseline, portal_s = [], []
        for n in range(1, ROUNDS + 1):
            sha = gitlab.commit("radiology/bench", {"round.txt": f"{n}\n".encode()}, f"Round {n}", author="alice")
            if n % 2:
                baseline.append(by_hand(gitlab, sha, registry, n))
                portal_s.append(through_portal(site, gitlab, project["id"], sha, n))
            else:
                portal_s.append(through_portal(site, gitlab, project["id"], sha, n))
                baseline.append(by_hand(gitlab, sha, registry, n))
            log(f"round {n}: by hand {baseline[-1]:.1f} s, portal {portal_s[-1]:.1f} s")
    finally:
        portal.stop()
        gitlab.close()
        registry.close()
    ratio = statistics.geometric_mean([p / b for p, b in zip(portal_s, baseline, strict=True)])
    print(json.dumps({"bench": "promotion", "portal_s": round(statistics.median(portal_s), 2),
                      "baseline_s": round(statistics.median(baseline), 2), "rounds": ROUNDS,
                      "round_ratios": [round(p / b, 3) for p, b in zip(portal_s, baseline, strict=True)],
                      "ratio": round(ratio, 3), "target": f"<={TARGET}", "ok": ratio <= TARGET}))


if __name__ == "__main__":
    main()
