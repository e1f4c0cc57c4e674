"""The hub's wiring inside Kubernetes (the Helm chart), applied after jupyterhub_config.py's own.

In the cluster the proxy is its own pod, so the hub neither starts nor stops it, and every
address crosses pods. The cluster may have no DNS: the chart hands the hub the cluster IPs
of its Services through the variables Kubernetes injects (`<SERVICE>_SERVICE_HOST`, expanded
into AIPORTAL_HUB_CONNECT_URL and AIPORTAL_PROXY_API_URL), and the pod's own IP from the
downward API (POD_IP), where the portal service listens so that the proxy pod reaches it.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlparse

from portal.config import PortalConfig, sqlalchemy_url

IN_CLUSTER_ENV = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "POD_NAMESPACE")


class ClusterConfigError(RuntimeError):
    """The environment the chart sets is missing or unusable; the message names the variable."""


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ClusterConfigError(f"{name} is not set: the hub runs in the cluster (AIPORTAL_IN_CLUSTER=1) "
                                 "only from the aiportal Helm chart, which sets it")
    return value


def _service_url(env: Mapping[str, str], name: str) -> str:
    """A URL built from a Service's injected variables; `$(…)` left in it means the Service did not exist
    when this pod started (Kubernetes injects variables of earlier Services only)."""
    url = _required(env, name)
    if "$(" in url or not urlparse(url).port:
        raise ClusterConfigError(f"{name} is {url!r}: the Service it names did not exist when this pod "
                                 "started; delete the pod so that its replacement gets the Service's address")
    return url


def apply(c, cfg: PortalConfig, env: Mapping[str, str]) -> None:
    """Rewire the hub configured by jupyterhub_config.py (`c`) for the chart's pods; `env` is os.environ."""
    if cfg.spawner_backend != "kubernetes":
        raise ClusterConfigError(f"{cfg.source}: spawner.backend is {cfg.spawner_backend!r}: in the cluster "
                                 "servers are pods (kubernetes)")
    if not cfg.storage_endpoint:
        raise ClusterConfigError(f"{cfg.source}: storage.endpoint is not set: the cluster has no embedded "
                                 "S3 server; name the S3 server (e.g. MinIO) that the hub and server pods reach")
    pod_ip = _required(env, "POD_IP")
    # The hub API listens on the pod's network; server pods, the proxy (whose /hub/ route
    # points here) and the portal service reach it through the hub's Service, whose address
    # outlives the hub pod (server pods keep running across a hub restart).
    # (A full bind URL: with hub_ip 0.0.0.0 and a connect URL, JupyterHub 6 binds the connect URL's host.)
    c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{c.JupyterHub.hub_port}"
    c.JupyterHub.hub_connect_url = _service_url(env, "AIPORTAL_HUB_CONNECT_URL")
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = _service_url(env, "AIPORTAL_PROXY_API_URL")
    c.ConfigurableHTTPProxy.auth_token = _required(env, "CONFIGPROXY_AUTH_TOKEN")
    # Server pods are reattached from the hub's database after a restart or an upgrade.
    c.JupyterHub.cleanup_servers = False
    if env.get("AIPORTAL_HUB_DB_URL"):  # hub.db.type: postgres, the URL from the chart's Secret
        c.JupyterHub.db_url = sqlalchemy_url(env["AIPORTAL_HUB_DB_URL"])
    if env.get("AIPORTAL_HUB_DB_UPGRADE") == "1":  # hub.db.upgrade: an image with a newer JupyterHub
        c.JupyterHub.upgrade_db = True
    if env.get("AIPORTAL_METRICS_PUBLIC") == "1":  # serviceMonitor.enabled: Prometheus scrapes without a token
        c.JupyterHub.authenticate_prometheus = False
    for service in c.JupyterHub.services:
        if service["name"] == "portal":
            # It binds its URL's host (portal/serve.py): the pod's IP, which the proxy pod reaches.
            service["url"] = f"http://{pod_ip}:{urlparse(service['url']).port}"
            # A managed service gets only the environment it is given: the API server's address
            # (the in-cluster client) and the hub's namespace, for the team namespaces it applies.
            service["environment"].update({name: _required(env, name) for name in IN_CLUSTER_ENV})
