"""What the promotion API does, apart from HTTP: a team's projects, one project's state,
starting a promotion, and opening the set-up merge request."""

from __future__ import annotations

import asyncio

from . import gitlab as ops
from . import template
from .follower import Follower
from .gitlab import GitLabAccess
from .records import AlreadyPromoting, Promotions
from .registry import Registry, RegistryError, split
from .versions import VersionError, check, suggest

MAX_NOTES = 10_000


class PromotionError(ValueError):
    """Input that cannot be promoted (400), or a conflict (409) with what exists."""

    def __init__(self, status: int, message: str, existing: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.existing = status, message, existing


class PromotionDesk:
    def __init__(self, access: GitLabAccess, promotions: Promotions, registry: Registry):
        self.access = access
        self.promotions = promotions
        self.registry = registry
        self.follower = Follower(promotions, access, registry)

    async def projects(self, user: str, group: str) -> list[dict]:
        gl = await self.access.client(user)
        return await self.access.call("listing the group's projects", ops.group_projects, gl, group)

    async def project(self, user: str, team: str, group: str, project_id: int, ref: str | None) -> dict:
        gl = await self.access.client(user)
        found = await self.access.call("reading the project", ops.overview, gl, project_id, group, ref)
        found["suggested_version"] = suggest([t["name"] for t in found["tags"]])
        found["promotions"], _ = self.promotions.page(team, project_id, limit=100)
        return found

    async def promote(self, user: str, team, body: dict) -> dict:
        """Check the request against GitLab, record it, and follow it in the background."""
        unknown = set(body) - {"project_id", "commit", "version", "release_notes"}
        if unknown:
            raise PromotionError(400, f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")
        project_id, sha, notes = body.get("project_id"), body.get("commit"), body.get("release_notes", "")
        if not isinstance(project_id, int) or isinstance(project_id, bool) or not 0 < project_id < 2**31:
            raise PromotionError(400, "project_id: give the id of one of the team's GitLab projects")
        if not isinstance(sha, str) or not 7 <= len(sha) <= 64 or not all(c in "0123456789abcdef" for c in sha):
            raise PromotionError(400, "commit: give a commit sha (7 to 64 hexadecimal digits)")
        if not isinstance(notes, str) or len(notes) > MAX_NOTES:
            raise PromotionError(400, f"release_notes: text of at most {MAX_NOTES} characters")
        group, dev_image = team.promotion["gitlab_group"], team.promotion["dev_image"]
        if not group:
            raise PromotionError(409, f"team {team.name} has no GitLab group: an operator sets its gitlab_group")
        gl = await self.access.client(user)
        p = await self.access.call("reading the project", ops.project, gl, project_id, group)
        commit = await self.access.call("reading the commit", ops.commit, p, sha)
        tags = await self.access.call("reading the tags", lambda: [t.name for t in p.tags.list(get_all=True)])
        version = body.get("version")
        try:
            check(version, [])
        except VersionError as e:
            raise PromotionError(400, str(e)) from None
        if version in tags:
            existing = await self.access.call("reading the tag", ops.tag, p, version)
            raise PromotionError(409, f"version: tag {version} already exists in {p.path_with_namespace} "
                                      f"(on commit {existing['commit'][:12] if existing else '?'})",
                                 existing={"tag": existing, "promotion": self.promotions.find(project_id, version)})
        if not await self.access.call("reading the commit's files", ops.has_file, p, ops.SETUP_FILE, commit["sha"]):
            raise PromotionError(409, f"commit {commit['short_sha']} has no {ops.SETUP_FILE}: set up promotion first "
                                      "(POST …/projects/{id}/setup opens the merge request)")
        base = await self._pinned(dev_image) if dev_image else None
        try:
            record = self.promotions.create(team=team.name, project_id=p.id, project_path=p.path_with_namespace,
                                            commit_sha=commit["sha"], version=version, release_notes=notes,
                                            created_by=user, base_image=base)
        except AlreadyPromoting as e:
            if e.existing["status"] == "error":  # GitLab refused it before any tag: try again
                record = self.promotions.update(
                    e.existing["id"], status="pending", message="creating the tag", commit_sha=commit["sha"],
                    release_notes=notes, created_by=user, base_image=base, finished_at=None)
                self.follower.follow(record["id"])
                return record
            raise PromotionError(409, f"version {version} of {p.path_with_namespace} is already promoted "
                                      f"(promotion {e.existing['id']})", existing={"promotion": e.existing}) from None
        self.follower.follow(record["id"])
        return record

    async def _pinned(self, image: str) -> str:
        """The team's dev image by digest, as the proof compares it."""
        try:
            host, path, _ = split(image)
            return f"{host}/{path}@{await asyncio.to_thread(self.registry.digest, image)}"
        except RegistryError as e:
            raise PromotionError(409, f"the team's dev image cannot be read: {e}") from None

    async def set_up(self, user: str, team, project_id: int) -> dict:
        group, dev_image = team.promotion["gitlab_group"], team.promotion["dev_image"]
        if not group or not dev_image:
            raise PromotionError(409, f"team {team.name} needs a gitlab_group and a dev_image (set by an operator)")
        gl = await self.access.client(user)
        p = await self.access.call("reading the project", ops.project, gl, project_id, group)
        pinned = await self._pinned(dev_image)
        try:
            return await self.access.call("opening the merge request", template.open_merge_request, p, pinned,
                                          attempts=1)
        except ValueError as e:
            raise PromotionError(409, str(e)) from None

