"""A dev server as a pod on the real node (kubelet + containerd), started through the hub:
JupyterLab answers through the hub's proxy from the pod's IP, /src is the user's folder of
the team's home volume, the S3 keys come from the team's Secret, and stopping removes the pod."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from tests.kubernetes.kube_portal import namespace_json, wait_for
from tests.spawners.servers import hub, start, stop, wait_ready

pytestmark = pytest.mark.timeout(900)


def pod_of(cluster, user: str) -> dict | None:
    items = json.loads(cluster.kubectl("get", "pods", "-n", "aiportal-team-a", "-l",
                                       f"aiportal.org/user={user}", "-o", "json").stdout)["items"]
    return items[0] if items else None


def progress(s, user: str, server: str) -> list[str]:
    """The messages of the hub's progress stream of a pending spawn, until it ends."""
    messages = []
    with s.get(f"{s.base}/users/{user}/servers/{server}/progress", stream=True, timeout=600) as events:
        for line in events.iter_lines():
            if line.startswith(b"data:"):
                event = json.loads(line[5:])
                messages.append(event.get("message", ""))
                if event.get("ready") or event.get("failed"):
                    break
    return messages


@contextmanager
def running(portal, token, user: str, server: str, profile: str, src_file: str):
    """A server of team-a started through the hub, `src_file` first written into the user's src
    folder of the team's home volume; → the server's hub model with the spawn's progress
    messages; stopped after."""
    src = portal.homes / "team-a" / user / "src"
    src.mkdir(parents=True)
    (src / src_file).write_text(f"{user}'s source\n")
    s = hub(portal, token, user)
    with ThreadPoolExecutor(1) as pool:  # the spawn request, and its progress read meanwhile
        request = pool.submit(start, s, user, server, "team-a", profile)
        wait_for(lambda: request.done() or server in s.get(f"{s.base}/users/{user}").json()["servers"],
                 what="the spawn begun")
        messages = progress(s, user, server)
        r = request.result()
    assert r.status_code in (201, 202), r.text
    try:
        yield {**wait_ready(s, user, server, timeout=600), "progress": messages}
    finally:
        stop(s, user, server)


def test_a_dev_server_runs_as_a_pod_of_the_team_on_the_real_node_with_src_and_secret_keys(
        kube_cluster, kube_portal, kube_token):
    with running(kube_portal, kube_token, "alice", "dev", "cpu", "hello.py") as server:
        pod = pod_of(kube_cluster, "alice")
        assert pod["metadata"]["namespace"] == "aiportal-team-a"
        assert pod["spec"]["nodeName"] == kube_cluster.node
        assert pod["status"]["podIP"].startswith("10.244.0.")
        assert pod["metadata"]["labels"].items() >= {
            "aiportal.org/team": "team-a", "aiportal.org/user": "alice", "aiportal.org/profile": "cpu",
            "aiportal.org/mode": "dev", "aiportal.org/app": "jupyter"}.items()
        # the spawn page's progress comes from the pod's events (KubeSpawner's)
        assert any("Successfully assigned aiportal-team-a/jupyter-alice--dev" in m for m in server["progress"])
        assert any("[Normal] Container started" in m for m in server["progress"]), server["progress"]
        # JupyterLab, reached by the hub's proxy on the pod's IP, serves /src: the user's folder
        lab = hub(kube_portal, kube_token, "alice")
        r = lab.get(f"{kube_portal.url.rstrip('/')}{server['url']}api/contents/hello.py", params={"content": "1"})
        assert r.status_code == 200, r.text
        assert r.json()["content"] == "alice's source\n"
        # the S3 variables are references to the team's Secret, resolved in the container
        env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_BUCKET"):
            assert "value" not in env[var] and env[var]["valueFrom"]["secretKeyRef"]["name"] == "s3-keys"
        secret = namespace_json(kube_cluster, "secret", "s3-keys", "aiportal-team-a")["data"]
        seen = kube_cluster.kubectl("exec", "-n", "aiportal-team-a", pod["metadata"]["name"], "-c", "notebook",
                                    "--", "printenv", "AWS_ACCESS_KEY_ID").stdout.strip()
        assert seen == base64.b64decode(secret["AWS_ACCESS_KEY_ID"]).decode()
    wait_for(lambda: pod_of(kube_cluster, "alice") is None, timeout=120, what="the pod removed")


def test_a_prod_server_of_a_member_has_no_src_and_keys_that_cannot_delete(kube_cluster, kube_portal, kube_token):
    with running(kube_portal, kube_token, "bob", "model", "prod", "marker"):
        pod = pod_of(kube_cluster, "bob")
        env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
        # a member of a team where only admins delete gets the keys that cannot
        assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "s3-keys-no-delete"
        mounts = [m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]]
        assert "/src" not in mounts
        probe = kube_cluster.kubectl("exec", "-n", "aiportal-team-a", pod["metadata"]["name"], "-c", "notebook",
                                     "--", "test", "-e", "/src/marker", check=False)
        assert probe.returncode != 0
