"""User servers as pods in their team's namespace, through KubeSpawner.

`pod_settings` is everything a server's pod differs by, as KubeSpawner trait values, from
the resolved profile: a pure function, tested by comparing dicts. KubeTeamSpawner adds only
what KubeSpawner does not do: the namespace of the chosen team (kept current by
portal.namespaces at each spawn), its S3 keys by reference to the team's Secret, and the
team's quota, which Kubernetes' own ResourceQuota admission enforces: a refused pod is
turned into the same message as on the container backend, and the spawn form reads what
is free from the quota's status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kubernetes_asyncio.client.exceptions import ApiException
from kubespawner import KubeSpawner
from kubespawner.slugs import safe_slug
from traitlets import Any, Dict, Int, List, default

from portal.namespaces import HOME, QUOTA_KEYS, REGISTRY_SECRET, S3_SECRETS, NamespaceError, api_message, k8s_quantity

from .homes import account_files
from .profiles import ResolvedProfile
from .quotas import RESOURCES, free_note, refusal
from .team import TeamSpawnerMixin, refuse

LABEL_PREFIX = "aiportal.org/"
GROUP_ID = 100  # users: the servers' group and the volumes' fsGroup
S3_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "S3_BUCKET")


def home_dir(user: str) -> str:
    """The user's folder on the team's home volume: a subPath must be a plain relative name."""
    return safe_slug(user)


def pod_settings(profile: ResolvedProfile, *, user: str, namespace: str, uid: int,
                 gpu_node_selector: Mapping[str, str] = {}, gpu_tolerations: list = [],  # noqa: B006
                 pull_secret: bool = False) -> dict:
    """KubeSpawner trait values of one server's pod.

    Requests equal limits (the team quota counts limits, as on the container backend). Dev
    mode mounts the user's folder of the team's home volume at /home/<user> and its src
    folder at /src, made by the init container (as root: an NFS volume ignores fsGroup); prod
    mode gets an empty home and no /src: the image's /code is what runs. In both, the init
    container writes the passwd and group files that name the user's uid (as the container
    backend mounts them): sftp-server, ssh, git and whoami need a named account.
    """
    folder, home = home_dir(user), f"/home/{user}"
    gpus = {"nvidia.com/gpu": str(profile.gpus)} if profile.gpus else {}
    settings = {
        "namespace": namespace,
        "image": profile.image,
        "image_pull_policy": "IfNotPresent",
        "image_pull_secrets": [REGISTRY_SECRET] if pull_secret else [],
        "cpu_limit": profile.cpu, "cpu_guarantee": profile.cpu,
        "mem_limit": profile.memory, "mem_guarantee": profile.memory,
        "extra_resource_limits": gpus, "extra_resource_guarantees": gpus,
        "node_selector": dict(gpu_node_selector) if profile.gpus else {},
        "tolerations": list(gpu_tolerations) if profile.gpus else [],
        "uid": uid, "gid": GROUP_ID, "fs_gid": GROUP_ID,
        "automount_service_account_token": False,  # a server has no business with the API
        "extra_labels": {LABEL_PREFIX + "team": profile.team, LABEL_PREFIX + "user": safe_slug(user),
                         LABEL_PREFIX + "profile": profile.profile, LABEL_PREFIX + "app": profile.app,
                         LABEL_PREFIX + "mode": profile.mode,
                         **({LABEL_PREFIX + "promotion": str(profile.promotion),
                             LABEL_PREFIX + "version": profile.version} if profile.promotion is not None else {})},
        "environment": {"HOME": home, "USER": user},
    }
    account = account_files(user, uid, GROUP_ID)
    init = {"name": "setup", "image": profile.image, "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", 'printf %s "$PASSWD" > /account/passwd && printf %s "$GROUP" > /account/group'],
            "env": [{"name": "PASSWD", "value": account["passwd"]}, {"name": "GROUP", "value": account["group"]}],
            "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
            "volumeMounts": [{"name": "account", "mountPath": "/account"}]}
    volumes = [{"name": "account", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}]
    mounts = [{"name": "account", "mountPath": f"/etc/{name}", "subPath": name, "readOnly": True}
              for name in ("passwd", "group")]
    if profile.mode == "dev":
        init["command"][-1] += f" && mkdir -p /homes/{folder}/src && chown {uid}:{GROUP_ID} /homes/{folder} " \
                               f"/homes/{folder}/src"
        init |= {"securityContext": {"runAsUser": 0, "runAsNonRoot": False},
                 "volumeMounts": [*init["volumeMounts"], {"name": "home", "mountPath": "/homes"}]}
        settings |= {
            "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": HOME}}, *volumes],
            "volume_mounts": [{"name": "home", "mountPath": home, "subPath": folder},
                              {"name": "home", "mountPath": "/src", "subPath": f"{folder}/src"}, *mounts],
            "working_dir": "/src",
        }
    else:
        settings |= {"volumes": [{"name": "home", "emptyDir": {}}, *volumes],
                     "volume_mounts": [{"name": "home", "mountPath": home}, *mounts], "working_dir": None}
    return settings | {"init_containers": [init]}


def s3_references(may_delete: bool) -> dict[str, dict]:
    """The S3 variables as references to the team's Secret: no key is in the pod's spec."""
    name = S3_SECRETS[may_delete]
    return {var: {"valueFrom": {"secretKeyRef": {"name": name, "key": var}}} for var in S3_VARIABLES}


_QUOTA_REFUSED = re.compile(r"exceeded quota: [^,]+, requested: (?P<requested>\S+), "
                            r"used: (?P<used>\S+), limited: (?P<limited>\S+)")


def quota_refusal(team: str, message: str) -> str | None:
    """The portal's message for the API server's "exceeded quota" refusal of a pod, or None
    when `message` is another refusal."""
    match = _QUOTA_REFUSED.search(message)
    if not match:
        return None
    parts = {k: dict(item.split("=", 1) for item in v.split(",")) for k, v in match.groupdict().items()}
    by_resource = {resource: key for key, resource in QUOTA_KEYS.items()}
    for resource, need in parts["requested"].items():
        used, limit = (k8s_quantity(parts[k].get(resource, "0")) for k in ("used", "limited"))
        if round(used + k8s_quantity(need), 3) <= limit:
            continue  # requested, but within this limit
        if resource in by_resource:
            return refusal(team, by_resource[resource], used, limit, k8s_quantity(need))
        if resource in ("pods", "count/pods"):
            return f"team {team} runs {used:g} of its {limit:g} pods: stop a server or ask an operator"
    return f"team {team}'s quota refuses this server: {message}"


class KubeTeamSpawner(TeamSpawnerMixin, KubeSpawner):
    namespaces = Any(None, config=True, help="portal.namespaces.TeamNamespaces: the team namespaces.")
    server_uid = Int(1000, config=True, help="The uid servers run as (spawner.kubernetes.server_uid).")
    gpu_node_selector = Dict(config=True, help="Node labels of GPU servers' pods.")
    gpu_tolerations = List(config=True, help="Tolerations of GPU servers' pods.")

    @default("enable_user_namespaces")
    def _one_namespace_per_team(self):
        return True  # the reflectors then watch the pods of every namespace

    async def load_user_options(self):
        """The profile was resolved by the mixin (apply_user_options); no profile_list here."""

    async def _ensure_namespace(self):
        """The team's namespace was applied in storage_env, before the pod is made."""

    async def storage_env(self, team: str, properties: dict, may_delete: bool) -> dict:
        """Apply the team's namespace (idempotent) and refer to its S3 Secret; also where the
        profile's pod settings are set, once the team is known."""
        cluster = self.namespaces.cluster
        try:
            await self.namespaces.apply(team, properties)
        except NamespaceError as e:
            self.log.error("%s", e)
            raise refuse(f"the namespace of team {team!r} cannot be prepared; try again later or ask "
                         "an operator", 503) from None
        for name, value in pod_settings(
                self.profile, user=self.user.name, namespace=cluster.namespace(team), uid=self.server_uid,
                gpu_node_selector=self.gpu_node_selector, gpu_tolerations=self.gpu_tolerations,
                pull_secret=bool(cluster.image_pull_secret)).items():
            setattr(self, name, value)
        return s3_references(may_delete)

    async def _start(self):
        url = await super()._start()
        await self.answering(f"{url}{self.server.base_url}api")
        return url

    async def _make_create_pod_request(self, pod, request_timeout):
        try:
            return await super()._make_create_pod_request(pod, request_timeout)
        except ApiException as e:
            message = quota_refusal(self.profile.team, api_message(e)) if e.status == 403 else None
            if message is None:
                raise
            raise refuse(message, failure="quota") from None

    async def team_notes(self, teams: dict[str, dict]) -> dict[str, str]:
        """What each team's ResourceQuota says is free, for the limits it sets."""
        notes = {}
        for team in teams:
            try:
                used = await self.namespaces.used(team)
            except NamespaceError as e:
                self.log.warning("%s", e)
                continue
            if used:
                notes[team] = ", ".join(free_note(r, used[r]["used"], used[r]["limit"])
                                        for r in RESOURCES if r in used)
        return notes

