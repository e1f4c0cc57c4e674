"""Team namespaces applied by the portal on a real API server, and the GPU quota that
Kubernetes' own admission enforces for them (on the kwok node's 5 fake GPUs)."""

from __future__ import annotations

import base64
import json
import subprocess
import time

import pytest
from playwright.sync_api import expect

from portal.namespaces import S3_SECRETS
from tests.browser import chromium, signed_in
from tests.http import TimedSession
from tests.kubernetes.kube_portal import MEMBERS, namespace_json, wait_for
from tests.spawners.servers import hub, start_at_once, stop

pytestmark = pytest.mark.timeout(600)


def portal_api(portal, token, user) -> TimedSession:
    s = TimedSession()
    s.headers["Authorization"] = f"token {token(user)}"
    s.base = f"{portal.url}services/portal/api/v1"
    return s


def hard(cluster, team: str) -> dict:
    return namespace_json(cluster, "resourcequota", "team-quota", f"aiportal-{team}")["spec"]["hard"]


def test_each_seeded_team_gets_its_namespace_quota_defaults_policy_home_and_key_secrets(kube_cluster, kube_portal):
    for team in ("team-a", "team-b"):
        ns = f"aiportal-{team}"
        kinds = {kind: json.loads(kube_cluster.kubectl("get", kind, "-n", ns, "-o", "json",
                                                  "--show-managed-fields").stdout)["items"]
                 for kind in ("resourcequota", "limitrange", "networkpolicy", "persistentvolumeclaim", "secret")}
        assert [o["metadata"]["name"] for o in kinds["resourcequota"]] == ["team-quota"]
        assert [o["metadata"]["name"] for o in kinds["limitrange"]] == ["team-defaults"]
        assert [o["metadata"]["name"] for o in kinds["networkpolicy"]] == ["team-isolation"]
        assert [o["metadata"]["name"] for o in kinds["persistentvolumeclaim"]] == ["home"]
        # keys that cannot delete only where members may not
        wanted = set(S3_SECRETS.values()) if team == "team-a" else {S3_SECRETS[True]}
        assert {o["metadata"]["name"] for o in kinds["secret"]} == wanted
        for obj in (o for items in kinds.values() for o in items):
            managers = {m["manager"] for m in obj["metadata"].get("managedFields", [])}
            assert "aiportal" in managers, obj["metadata"]["name"]  # server-side applied by the portal
    assert hard(kube_cluster, "team-a") == {"pods": "100", "requests.nvidia.com/gpu": "2", "limits.cpu": "8",
                                            "limits.memory": str(32 * 2**30)}
    assert hard(kube_cluster, "team-b") == {"pods": "100"}
    # the home claim binds to the volume the test provided
    claim = wait_for(lambda: (c := namespace_json(kube_cluster, "pvc", "home", "aiportal-team-a"))
                     ["status"].get("phase") == "Bound" and c, what="home claim bound")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_the_secrets_hold_the_keys_the_portal_gives_the_team(kube_cluster, kube_portal):
    from portal.notebook_env import NotebookEnv

    env = NotebookEnv(kube_portal.config, kube_portal.data.root)
    for may_delete, name in S3_SECRETS.items():
        data = namespace_json(kube_cluster, "secret", name, "aiportal-team-a")["data"]
        assert {k: base64.b64decode(v).decode() for k, v in data.items()} == env("team-a", may_delete)


def test_an_operators_quota_change_reaches_the_resource_quota_and_the_team_shows_its_use(
        kube_cluster, kube_portal, kube_token):
    admin = portal_api(kube_portal, kube_token, "admin")
    r = admin.patch(f"{admin.base}/teams/team-b", json={"quota": {"gpus": 1, "cpu": 2.5, "memory": "4Gi"}})
    assert r.status_code == 200, r.text
    assert hard(kube_cluster, "team-b") == {"pods": "100", "requests.nvidia.com/gpu": "1", "limits.cpu": "2500m",
                                            "limits.memory": str(4 * 2**30)}
    # the quota controller counts; the portal shows its count
    used = wait_for(lambda: portal_api(kube_portal, kube_token, "carol").get(
        f"{admin.base}/teams/team-b").json().get("quota_used", {}).get("gpus"), what="quota status")
    assert used == {"used": 0, "limit": 1}
    r = admin.patch(f"{admin.base}/teams/team-b", json={"quota": {"gpus": None, "cpu": None, "memory": None}})
    assert r.status_code == 200, r.text
    assert hard(kube_cluster, "team-b") == {"pods": "100"}


def test_a_team_admin_cannot_change_the_quota_and_the_namespace_keeps_it(kube_cluster, kube_portal, kube_token):
    alice = portal_api(kube_portal, kube_token, "alice")
    r = alice.patch(f"{alice.base}/teams/team-a", json={"quota": {"gpus": 5}})
    assert r.status_code == 403, r.text
    assert hard(kube_cluster, "team-a")["requests.nvidia.com/gpu"] == "2"


def test_ten_concurrent_gpu_spawns_are_decided_by_the_resource_quota_two_admitted_eight_refused(
        kube_cluster, kube_portal, kube_token, artifacts):
    began = time.monotonic()
    started, refused = start_at_once(kube_portal, kube_token, [(u, "race") for u in MEMBERS], "team-a", "gpu")
    decided = time.monotonic() - began
    try:
        assert len(started) == 2, (started, refused)
        assert refused == ["team team-a uses 2 of 2 GPUs and this profile needs 1: stop a server or ask an "
                           "operator"] * 8
        # refused by the quota at once, not after the spawner's 300 s start_timeout (10 s was met
        # on an idle machine, not on a loaded one)
        assert decided < 60, f"decisions took {decided:.1f} s"
        pods = json.loads(kube_cluster.kubectl("get", "pods", "-n", "aiportal-team-a", "-l",
                                               "aiportal.org/profile=gpu", "-o", "json").stdout)["items"]
        assert sorted(p["metadata"]["labels"]["aiportal.org/user"] for p in pods) == sorted(u for u, _ in started)
        for pod in pods:
            assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
            assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        # the scheduler puts them on the GPU node
        wait_for(lambda: all(p["spec"].get("nodeName") == kube_cluster.gpu_node for p in json.loads(
            kube_cluster.kubectl("get", "pods", "-n", "aiportal-team-a", "-l", "aiportal.org/profile=gpu",
                                 "-o", "json").stdout)["items"]), what="GPU pods on the GPU node")
        # what the quota counts is what the team page and the spawn form show
        with chromium() as browser:
            page = signed_in(browser, kube_portal, "alice")
            page.goto(f"{kube_portal.url}services/portal/teams/team-a")
            expect(page.locator("[data-in-use=gpus]")).to_have_text("(2 in use)", timeout=30_000)
            page.screenshot(path=str(artifacts / "kubernetes-team-quota-in-use.png"), full_page=True)
            page.goto(f"{kube_portal.url}hub/spawn/alice/more")
            note = page.locator("fieldset[data-team=team-a] .team-note")
            assert note.inner_text().startswith("0 of 2 team GPUs free"), note.inner_text()
            page.screenshot(path=str(artifacts / "kubernetes-spawn-form-quota.png"), full_page=True)
    finally:
        for user, server in started:
            stop(hub(kube_portal, kube_token, user), user, server)
    assert hard(kube_cluster, "team-a")["requests.nvidia.com/gpu"] == "2"


def test_a_pod_of_one_team_cannot_read_another_teams_secrets_with_its_own_token(kube_cluster, kube_portal):
    token = kube_cluster.kubectl("create", "token", "default", "-n", "aiportal-team-a").stdout.strip()
    for verb_path in ("/api/v1/namespaces/aiportal-team-b/secrets",
                      f"/api/v1/namespaces/aiportal-team-b/secrets/{S3_SECRETS[True]}",
                      f"/api/v1/namespaces/aiportal-team-a/secrets/{S3_SECRETS[True]}",
                      "/api/v1/secrets"):
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                            str(kube_cluster.kubeconfig.parent / "ca.crt"), "-H", f"Authorization: Bearer {token}",
                            kube_cluster.api_url + verb_path], capture_output=True, text=True, timeout=30)
        assert r.stdout == "403", (verb_path, r.stdout)


def test_the_network_policy_admits_only_the_team_and_the_hub(kube_cluster, kube_portal):
    """No CNI here enforces NetworkPolicy (the bridge plugin does not): the policy is checked
    as the API server stores it."""
    for team, other in (("team-a", "team-b"), ("team-b", "team-a")):
        policy = namespace_json(kube_cluster, "networkpolicy", "team-isolation", f"aiportal-{team}")["spec"]
        assert policy["podSelector"] == {} and policy["policyTypes"] == ["Ingress"]
        assert policy["ingress"] == [{"from": [{"podSelector": {}},
                                               {"ipBlock": {"cidr": f"{kube_cluster.pod_gateway}/32"}}]}]
        assert f"aiportal-{other}" not in json.dumps(policy)


def test_deleting_a_team_keeps_its_home_unless_asked_and_then_removes_the_namespace(
        kube_cluster, kube_portal, kube_token):
    admin = portal_api(kube_portal, kube_token, "admin")
    for name in ("gone-keep", "gone-data"):
        r = admin.post(f"{admin.base}/teams", json={"name": name, "quota": {"gpus": 1}, "profiles": ["cpu"]})
        assert r.status_code == 201, r.text
        assert hard(kube_cluster, name)["requests.nvidia.com/gpu"] == "1"
    assert admin.delete(f"{admin.base}/teams/gone-keep").status_code == 200
    kept = json.loads(kube_cluster.kubectl("get", "pvc,secret,resourcequota", "-n", "aiportal-gone-keep",
                                           "-o", "json").stdout)["items"]
    names = {(o["kind"], o["metadata"]["name"]) for o in kept}
    assert ("PersistentVolumeClaim", "home") in names
    assert not {("Secret", n) for n in S3_SECRETS.values()} & names
    assert hard(kube_cluster, "gone-keep") == {"pods": "0"}  # no new server in a deleted team
    assert admin.delete(f"{admin.base}/teams/gone-data", params={"delete_data": "true"}).status_code == 200
    phase = kube_cluster.kubectl("get", "namespace", "aiportal-gone-data", "-o", "jsonpath={.status.phase}",
                                 check=False)
    assert phase.returncode != 0 or phase.stdout == "Terminating"
    kube_cluster.kubectl("delete", "namespace", "aiportal-gone-keep", "--wait=false")
