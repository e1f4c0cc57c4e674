"""Datasets API and page: browse, upload (multipart), download, delete, usage, audit (share
links: ``shares.py``).

Handlers are thin: they check access (``team_scope``), read the request and run the
blocking domain calls of ``portal.datasets`` and ``portal.uploads`` in a thread.
"""

from __future__ import annotations

import asyncio

import urllib3
from minio.error import S3Error
from tornado import web

from ..datasets import MAX_PAGE, MAX_SHARE_SECONDS, DatasetError, Datasets, Place
from ..rbac import ADMIN, READ
from ..uploads import Uploads
from .base import APIHandler, team_scope
from .pages import PageHandler


def may_delete(caller, team) -> bool:
    """The team's delete_policy: team admins only, or every member."""
    return team.delete_policy == "members" or caller.may(ADMIN, team)


class DatasetsAPIHandler(APIHandler):
    @property
    def datasets(self) -> Datasets:
        return self.settings["datasets"]

    @property
    def uploads(self) -> Uploads:
        return self.settings["uploads"]

    @property
    def place(self) -> Place:
        return Place(self.team.name, self.team.bucket, self.caller.name, may_delete(self.caller, self.team))

    @property
    def manages_team(self) -> bool:
        """Team admins and operators see and abort every member's uploads."""
        return self.caller.may(ADMIN, self.team)

    async def call(self, fn, *args):
        """Run a blocking domain call in a thread; its refusals become JSON errors."""
        try:
            return await asyncio.to_thread(fn, *args)
        except DatasetError as e:
            raise web.HTTPError(e.status, e.message) from None
        except S3Error as e:
            raise web.HTTPError(502, f"the storage server refused: {e.code}") from None
        except (urllib3.exceptions.HTTPError, OSError):
            raise web.HTTPError(503, "the storage server is unreachable; try again later") from None


class DatasetsHandler(DatasetsAPIHandler):
    @team_scope(READ)
    async def get(self, team):
        limit = self.whole_number("limit", MAX_PAGE, 1, MAX_PAGE)
        page = await self.call(self.datasets.page, self.place, self.query("prefix", ""),
                               self.query("start_after", ""), limit)
        self.write_json(page)

    @team_scope(READ)
    async def delete(self, team):
        recursive = self.query("recursive", "false")
        if recursive not in ("true", "false"):
            raise web.HTTPError(400, "recursive: must be true or false")
        self.write_json(await self.call(self.datasets.delete, self.place, self.query("key"), recursive == "true"))


class FoldersHandler(DatasetsAPIHandler):
    @team_scope(READ)
    async def post(self, team):
        folder, created = await self.call(self.datasets.new_folder, self.place, self.json_object().get("key"))
        self.write_json(folder, 201 if created else 200)


class UploadsHandler(DatasetsAPIHandler):
    @team_scope(READ)
    async def get(self, team):
        offset, limit = self.page_args()
        items, total = await self.call(self.uploads.page, self.place, self.manages_team, offset, limit)
        self.write_page(items, offset, limit, total)

    @team_scope(READ)
    async def post(self, team):
        body = self.json_object()
        upload = await self.call(self.uploads.start, self.place, self.team.quota.get("storage"),
                                 body.get("key"), body.get("size"))
        self.write_json(upload, 201)


class UploadHandler(DatasetsAPIHandler):
    @team_scope(READ)
    async def delete(self, team, upload_id):
        self.write_json(await self.call(self.uploads.abort, self.place, upload_id, self.manages_team))


class UploadCompleteHandler(DatasetsAPIHandler):
    @team_scope(READ)
    async def post(self, team, upload_id):
        parts = self.json_object().get("parts") if self.request.body else None
        done = await self.call(self.uploads.complete, self.place, upload_id, parts)
        self.write_json(self.settings["metrics"].uploaded(team, done))


class DownloadHandler(DatasetsAPIHandler):
    @team_scope(READ)
    async def get(self, team):
        url = await self.call(self.datasets.download_url, self.place, self.query("key"))
        self.redirect(url, status=307)


class UsageHandler(DatasetsAPIHandler):
    @team_scope(READ)
    async def get(self, team):
        self.write_json(usage_json(self.settings["usage"], self.team))


class AuditHandler(DatasetsAPIHandler):
    @team_scope(ADMIN)
    async def get(self, team):
        offset, limit = self.page_args()
        events, total = await asyncio.to_thread(self.settings["audit"].page, team, offset, limit)
        self.write_page(events, offset, limit, total)


def usage_json(cache, team) -> dict:
    usage = cache.get(team.name)
    counted = usage.as_json() if usage else {"objects": None, "bytes": None, "computed_at": None}
    return {**counted, "quota": team.quota.get("storage")}


class DatasetsPageHandler(PageHandler):
    @web.authenticated
    @team_scope(READ)
    async def get(self, team):
        self.render_page("datasets.html", team=self.team, usage=usage_json(self.settings["usage"], self.team),
                         can_delete=may_delete(self.caller, self.team), max_share=MAX_SHARE_SECONDS,
                         manage_shares=self.caller.may(ADMIN, self.team),
                         page_size=MAX_PAGE)


TEAM = r"(?P<team>[^/]+)"
UPLOAD = r"(?P<upload_id>[^/]+)"
default_handlers = [
    (rf"/api/v1/teams/{TEAM}/datasets", DatasetsHandler),
    (rf"/api/v1/teams/{TEAM}/folders", FoldersHandler),
    (rf"/api/v1/teams/{TEAM}/uploads", UploadsHandler),
    (rf"/api/v1/teams/{TEAM}/uploads/{UPLOAD}", UploadHandler),
    (rf"/api/v1/teams/{TEAM}/uploads/{UPLOAD}/complete", UploadCompleteHandler),
    (rf"/api/v1/teams/{TEAM}/download", DownloadHandler),
    (rf"/api/v1/teams/{TEAM}/usage", UsageHandler),
    (rf"/api/v1/teams/{TEAM}/audit", AuditHandler),
    (rf"/teams/{TEAM}/datasets/?", DatasetsPageHandler),
]
