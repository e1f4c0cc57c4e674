"""JupyterHub configuration: reads portal.yaml and wires auth, spawner, the portal service and roles.

`aiportal up` runs `jupyterhub -f` on this file with AIPORTAL_* variables set (see
portal/launcher.py); the Helm chart mounts the same file.
"""

import json
import os
import sys
from dataclasses import asdict

from portal import SHARED_TEMPLATES, culling, rbac
from portal import config as portal_config
from portal.apps import catalog_for
from portal.datadir import DataDir
from portal.notebook_env import NotebookEnv
from portal.passwords import BackgroundHash
from spawners import engine as engines
from spawners import gpus
from spawners.failures import SpawnFailures
from spawners.team import ReleasedVersions

c = get_config()  # noqa: F821  (provided by JupyterHub)

data = DataDir(os.environ["AIPORTAL_DATA_DIR"]).ensure()
cfg = portal_config.load(os.environ.get("AIPORTAL_CONFIG", data.config))
env = os.environ.get

# --- hub, proxy, database -------------------------------------------------------------
c.JupyterHub.ip = cfg.hub_ip
c.JupyterHub.port = int(env("AIPORTAL_PORT", cfg.hub_port))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(env("AIPORTAL_HUB_PORT", "8081"))
c.JupyterHub.db_url = data.hub_db_url(cfg.hub_db_url)
c.JupyterHub.cookie_secret_file = str(data.root / "secrets" / "jupyterhub_cookie_secret")
c.JupyterHub.template_paths = [os.path.join(os.path.dirname(__file__), "templates"), SHARED_TEMPLATES]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('AIPORTAL_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.auth_token = data.secret("proxy-token")
# through portal.lifeline: the proxy ends with the hub, even when the hub is killed outright
c.ConfigurableHTTPProxy.command = [sys.executable, "-m", "portal.lifeline",
                                   env("AIPORTAL_CHP", "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(data.proxy_pid)
c.JupyterHub.allow_named_servers = True  # app sessions are named servers
c.JupyterHub.named_server_limit_per_user = cfg.raw["hub"]["named_server_limit"]
c.JupyterHub.default_url = "/services/portal/"

# --- authentication -------------------------------------------------------------------
c.Authenticator.admin_users = set(cfg.admin_users)
if cfg.auth["type"] == "gitlab":
    gl = cfg.auth["gitlab"]
    # the user's GitLab groups that teams name become their teams at each login (gitlab_login.py)
    c.JupyterHub.authenticator_class = "portal.gitlab_login.PortalGitLabAuthenticator"
    c.PortalGitLabAuthenticator.gitlab_url = gl["url"]
    c.PortalGitLabAuthenticator.client_id = gl["client_id"]
    c.PortalGitLabAuthenticator.client_secret = gl["client_secret"]
    c.PortalGitLabAuthenticator.scope = ["read_user", "read_api"]
    if gl.get("callback_url"):
        c.PortalGitLabAuthenticator.oauth_callback_url = gl["callback_url"]
    if gl.get("allowed_groups"):
        c.PortalGitLabAuthenticator.allowed_gitlab_groups = set(gl["allowed_groups"])
    if (cfg.raw.get("gitlab") or {}).get("acts_as") == "user":
        # promotion acts with the user's own token, kept encrypted in the hub's database
        c.PortalGitLabAuthenticator.enable_auth_state = True
        os.environ.setdefault("JUPYTERHUB_CRYPT_KEY", data.secret("auth-state-key", 24))  # 32 characters: a raw key
else:
    c.JupyterHub.authenticator_class = "portal.auth.PortalAuthenticator"
    c.PortalAuthenticator.allow_all = True  # authenticate() itself refuses unapproved sign-ups
    c.PortalAuthenticator.open_signup = cfg.auth["open_signup"]
    c.PortalAuthenticator.minimum_password_length = cfg.auth["minimum_password_length"]
    c.PortalAuthenticator.bootstrap_admin = cfg.first_admin
    # hashed from now on, while the hub sets up (bcrypt: ~0.25 s of a first start)
    c.PortalAuthenticator.bootstrap_password_hash = BackgroundHash(data.admin_password(cfg.first_admin))

# --- roles and the portal service -----------------------------------------------------
c.JupyterHub.custom_scopes = rbac.CUSTOM_SCOPES
c.JupyterHub.load_roles = rbac.hub_roles(cfg)
service_port = int(env("AIPORTAL_SERVICE_PORT", "10101"))
c.JupyterHub.services = [{
    "name": "portal",
    "display": True,
    "url": f"http://127.0.0.1:{service_port}",
    "command": [sys.executable, "-m", "portal.serve"],
    "oauth_no_confirm": True,
    "oauth_client_allowed_scopes": [rbac.READ, rbac.ADMIN, "read:users:groups!user",
                                    "read:users:name!user", "admin-ui", "read:metrics"],
    "environment": {
        "AIPORTAL_CONFIG": cfg.source,
        "AIPORTAL_DATA_DIR": str(data.root),
        "AIPORTAL_COOKIE_SECRET": data.secret("portal-cookie-secret"),
        # an external S3 server's admin keys (a Secret on Kubernetes)
        # the platform's GitLab token (promotion), Prometheus' scrape token and the token the usage
        # charts read Prometheus with: only the service gets them
        **{k: os.environ[k] for k in ("AIPORTAL_S3_ACCESS_KEY", "AIPORTAL_S3_SECRET_KEY", "AIPORTAL_GITLAB_TOKEN",
                                      "AIPORTAL_METRICS_TOKEN", "AIPORTAL_PROMETHEUS_TOKEN")
           if k in os.environ},
    },
}]
if env("AIPORTAL_METRICS_TOKEN"):  # the same Bearer token scrapes the hub's /hub/metrics (read:metrics only)
    c.JupyterHub.services.append({"name": rbac.SCRAPER, "api_token": env("AIPORTAL_METRICS_TOKEN")})
    c.JupyterHub.load_roles.append(rbac.scraper_role())

# --- idle culling: jupyterhub-idle-culler, each server's limit its app's or profile's -----
catalog = catalog_for(cfg)  # the interactive apps; the portal reports the files that did not load
idle_limits = culling.limits(cfg.profiles, catalog.apps)
if idle_limits:  # no profile or app has a limit (or culling is off): no culler
    c.JupyterHub.services.append({
        "name": culling.SERVICE,
        # through portal.lifeline: it ends with the hub, even when the hub is killed outright
        "command": [sys.executable, "-m", "portal.lifeline", sys.executable, "-m", "jupyterhub_idle_culler",
                    f"--config={os.path.join(os.path.dirname(__file__), 'idle_culler_config.py')}",
                    f"--cull-every={cfg.raw['culling']['cull_every']}"],
        "environment": {culling.LIMITS_ENV: json.dumps(idle_limits)},
    })
    c.JupyterHub.load_roles.append({"name": culling.SERVICE, "description": "Stops idle servers",
                                    "scopes": culling.SCOPES, "services": [culling.SERVICE]})

# --- servers --------------------------------------------------------------------------
# `aiportal up` chose the engine (and may have started Podman's service for it); a hub
# started otherwise resolves it itself, with the same refusals.
engine = engines.Engine.from_env(os.environ) or engines.resolve(cfg.spawner_backend, cfg.spawner_socket)[0]
if engine.backend not in ("local", "kubernetes"):
    engines.wait_until_answers(engine.socket)  # `aiportal up` may still be starting Podman's service
# the portal service runs jobs and SSH sessions on the same engine as the servers
c.JupyterHub.services[0]["environment"].update(engine.as_env())
c.Spawner.profiles = {name: asdict(p) for name, p in cfg.profiles.items()}
c.Spawner.apps = catalog.apps  # app sessions are checked against the same catalog as the portal's
# seconds in a walltime hour: only tests and demos shorten it (docs/testing.md)
c.Spawner.walltime_hour = float(env("AIPORTAL_WALLTIME_HOUR", "3600"))
c.Spawner.team_env = NotebookEnv(cfg, data.root)  # the team's S3 keys, never the admin keys
# promoted versions a team may start as prod-mode servers, from the portal database
c.Spawner.released_versions = ReleasedVersions(data.portal_db_url(cfg.database_url))
if cfg.raw["monitoring"]["metrics"]:  # failed spawns by team and reason, counted by the portal's metrics
    c.Spawner.spawn_failures = SpawnFailures(data.portal_db_url(cfg.database_url))
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 60
c.Spawner.poll_interval = 10  # how soon a server that died shows as stopped and frees its quota
if engine.backend == "kubernetes":
    from portal.namespaces import Cluster, TeamNamespaces

    k8s = cfg.raw["spawner"]["kubernetes"]
    if k8s["kubeconfig"]:
        os.environ["KUBECONFIG"] = k8s["kubeconfig"]  # KubeSpawner's client reads it
    c.JupyterHub.spawner_class = "spawners.kubernetes.KubeTeamSpawner"
    c.JupyterHub.cleanup_servers = False  # pods outlive a hub restart
    if k8s["hub_connect_url"]:  # a hub outside the cluster: `aiportal up` forwards it there
        c.KubeTeamSpawner.hub_connect_url = k8s["hub_connect_url"].rstrip("/")
    c.KubeTeamSpawner.namespaces = TeamNamespaces(
        Cluster.from_config(k8s, hub_namespace=env("POD_NAMESPACE")), c.Spawner.team_env, k8s["kubeconfig"])
    c.KubeTeamSpawner.server_uid = k8s["server_uid"]
    c.KubeTeamSpawner.gpu_node_selector = k8s["gpu_node_selector"]
    c.KubeTeamSpawner.gpu_tolerations = k8s["gpu_tolerations"]
    c.KubeTeamSpawner.start_timeout = 300  # a first pull of a team image takes minutes
elif engine.backend == "local":
    c.JupyterHub.spawner_class = "spawners.local.LocalTeamSpawner"
    c.LocalTeamSpawner.notice = (f"Servers run as local processes of the portal's machine, not in "
                                 f"containers ({engine.reason}): no isolation and no GPUs; a profile's "
                                 "CPUs and memory count against the team's quota but do not bound the server.")
    c.SimpleLocalProcessSpawner.home_dir_template = str(data.homes / "{username}")
    c.JupyterHub.cleanup_servers = True  # they are children of the hub's session
else:
    c.JupyterHub.spawner_class = "spawners.container.ContainerTeamSpawner"
    # Containers outlive a hub restart and are re-attached from the hub's spawner state.
    c.JupyterHub.cleanup_servers = False
    # Servers on the engine's bridge reach the hub at the host's bridge address, where
    # `aiportal up` forwards to the hub on loopback (portal/hub_bridge.py); the hub API
    # listens on no other interface.
    c.ContainerTeamSpawner.hub_connect_url = f"http://{engines.HOST_ALIASES[engine.backend]}:{c.JupyterHub.hub_port}"
    c.ContainerTeamSpawner.client_kwargs = {"base_url": engine.socket}
    c.ContainerTeamSpawner.engine = engine.backend
    c.ContainerTeamSpawner.homes = str(data.homes)
    c.ContainerTeamSpawner.accounts = str(data.root / "accounts")  # users' passwd and group files
    c.ContainerTeamSpawner.portal_id = data.instance_id
    c.ContainerTeamSpawner.gpus = list(gpus.inventory(cfg.gpus))
    c.ContainerTeamSpawner.attach_gpus = gpus.cdi_spec_present()

# --- in the cluster (the Helm chart's pods) ---------------------------------------------
if env("AIPORTAL_IN_CLUSTER") == "1":
    from hub_config import cluster

    cluster.apply(c, cfg, os.environ)
