"""Team namespaces on Kubernetes: what the portal keeps in each team's namespace.

A team's namespace holds its server pods and, applied by the portal (server-side apply,
field manager "aiportal", so re-applying is idempotent and a key dropped here is dropped
there): the Namespace; a ResourceQuota from the team's quota (so Kubernetes' own admission
refuses a pod over it, however many spawns race); a LimitRange giving pods that name no
limits some (a quota on limits refuses pods without them); a NetworkPolicy letting in only
the team's own pods and the hub and proxy; the home volume claim; the S3 key Secrets the
servers read their keys from; the registry pull Secret. The manifests are pure functions
of the team, tested by comparing dicts; `TeamNamespaces` applies them. kubernetes_asyncio
(about a second of imports) is imported where a cluster is used, not by every portal.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .config import parse_quantity

log = logging.getLogger("portal")

MANAGER = "aiportal"  # the field manager of every apply
TEAM_LABEL = "aiportal.org/team"
QUOTA, LIMITS, POLICY, HOME = "team-quota", "team-defaults", "team-isolation", "home"
REGISTRY_SECRET = "registry"
#: The Secrets servers read the team's S3 variables from: members of a team whose delete
#: policy is "admins" get the keys that cannot delete objects.
S3_SECRETS = {True: "s3-keys", False: "s3-keys-no-delete"}
#: Limits of a container that names none (a quota on limits.cpu refuses pods without them).
CONTAINER_DEFAULTS = {"default": {"cpu": "1", "memory": "1Gi"},
                      "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}
#: What a team quota's keys bound in a ResourceQuota, and back.
QUOTA_KEYS = {"gpus": "requests.nvidia.com/gpu", "cpu": "limits.cpu", "memory": "limits.memory"}


def namespace_for(team: str, prefix: str) -> str:
    """The team's namespace: the prefix and the name, shortened with a hash past 63 characters
    (team names are 63 at most; two long names sharing a start stay apart)."""
    name = prefix + team
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(team.encode()).hexdigest()[:8]
    return f"{name[:54].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class Cluster:
    """The cluster-wide settings of the kubernetes backend (portal.yaml spawner.kubernetes)."""

    namespace_prefix: str = "aiportal-"
    hub_namespace: str | None = None
    hub_connect_url: str | None = None
    home_storage_class: str | None = None
    home_size: int = 100 * 2**30
    pods: int = 100
    image_pull_secret: Mapping | None = None

    @classmethod
    def from_config(cls, settings: Mapping, hub_namespace: str | None = None) -> Cluster:
        home = settings["home"]
        return cls(namespace_prefix=settings["namespace_prefix"],
                   hub_namespace=settings["hub_namespace"] or hub_namespace,
                   hub_connect_url=settings["hub_connect_url"], home_storage_class=home["storage_class"],
                   home_size=parse_quantity(home["size"]), pods=settings["pods"],
                   image_pull_secret=settings["image_pull_secret"])

    def namespace(self, team: str) -> str:
        return namespace_for(team, self.namespace_prefix)


def _meta(name: str, namespace: str, team: str) -> dict:
    return {"name": name, "namespace": namespace,
            "labels": {TEAM_LABEL: team, "app.kubernetes.io/managed-by": MANAGER}}


def quota_hard(quota: Mapping, pods: int) -> dict[str, str]:
    """ResourceQuota `hard` from a team quota: only the limits it sets, and the pod count."""
    hard = {"pods": str(pods)}
    for key, resource in QUOTA_KEYS.items():
        if quota.get(key) is not None:
            hard[resource] = f"{quota[key]:g}" if key == "cpu" else str(quota[key])
    return hard


def network_policy(team: str, namespace: str, cluster: Cluster) -> dict:
    """Ingress from the team's own pods and from the hub and proxy only: no other team's pod
    reaches a server. A hub outside the cluster reaches pods from its address."""
    sources: list[dict] = [{"podSelector": {}}]
    if cluster.hub_namespace:
        sources.append({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": cluster.hub_namespace}}})
    host = urlsplit(cluster.hub_connect_url).hostname if cluster.hub_connect_url else None
    try:
        address = ipaddress.ip_address(host) if host else None
    except ValueError:
        address = None
    if address is not None:
        sources.append({"ipBlock": {"cidr": f"{address}/{address.max_prefixlen}"}})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(POLICY, namespace, team),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": sources}]}}


def secret(name: str, namespace: str, team: str, data: Mapping[str, str],
           kind: str = "Opaque") -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(name, namespace, team), "type": kind,
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(data.items())}}


def registry_secret(namespace: str, team: str, registry: Mapping) -> dict:
    """The pull Secret of the team images' registry (a .dockerconfigjson)."""
    auth = base64.b64encode(f"{registry['username']}:{registry['password']}".encode()).decode()
    config = {"auths": {registry["server"]: {"username": registry["username"],
                                             "password": registry["password"], "auth": auth}}}
    return secret(REGISTRY_SECRET, namespace, team, {".dockerconfigjson": json.dumps(config)},
                  kind="kubernetes.io/dockerconfigjson")


def team_manifests(team: str, quota: Mapping, cluster: Cluster,
                   s3_env: Mapping[bool, Mapping[str, str]]) -> list[dict]:
    """Everything the portal keeps in the team's namespace, in the order it is applied.

    ``s3_env``: may_delete → the team's S3 variables (portal.notebook_env) for each Secret.
    """
    ns = cluster.namespace(team)
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": ns, "labels": {TEAM_LABEL: team, "app.kubernetes.io/managed-by": MANAGER}}}
    resource_quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": _meta(QUOTA, ns, team),
                      "spec": {"hard": quota_hard(quota, cluster.pods)}}
    limit_range = {"apiVersion": "v1", "kind": "LimitRange", "metadata": _meta(LIMITS, ns, team),
                   "spec": {"limits": [{"type": "Container", **CONTAINER_DEFAULTS}]}}
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta(HOME, ns, team),
             "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": str(cluster.home_size)}},
                      **({"storageClassName": cluster.home_storage_class} if cluster.home_storage_class else {})}}
    out = [namespace, resource_quota, limit_range, network_policy(team, ns, cluster), claim]
    out += [secret(S3_SECRETS[may_delete], ns, team, env) for may_delete, env in sorted(s3_env.items())]
    if cluster.image_pull_secret:
        out.append(registry_secret(ns, team, cluster.image_pull_secret))
    return out


def k8s_quantity(value: str) -> float:
    """A Kubernetes quantity as the API server writes it ("2", "500m", "4Gi") as a number."""
    if value.endswith("m"):
        return int(value[:-1]) / 1000
    return parse_quantity(value.replace("k", "K"))


def quota_used(status: Mapping) -> dict[str, dict[str, float]]:
    """ResourceQuota status → {"gpus"|"cpu"|"memory": {"used", "limit"}} for limits it sets."""
    hard, used = status.get("hard") or {}, status.get("used") or {}
    return {key: {"used": k8s_quantity(used.get(resource, "0")), "limit": k8s_quantity(hard[resource])}
            for key, resource in QUOTA_KEYS.items() if resource in hard}


class NamespaceError(RuntimeError):
    """The cluster refused or could not be reached; the message says which team and why."""


class TeamNamespaces:
    """Applies the manifests of a team's namespace, reads its quota's use, retires it.

    ``credentials(team, may_delete)`` gives the team's S3 variables (a blocking call, run in
    a thread). Applying is skipped when what would be applied is what this process applied
    last (the usage round re-applies every team).
    """

    def __init__(self, cluster: Cluster, credentials, kubeconfig: str | None = None):
        self.cluster = cluster
        self.credentials = credentials
        self.kubeconfig = kubeconfig
        self._client = None
        self._applied: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def client(self):
        """One ApiClient per process, from the kubeconfig or the pod's service account."""
        if self._client is None:
            from kubernetes_asyncio import client, config

            configuration = client.Configuration()
            if self.kubeconfig:
                await config.load_kube_config(config_file=self.kubeconfig, client_configuration=configuration)
            else:
                config.load_incluster_config(client_configuration=configuration)
            self._client = client.ApiClient(configuration)
        return self._client

    async def apply_manifest(self, manifest: dict) -> None:
        """Server-side apply of one object (PATCH with application/apply-patch+yaml)."""
        api = await self.client()
        meta = manifest["metadata"]
        group = manifest["apiVersion"]
        plural = {"Namespace": "namespaces", "ResourceQuota": "resourcequotas", "LimitRange": "limitranges",
                  "NetworkPolicy": "networkpolicies", "PersistentVolumeClaim": "persistentvolumeclaims",
                  "Secret": "secrets"}[manifest["kind"]]
        base = "/api/v1" if group == "v1" else f"/apis/{group}"
        path = f"{base}/{plural}/{meta['name']}" if manifest["kind"] == "Namespace" else \
            f"{base}/namespaces/{meta['namespace']}/{plural}/{meta['name']}"
        await api.call_api(path, "PATCH", query_params=[("fieldManager", MANAGER), ("force", "true")],
                           header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
                           body=manifest, auth_settings=["BearerToken"], _return_http_data_only=True,
                           response_types_map={})

    async def apply(self, team: str, properties: Mapping) -> bool:
        """Make the team's namespace what its properties say; True if anything was sent."""
        from kubernetes_asyncio import client
        from kubernetes_asyncio.client.exceptions import ApiException

        lock = self._locks.setdefault(team, asyncio.Lock())
        async with lock:
            # keys that cannot delete only where members must not delete
            kinds = (True, False) if properties.get("delete_policy") == "admins" else (True,)
            s3_env = {may: await asyncio.to_thread(self.credentials, team, may) for may in kinds}
            manifests = team_manifests(team, properties.get("quota") or {}, self.cluster, s3_env)
            digest = hashlib.sha256(json.dumps(manifests, sort_keys=True).encode()).hexdigest()
            if self._applied.get(team) == digest:
                return False
            try:
                for manifest in manifests:
                    await self.apply_manifest(manifest)
                if False not in s3_env:
                    api = client.CoreV1Api(await self.client())
                    await _absent(api.delete_namespaced_secret(S3_SECRETS[False], self.cluster.namespace(team)))
            except ApiException as e:
                raise NamespaceError(f"namespace of team {team}: {e.status} {api_message(e)}") from None
            self._applied[team] = digest
            log.info("applied the namespace %s of team %s", self.cluster.namespace(team), team)
            return True

    async def used(self, team: str) -> dict[str, dict[str, float]]:
        """What the team's ResourceQuota counts as used, against its limits ({} if none)."""
        from kubernetes_asyncio import client
        from kubernetes_asyncio.client.exceptions import ApiException

        api = client.CoreV1Api(await self.client())
        try:
            quota = await api.read_namespaced_resource_quota(QUOTA, self.cluster.namespace(team))
        except ApiException as e:
            if e.status == 404:
                return {}
            raise NamespaceError(f"quota of team {team}: {e.status} {api_message(e)}") from None
        return quota_used(api.api_client.sanitize_for_serialization(quota.status) or {})

    async def retire(self, team: str, delete_data: bool) -> None:
        """A deleted team: its servers, keys and quota go; the namespace, with the home volume,
        stays unless ``delete_data`` (then the namespace and all in it are deleted)."""
        from kubernetes_asyncio import client
        from kubernetes_asyncio.client.exceptions import ApiException

        self._applied.pop(team, None)
        api = client.CoreV1Api(await self.client())
        ns = self.cluster.namespace(team)
        try:
            if delete_data:
                await api.delete_namespace(ns)
                return
            await api.delete_collection_namespaced_pod(ns)
            for name in (*S3_SECRETS.values(), REGISTRY_SECRET):
                await _absent(api.delete_namespaced_secret(name, ns))
            await _absent(api.delete_namespaced_resource_quota(QUOTA, ns))
            await self.apply_manifest({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": _meta(QUOTA, ns, team),
                                       "spec": {"hard": {"pods": "0"}}})
        except ApiException as e:
            if e.status != 404:
                raise NamespaceError(f"namespace of team {team}: {e.status} {api_message(e)}") from None


async def _absent(call) -> None:
    from kubernetes_asyncio.client.exceptions import ApiException

    try:
        await call
    except ApiException as e:
        if e.status != 404:
            raise


def api_message(error) -> str:
    """The API server's own message of a refused call."""
    try:
        return json.loads(error.body)["message"]
    except (TypeError, ValueError, KeyError):
        return str(error.reason)

