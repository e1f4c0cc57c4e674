"""The portal as a hub-managed service, run by `python -m portal.serve`.

JupyterHub starts it with JUPYTERHUB_API_TOKEN, JUPYTERHUB_API_URL,
JUPYTERHUB_SERVICE_PREFIX and JUPYTERHUB_SERVICE_URL in its environment; the launcher
adds AIPORTAL_CONFIG, AIPORTAL_DATA_DIR and AIPORTAL_COOKIE_SECRET.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import signal
import socket
import sys

import urllib3
from minio.error import S3Error
from tornado.httpserver import HTTPServer

from . import config as portal_config
from .app import make_app
from .apps import Catalog, catalog_for
from .audit import AuditLog
from .datadir import DataDir
from .datasets import Datasets
from .db import Database, DatabaseUnavailable
from .hub import HubError
from .jobs import runner_for
from .metrics import Metrics
from .namespaces import Cluster, NamespaceError, TeamNamespaces
from .notebook_env import NotebookEnv
from .prometheus import Prometheus
from .promotion import gitlab as promotion_gitlab
from .promotion.desk import PromotionDesk
from .promotion.records import Promotions
from .promotion.registry import Registry
from .shares import Shares
from .signups import Signups
from .ssh.keys import SSHKeys
from .ssh.server import endpoint_for
from .storage import StorageAdminError, store_from_config
from .storage.team_access import REFUSED, TeamAccess
from .team_storage import TeamStorage, provision
from .teams import Team, portal_groups, seed_teams
from .uploads import Uploads
from .usage import UsageCache

log = logging.getLogger("portal")
EXIT_GRACE_S = 5  # seconds a stopped portal may take to exit


async def provision_teams(settings) -> None:
    """`provision` every team, from portal.yaml or created in the hub.

    Keys are made by the service, once, rather than by whichever of the hub (at a spawn)
    and the service asks first: two processes creating a team's first keys at once could
    each revoke the other's (MinIO keeps one user per team). ``TeamStorage.ensure`` is the
    one place they are made: here, for ``POST /teams``, and at a hub-made group's first use.
    """
    for group in portal_groups(await settings["hub"].groups()):
        await provision(settings, group["name"], group.get("properties") or {})


async def recount_usage(app) -> None:
    """Recount every team's usage and expire abandoned uploads (one round). A group made on
    the hub's admin page since the last round gets its bucket and keys first."""
    hub, store, usage = app.settings["hub"], app.settings["store"], app.settings["usage"]
    for group in portal_groups(await hub.groups()):
        team = Team.from_group(group)
        await provision(app.settings, team.name, team.properties)
        await asyncio.to_thread(usage.recount, team.name, team.bucket, store.client())
    expired = await asyncio.to_thread(app.settings["uploads"].expire)
    if expired:
        log.info("aborted %d expired upload(s)", expired)


async def keep_usage(app, interval: float) -> None:
    """``recount_usage`` every ``interval`` seconds; a failed round is logged with its cause
    and the next one tried, so one bad moment of S3 or the hub does not stop the counting."""
    while True:
        try:
            await recount_usage(app)
        except (HubError, OSError, S3Error, urllib3.exceptions.HTTPError, NamespaceError) as e:
            log.warning("could not count storage usage or apply team namespaces: %s", e)
        except Exception:
            log.exception("storage usage round failed")
        await asyncio.sleep(interval)


def promotion_desk(config, db: Database, environ) -> PromotionDesk | None:
    """Promotion when a GitLab is configured: its client, the records, the registry reader."""
    settings = promotion_gitlab.Settings.from_config(config)
    if settings is None:
        return None
    token = environ.get(promotion_gitlab.TOKEN_ENV)
    registry = Registry(insecure=settings.registry_insecure, ca_bundle=settings.ca_bundle, timeout=settings.timeout,
                        credentials=("aiportal", token) if token and settings.acts_as == "platform" else None)
    return PromotionDesk(promotion_gitlab.GitLabAccess(settings, environ=environ), Promotions(db), registry)


def transient(error: Exception) -> bool:
    """Whether a start-up error may pass by itself (a server still starting), rather than
    need an operator (wrong keys, a refused call): those stop the start at once."""
    if isinstance(error, HubError):
        return error.status >= 500 or error.status == 599
    if isinstance(error, S3Error):
        return error.code not in REFUSED
    return isinstance(error, OSError | StorageAdminError | urllib3.exceptions.HTTPError)


def describe(error: Exception) -> str:
    """One line naming what failed, for the log and for `aiportal up`."""
    if isinstance(error, S3Error):
        return (f"the storage server refused: {error.code} ({error.message})"
                + (f" on bucket {error.bucket_name}" if error.bucket_name else ""))
    return str(error) if isinstance(error, RuntimeError) else f"{type(error).__name__}: {error}"


async def start_up(app, config, ready: asyncio.Event, attempts: int = 120) -> None:
    """Seed teams and their storage once the hub answers, then keep usage counted.

    Errors that can pass (the hub or S3 still starting) are retried; any other error, or
    the hub never answering, stops the start: it is logged with its cause and `/health`
    answers 500 with it, which `aiportal up` reports instead of waiting.
    """
    hub = app.settings["hub"]
    try:
        if (ssh := app.settings.get("ssh_endpoint")) is not None:  # a port it cannot bind stops the start
            await ssh.start()
        for attempt in range(attempts):
            try:
                await seed_teams(hub, config, manage_members=app.settings["membership_source"] == "portal")
                await provision_teams(app.settings)
                break
            except Exception as e:
                if not transient(e):
                    raise
                last = e
                if attempt % 10 == 0:
                    log.info("waiting for the hub API and storage to seed teams: %s", e)
                await asyncio.sleep(0.5)
        else:
            raise RuntimeError(f"the hub API or the storage did not answer: {last}")
    except Exception as e:
        cause = describe(e)
        log.critical("portal start-up failed: %s", cause, exc_info=not isinstance(e, RuntimeError | S3Error))
        app.settings["startup_error"] = cause
        return
    desk = app.settings.get("promotion")
    if desk is not None:
        resumed = desk.follower.resume()
        if resumed:
            log.info("following %d unfinished promotion(s) again", resumed)
    runner = app.settings.get("job_runner")
    if runner is not None:  # jobs left unfinished by a previous run carry on
        app.settings["job_task"] = asyncio.create_task(runner.run())
    ready.set()
    log.info("portal ready: %d team(s) seeded", len(config.teams))
    await keep_usage(app, config.storage_usage_interval)


def load_apps(config) -> Catalog:
    """The app catalog; each app file that did not load is logged with its path and reasons."""
    catalog = catalog_for(config)
    for broken in catalog.broken:
        log.warning("app file %s not loaded: %s", broken.path, "; ".join(broken.problems))
    log.info("apps: %s", ", ".join(catalog.apps) or "none")
    return catalog


async def main(sockets: list[socket.socket]) -> None:
    """Serve on `sockets` (bound by portal.serve) until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s portal] %(message)s")
    config = portal_config.load(os.environ["AIPORTAL_CONFIG"])
    ready = asyncio.Event()
    membership = "gitlab" if config.auth["type"] == "gitlab" else "portal"
    data = DataDir(os.environ["AIPORTAL_DATA_DIR"])
    try:
        db = Database(data.portal_db_url(config.database_url))
        store = store_from_config(config, data.root, db=db)
    except (DatabaseUnavailable, StorageAdminError) as e:
        log.critical("%s", e)
        sys.exit(1)
    access, usage, audit = TeamAccess(store, config.storage_public_endpoint), UsageCache(), AuditLog(db)
    namespaces = None
    if config.spawner_backend == "kubernetes":
        k8s = config.raw["spawner"]["kubernetes"]
        namespaces = TeamNamespaces(Cluster.from_config(k8s, hub_namespace=os.environ.get("POD_NAMESPACE")),
                                    NotebookEnv(config, data.root, store), k8s["kubeconfig"])
    app = make_app(
        config, hub_api_url=os.environ["JUPYTERHUB_API_URL"],
        api_token=os.environ["JUPYTERHUB_API_TOKEN"],
        prefix=os.environ["JUPYTERHUB_SERVICE_PREFIX"], membership_source=membership,
        ready=ready, cookie_secret=os.environ["AIPORTAL_COOKIE_SECRET"],
        store=store, team_storage=TeamStorage(store, usage), namespaces=namespaces, usage=usage, audit=audit,
        datasets=Datasets(access, usage, audit),
        uploads=Uploads(access, db, usage, audit), shares=Shares(db, access, audit),
        gitlab_group_url=(config.auth.get("gitlab", {}).get("url", "").rstrip("/") + "/{team}"
                          if membership == "gitlab" else ""),
        signups=Signups(data.hub_db_url(config.hub_db_url)) if membership == "portal" else None,
        promotion=(desk := promotion_desk(config, db, os.environ)),
        metrics=Metrics.from_config(config, db), metrics_token=os.environ.get("AIPORTAL_METRICS_TOKEN") or None,
        prometheus=Prometheus.from_config(config, os.environ), apps=load_apps(config), db=db,
        ssh_keys=(ssh_keys := SSHKeys(db)))
    app.settings["job_runner"] = runner_for(config, db, store, app.settings["hub"], data, os.environ)
    app.settings["ssh_endpoint"] = endpoint_for(config, data, app.settings["hub"], ssh_keys, os.environ, namespaces)
    if desk is not None:
        desk.access.hub = app.settings["hub"]  # acts_as user: the promoter's GitLab token is in the hub's auth_state
    server = HTTPServer(app, xheaders=True)
    server.add_sockets(sockets)
    log.info("portal serving on %s", os.environ["JUPYTERHUB_SERVICE_URL"])
    background = asyncio.create_task(start_up(app, config, ready))
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # the hub stops its services with SIGTERM
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    background.cancel()
    if app.settings["ssh_endpoint"] is not None:
        app.settings["ssh_endpoint"].stop()
    server.stop()
    log.info("portal stopped")
    # What is left (worker threads finishing their calls, the interpreter's exit) gets a few
    # seconds; a process still here then writes what held it (every thread's stack, into the
    # hub's log) and exits, rather than hold up the hub's shutdown until its SIGKILL.
    faulthandler.dump_traceback_later(EXIT_GRACE_S, exit=True)
