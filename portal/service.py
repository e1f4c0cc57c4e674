"""The portal as a hub-managed service: `python -m portal.service`.

JupyterHub starts it with JUPYTERHUB_API_TOKEN, JUPYTERHUB_API_URL,
JUPYTERHUB_SERVICE_PREFIX and JUPYTERHUB_SERVICE_URL in its environment; the launcher
adds AIPORTAL_CONFIG, AIPORTAL_DATA_DIR and AIPORTAL_COOKIE_SECRET.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from urllib.parse import urlparse

from tornado.httpserver import HTTPServer

from . import config as portal_config
from .app import make_app
from .hub import HubError
from .storage import StorageAdminError, store_from_config
from .teams import seed_teams

log = logging.getLogger("portal")


async def ensure_buckets(hub, store) -> None:
    """One bucket per team, for teams from portal.yaml and teams created in the hub."""
    for group in await hub.groups():
        bucket = (group.get("properties") or {}).get("bucket") or group["name"]
        await asyncio.to_thread(store.ensure_bucket, bucket)


async def _seed_when_hub_answers(app, config, ready: asyncio.Event):
    hub = app.settings["hub"]
    for attempt in range(120):
        try:
            await seed_teams(hub, config, manage_members=app.settings["membership_source"] == "portal")
            await ensure_buckets(hub, app.settings["store"])
            break
        except (HubError, OSError, StorageAdminError) as e:
            if attempt % 10 == 0:
                log.info("waiting for the hub API to seed teams: %s", e)
            await asyncio.sleep(0.5)
    else:
        log.error("could not seed teams: the hub API never answered")
        return
    ready.set()
    log.info("portal ready: %d team(s) seeded", len(config.teams))


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s portal] %(message)s")
    config = portal_config.load(os.environ["AIPORTAL_CONFIG"])
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    ready = asyncio.Event()
    membership = "gitlab" if config.auth["type"] == "gitlab" else "portal"
    app = make_app(
        config, hub_api_url=os.environ["JUPYTERHUB_API_URL"],
        api_token=os.environ["JUPYTERHUB_API_TOKEN"],
        prefix=os.environ["JUPYTERHUB_SERVICE_PREFIX"], membership_source=membership,
        ready=ready, cookie_secret=os.environ["AIPORTAL_COOKIE_SECRET"],
        store=store_from_config(config, os.environ["AIPORTAL_DATA_DIR"]),
        gitlab_group_url=(config.auth.get("gitlab", {}).get("url", "").rstrip("/") + "/{team}"
                          if membership == "gitlab" else ""))
    server = HTTPServer(app, xheaders=True)
    server.listen(url.port, url.hostname)
    log.info("portal listening on %s", url.geturl())
    seeding = asyncio.create_task(_seed_when_hub_answers(app, config, ready))
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # the hub stops its services with SIGTERM
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    seeding.cancel()
    server.stop()
    log.info("portal stopped")


if __name__ == "__main__":
    asyncio.run(main())
