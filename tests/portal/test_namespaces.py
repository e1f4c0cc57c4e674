"""What the portal keeps in a team's namespace, as data (the cluster tests apply it for real)."""

import base64
import json

from portal.config import SCHEMA, parse_quantity, with_defaults
from portal.namespaces import Cluster, namespace_for, quota_hard, quota_used, team_manifests

ENV = {True: {"AWS_ACCESS_KEY_ID": "full", "AWS_SECRET_ACCESS_KEY": "s1", "S3_BUCKET": "team-a"},
       False: {"AWS_ACCESS_KEY_ID": "nodel", "AWS_SECRET_ACCESS_KEY": "s2", "S3_BUCKET": "team-a"}}


def by_kind(manifests):
    return {m["kind"] + ("/" + m["metadata"]["name"] if m["kind"] == "Secret" else ""): m for m in manifests}


def test_a_team_namespace_holds_quota_defaults_isolation_home_and_both_key_secrets():
    cluster = Cluster(hub_namespace="aiportal", home_storage_class="nfs", home_size=2**40, pods=50,
                      image_pull_secret={"server": "registry.example", "username": "bot", "password": "pw"})
    quota = {"gpus": 2, "cpu": 8.5, "memory": 32 * 2**30, "storage": 10**10}
    m = by_kind(team_manifests("team-a", quota, cluster, ENV))
    assert list(m) == ["Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "PersistentVolumeClaim",
                       "Secret/s3-keys-no-delete", "Secret/s3-keys", "Secret/registry"]
    assert m["Namespace"]["metadata"]["name"] == "aiportal-team-a"
    assert all(x["metadata"].get("namespace", "aiportal-team-a") == "aiportal-team-a" for x in m.values())
    assert all(x["metadata"]["labels"]["aiportal.org/team"] == "team-a" for x in m.values())
    # storage is the bucket's limit, not the namespace's
    assert m["ResourceQuota"]["spec"]["hard"] == {"pods": "50", "requests.nvidia.com/gpu": "2", "limits.cpu": "8.5",
                                                  "limits.memory": str(32 * 2**30)}
    assert m["LimitRange"]["spec"]["limits"][0]["type"] == "Container"
    assert m["PersistentVolumeClaim"]["spec"] == {"accessModes": ["ReadWriteMany"], "storageClassName": "nfs",
                                                  "resources": {"requests": {"storage": str(2**40)}}}
    full = {k: base64.b64decode(v).decode() for k, v in m["Secret/s3-keys"]["data"].items()}
    nodel = {k: base64.b64decode(v).decode() for k, v in m["Secret/s3-keys-no-delete"]["data"].items()}
    assert full == ENV[True] and nodel == ENV[False]
    pull = json.loads(base64.b64decode(m["Secret/registry"]["data"][".dockerconfigjson"]))
    assert m["Secret/registry"]["type"] == "kubernetes.io/dockerconfigjson"
    assert pull["auths"]["registry.example"]["auth"] == base64.b64encode(b"bot:pw").decode()


def test_the_network_policy_lets_in_only_the_team_the_hub_namespace_and_an_outside_hub():
    inside = by_kind(team_manifests("team-a", {}, Cluster(hub_namespace="aiportal"), ENV))["NetworkPolicy"]
    assert inside["spec"]["podSelector"] == {} and inside["spec"]["policyTypes"] == ["Ingress"]
    assert inside["spec"]["ingress"] == [{"from": [
        {"podSelector": {}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "aiportal"}}}]}]
    outside = by_kind(team_manifests("team-a", {}, Cluster(hub_connect_url="http://10.244.0.1:8081"), ENV))
    assert outside["NetworkPolicy"]["spec"]["ingress"] == [{"from": [
        {"podSelector": {}}, {"ipBlock": {"cidr": "10.244.0.1/32"}}]}]
    named = by_kind(team_manifests("team-a", {}, Cluster(hub_connect_url="http://hub.example:8081"), ENV))
    assert named["NetworkPolicy"]["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]


def test_a_team_without_limits_gets_only_the_pod_count_and_no_pull_secret():
    m = by_kind(team_manifests("team-b", {}, Cluster(), ENV))
    assert m["ResourceQuota"]["spec"]["hard"] == {"pods": "100"}
    assert "Secret/registry" not in m
    assert "storageClassName" not in m["PersistentVolumeClaim"]["spec"]


def test_namespace_names_stay_dns_labels_and_apart_for_the_longest_team_names():
    a, b = "a" * 60 + "-x1", "a" * 60 + "-x2"
    assert namespace_for("team-a", "aiportal-") == "aiportal-team-a"
    for team in (a, b):
        name = namespace_for(team, "aiportal-")
        assert len(name) <= 63 and name[0].isalnum() and name[-1].isalnum()
    assert namespace_for(a, "aiportal-") != namespace_for(b, "aiportal-")


def test_the_cluster_settings_come_from_the_schema_defaults():
    settings = with_defaults(SCHEMA, {"spawner": {"backend": "kubernetes"}})["spawner"]["kubernetes"]
    cluster = Cluster.from_config(settings, hub_namespace="hub-ns")
    assert cluster.namespace_prefix == "aiportal-" and cluster.pods == 100
    assert cluster.home_size == parse_quantity("100Gi") and cluster.hub_namespace == "hub-ns"


def test_the_quota_status_reads_as_used_and_limit_per_team_resource():
    status = {"hard": {"pods": "100", "requests.nvidia.com/gpu": "2", "limits.cpu": "8", "limits.memory": "32Gi"},
              "used": {"pods": "1", "requests.nvidia.com/gpu": "1", "limits.cpu": "500m", "limits.memory": "1Gi"}}
    assert quota_used(status) == {"gpus": {"used": 1, "limit": 2}, "cpu": {"used": 0.5, "limit": 8},
                                  "memory": {"used": 2**30, "limit": 32 * 2**30}}
    assert quota_used({"hard": {"pods": "3"}}) == {}
    assert quota_hard({"cpu": 0.25}, 3) == {"pods": "3", "limits.cpu": "0.25"}
