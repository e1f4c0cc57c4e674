"""The pods of the kubernetes backend, as data: pod settings, Secret references, quota refusals."""

from portal.namespaces import S3_SECRETS
from spawners.homes import account_files
from spawners.kubernetes import pod_settings, quota_refusal, s3_references
from spawners.profiles import ResolvedProfile

GPU_DEV = ResolvedProfile(team="team-a", profile="gpu", display_name="GPU", image="registry.example/a/dev:1",
                          mode="dev", cpu=2, memory=4 * 2**30, gpus=1, app="jupyter")
CPU_PROD = ResolvedProfile(team="team-a", profile="prod", display_name="Prod", image="registry.example/a/prod:v1",
                           mode="prod", cpu=0.5, memory=2**30, gpus=0, app="jupyter")
SELECTOR = {"nvidia.com/gpu.present": "true"}
ACCOUNT_VOLUME = {"name": "account", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}
ACCOUNT_MOUNTS = [{"name": "account", "mountPath": "/etc/passwd", "subPath": "passwd", "readOnly": True},
                  {"name": "account", "mountPath": "/etc/group", "subPath": "group", "readOnly": True}]
TOLERATIONS = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def account_of(init: dict) -> dict:
    """The passwd and group files the init container writes (from its environment)."""
    env = {e["name"]: e["value"] for e in init["env"]}
    assert init["command"][-1].startswith('printf %s "$PASSWD" > /account/passwd && '
                                          'printf %s "$GROUP" > /account/group')
    return {"passwd": env["PASSWD"], "group": env["GROUP"]}


def test_a_dev_gpu_server_gets_its_gpus_node_choice_home_and_src_in_the_team_namespace():
    s = pod_settings(GPU_DEV, user="alice", namespace="aiportal-team-a", uid=1000,
                     gpu_node_selector=SELECTOR, gpu_tolerations=TOLERATIONS, pull_secret=True)
    assert s["namespace"] == "aiportal-team-a"
    assert s["image"] == GPU_DEV.image and s["image_pull_secrets"] == ["registry"]
    assert (s["cpu_limit"], s["cpu_guarantee"], s["mem_limit"], s["mem_guarantee"]) == (2, 2, 4 * 2**30, 4 * 2**30)
    assert s["extra_resource_limits"] == s["extra_resource_guarantees"] == {"nvidia.com/gpu": "1"}
    assert s["node_selector"] == SELECTOR and s["tolerations"] == TOLERATIONS
    assert s["extra_labels"] == {"aiportal.org/team": "team-a", "aiportal.org/user": "alice",
                                 "aiportal.org/profile": "gpu", "aiportal.org/app": "jupyter",
                                 "aiportal.org/mode": "dev"}
    assert s["volumes"] == [{"name": "home", "persistentVolumeClaim": {"claimName": "home"}}, ACCOUNT_VOLUME]
    assert s["volume_mounts"] == [{"name": "home", "mountPath": "/home/alice", "subPath": "alice"},
                                  {"name": "home", "mountPath": "/src", "subPath": "alice/src"}, *ACCOUNT_MOUNTS]
    assert s["working_dir"] == "/src"
    [init] = s["init_containers"]
    assert init["command"][-1].endswith(" && mkdir -p /homes/alice/src && "
                                        "chown 1000:100 /homes/alice /homes/alice/src")
    assert init["securityContext"]["runAsUser"] == 0
    assert account_of(init) == account_files("alice", 1000, 100)
    assert (s["uid"], s["gid"], s["fs_gid"], s["automount_service_account_token"]) == (1000, 100, 100, False)


def test_a_prod_cpu_server_gets_no_src_no_gpu_and_no_gpu_node_choice():
    s = pod_settings(CPU_PROD, user="bob", namespace="aiportal-team-a", uid=1000,
                     gpu_node_selector=SELECTOR, gpu_tolerations=TOLERATIONS)
    assert s["extra_resource_limits"] == {} and s["node_selector"] == {} and s["tolerations"] == []
    assert s["image_pull_secrets"] == []
    assert s["volumes"] == [{"name": "home", "emptyDir": {}}, ACCOUNT_VOLUME]
    assert s["volume_mounts"] == [{"name": "home", "mountPath": "/home/bob"}, *ACCOUNT_MOUNTS]
    assert not any(m["mountPath"] == "/src" for m in s["volume_mounts"])
    assert s["working_dir"] is None
    [init] = s["init_containers"]  # the account only, as the user: no home volume to prepare
    assert "securityContext" not in init and "mkdir" not in init["command"][-1]
    assert init["volumeMounts"] == [{"name": "account", "mountPath": "/account"}]
    assert account_of(init) == account_files("bob", 1000, 100)
    assert s["extra_labels"]["aiportal.org/mode"] == "prod"


def test_a_user_name_that_is_no_plain_path_or_label_gets_a_safe_folder_and_label():
    s = pod_settings(GPU_DEV, user="a..b@x", namespace="ns", uid=1000)
    folder = s["volume_mounts"][0]["subPath"]
    assert ".." not in folder and "/" not in folder and "@" not in folder
    assert s["extra_labels"]["aiportal.org/user"] == folder
    assert s["volume_mounts"][0]["mountPath"] == "/home/a..b@x"


def test_s3_variables_are_references_to_the_secret_the_user_may_have():
    for may_delete in (True, False):
        refs = s3_references(may_delete)
        assert set(refs) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL",
                             "AWS_DEFAULT_REGION", "S3_BUCKET"}
        for var, ref in refs.items():
            assert ref == {"valueFrom": {"secretKeyRef": {"name": S3_SECRETS[may_delete], "key": var}}}


def test_the_api_servers_quota_refusal_reads_like_the_container_backends():
    message = ('pods "jupyter-bob" is forbidden: exceeded quota: team-quota, requested: '
               'limits.cpu=2,limits.memory=4Gi,requests.nvidia.com/gpu=1, used: limits.cpu=4,'
               'limits.memory=8Gi,requests.nvidia.com/gpu=2, limited: limits.cpu=8,limits.memory=32Gi,'
               'requests.nvidia.com/gpu=2')
    assert quota_refusal("team-a", message) == ("team team-a uses 2 of 2 GPUs and this profile needs 1: "
                                                "stop a server or ask an operator")
    cpu = message.replace("limits.cpu=4,", "limits.cpu=7,").replace("requests.nvidia.com/gpu=2, limited",
                                                                     "requests.nvidia.com/gpu=0, limited")
    assert quota_refusal("team-a", cpu) == ("team team-a uses 7 of 8 CPUs and this profile needs 2: "
                                            "stop a server or ask an operator")
    pods = ('pods "x" is forbidden: exceeded quota: team-quota, requested: pods=1, used: pods=100, '
            'limited: pods=100')
    assert quota_refusal("team-a", pods) == "team team-a runs 100 of its 100 pods: stop a server or ask an operator"
    assert quota_refusal("team-a", 'pods "x" is forbidden: User "u" cannot create resource "pods"') is None
