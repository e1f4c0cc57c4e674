"""Share links: the team's list (``/api/v1/teams/<team>/shares``), revoking one, and the
public link itself (``/s/<token>``), which needs no login.

The link answers a redirect to a freshly signed S3 URL, or a page saying why it leads
nowhere (unknown 404; expired, revoked or file gone 410), never the storage server's XML.
"""

from __future__ import annotations

import asyncio

import urllib3
from minio.error import S3Error
from tornado import web

from ..rbac import READ
from ..shares import ShareGone, Shares
from .base import team_scope
from .datasets import DatasetsAPIHandler
from .pages import PageHandler


class SharesAPIHandler(DatasetsAPIHandler):
    @property
    def shares(self) -> Shares:
        return self.settings["shares"]

    def with_url(self, share: dict) -> dict:
        """The short link as the caller reached the portal (scheme and host through the proxy)."""
        return {"url": f"{self.request.protocol}://{self.request.host}{self.settings['prefix']}s/{share['id']}",
                **share}


class SharesHandler(SharesAPIHandler):
    @team_scope(READ)
    async def get(self, team):
        offset, limit = self.page_args()
        items, total = await self.call(self.shares.page, team, self.query("state", "active"), offset, limit)
        self.write_page([self.with_url(s) for s in items], offset, limit, total)

    @team_scope(READ)
    async def post(self, team):
        body = self.json_object()
        share = await self.call(self.shares.create, self.place, body.get("key"), body.get("expires_in"))
        self.settings["metrics"].shared(team, share)
        self.write_json(self.with_url(share), 201)


class ShareHandler(SharesAPIHandler):
    @team_scope(READ)
    async def delete(self, team, share_id):
        self.write_json(self.with_url(await self.call(self.shares.revoke, self.place, share_id,
                                                      self.manages_team)))


class ShareLinkHandler(PageHandler):
    """``GET /s/<token>``: anyone holding the link, logged in or not, gets the same answer."""

    async def prepare(self):
        self._hub_auth_user_cache = None  # no login, and no hub call: the token is the permission

    async def get(self, token):
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        try:
            url = await asyncio.to_thread(self.settings["shares"].resolve, token)
        except ShareGone as gone:
            self.set_status(gone.status)
            self.render_page("share_gone.html", status_code=gone.status, title=gone.title, message=gone.message)
            return
        except S3Error as e:
            raise web.HTTPError(502, f"the storage server refused: {e.code}; try the link again later") from None
        except (urllib3.exceptions.HTTPError, OSError):
            raise web.HTTPError(503, "the storage server could not be reached; try the link again later") from None
        self.redirect(url, status=307)


TEAM = r"(?P<team>[^/]+)"
default_handlers = [
    (rf"/api/v1/teams/{TEAM}/shares", SharesHandler),
    (rf"/api/v1/teams/{TEAM}/shares/(?P<share_id>[^/]+)", ShareHandler),
    (r"/s/(?P<token>[^/]+)", ShareLinkHandler),
]
