"""The portal's GitLab: thin wrappers over python-gitlab (the only GitLab client).

Calls are blocking (python-gitlab uses requests); handlers and the follower run them in a
thread with ``GitLabAccess.call``, which retries what may pass by itself (GitLab
unreachable, slow, or answering 5xx) with exponential backoff, and turns every failure into
a ``GitLabError`` whose message says what happened without any token.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass

import gitlab
import requests
from gitlab.exceptions import GitlabError as _LibraryError

log = logging.getLogger(__name__)
TOKEN_ENV = "AIPORTAL_GITLAB_TOKEN"
SETUP_FILE = "images/prod/Containerfile"  # a project without it at a commit is not set up for promotion


class GitLabError(Exception):
    """GitLab could not do it. ``status`` is what the portal answers: 503 unreachable or
    failing, 502 the portal's credentials refused, and GitLab's own 400/403/404/409."""

    def __init__(self, status: int, message: str, transient: bool = False):
        super().__init__(message)
        self.status, self.message, self.transient = status, message, transient


class TagExists(GitLabError):
    def __init__(self, tag: dict):
        super().__init__(409, f"tag {tag['name']} already exists on commit {tag['commit'][:12]}")
        self.tag = tag


def _translate(error: Exception, what: str) -> GitLabError:
    if isinstance(error, requests.exceptions.Timeout):
        return GitLabError(503, f"GitLab did not answer in time while {what}", transient=True)
    if isinstance(error, requests.exceptions.RequestException):
        return GitLabError(503, f"GitLab is unreachable while {what} ({type(error).__name__})", transient=True)
    code = getattr(error, "response_code", None) or 502
    said = str(getattr(error, "error_message", "") or "")[:300]
    if code == 401:
        return GitLabError(502, f"GitLab refused the portal's credentials while {what}: ask an operator")
    if code == 403:
        return GitLabError(403, f"GitLab refused (403 Forbidden) {what}: the acting GitLab account "
                                "needs Developer access to the project")
    if code >= 500 or code == 429:
        return GitLabError(503, f"GitLab failed ({code}) while {what}", transient=True)
    return GitLabError(code if code in (400, 404, 409) else 502, f"GitLab answered {code} while {what}: {said}")


@dataclass(frozen=True)
class Settings:
    url: str
    ca_bundle: str | None
    acts_as: str
    poll_interval: float
    timeout: float
    registry_insecure: bool

    @classmethod
    def from_config(cls, config) -> Settings | None:
        """The `gitlab:` section, its URL defaulting to GitLab login's; None: promotion is off."""
        section = config.raw.get("gitlab") or {}
        url = section.get("url") or (config.auth.get("gitlab") or {}).get("url")
        if not url:
            return None
        return cls(url=url.rstrip("/"), ca_bundle=section.get("ca_bundle"), acts_as=section.get("acts_as", "platform"),
                   poll_interval=section.get("poll_interval", 3), timeout=section.get("timeout", 15),
                   registry_insecure=section.get("registry_insecure", False))


class GitLabAccess:
    """python-gitlab clients for the portal: one with the platform token, or per user with
    their OAuth token (read from the hub's auth_state when ``acts_as: user``)."""

    def __init__(self, settings: Settings, hub=None, environ=os.environ):
        self.settings = settings
        self.hub = hub
        self._platform_token = environ.get(TOKEN_ENV)

    def _client(self, **token) -> gitlab.Gitlab:
        s = self.settings
        return gitlab.Gitlab(s.url, ssl_verify=s.ca_bundle or True, timeout=s.timeout, per_page=100, **token)

    async def client(self, user: str) -> gitlab.Gitlab:
        if self.settings.acts_as == "user":
            model = await self.hub.user(user) if self.hub else None  # auth_state: the service holds admin:auth_state
            token = ((model or {}).get("auth_state") or {}).get("access_token")
            if not token:
                raise GitLabError(403, f"no GitLab login of {user} to act with: log in with GitLab again")
            return self._client(oauth_token=token)
        if not self._platform_token:
            raise GitLabError(502, f"the portal has no GitLab token ({TOKEN_ENV} is not set): ask an operator")
        return self._client(private_token=self._platform_token)

    async def call(self, what: str, fn, *args, attempts: int = 3, **kwargs):
        """fn(*args) in a thread; transient failures retried (0.5 s, 1 s, … backoff)."""
        for attempt in range(attempts):
            try:
                return await asyncio.to_thread(fn, *args, **kwargs)
            except (_LibraryError, requests.exceptions.RequestException) as e:
                error = _translate(e, what)
            if not error.transient or attempt == attempts - 1:
                raise error
            delay = min(0.5 * 2**attempt, 30)
            log.warning("%s; retrying in %.1f s", error.message, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")


# --- blocking operations, run through GitLabAccess.call -----------------------------------

def _in_group(path: str, group: str) -> bool:
    return path.lower().startswith(group.lower().rstrip("/") + "/")


def group_projects(gl: gitlab.Gitlab, group: str) -> list[dict]:
    found = gl.groups.get(group).projects.list(include_subgroups=True, get_all=True, order_by="path", sort="asc")
    return [{"id": p.id, "path": p.path_with_namespace, "name": p.name, "description": p.description or "",
             "web_url": p.web_url, "default_branch": getattr(p, "default_branch", None),
             "last_activity_at": getattr(p, "last_activity_at", None)} for p in found]


def project(gl: gitlab.Gitlab, project_id: int, group: str):
    """The project, if it belongs to the team's group; a project of any other group is as
    absent as one that does not exist (404), whatever the acting token could see."""
    found = gl.projects.get(project_id)
    if not _in_group(found.path_with_namespace, group):
        raise GitLabError(404, f"no project {project_id} in the team's GitLab group")
    return found


def _commit(c) -> dict:
    return {"sha": c.id, "short_sha": c.short_id, "title": c.title, "message": c.message,
            "author": c.author_name, "date": c.authored_date}


def overview(gl: gitlab.Gitlab, project_id: int, group: str, ref: str | None = None) -> dict:
    """Branches, recent commits of `ref` (default branch), vX.Y.Z tags, and whether the
    project is set up for promotion at the tip of that ref."""
    p = project(gl, project_id, group)
    ref = ref or p.default_branch
    branches = [b.name for b in p.branches.list(get_all=True)]
    if ref not in branches:
        raise GitLabError(400, f"ref: no branch {ref[:100]!r} in {p.path_with_namespace}")
    commits = [_commit(c) for c in p.commits.list(ref_name=ref, per_page=20, get_all=False)]
    tags = [{"name": t.name, "commit": t.commit["id"], "message": t.message or ""}
            for t in p.tags.list(get_all=True)]
    return {"id": p.id, "path": p.path_with_namespace, "name": p.name, "web_url": p.web_url,
            "default_branch": p.default_branch, "ref": ref, "branches": branches, "commits": commits,
            "tags": tags, "set_up": has_file(p, SETUP_FILE, ref)}


def has_file(p, path: str, ref: str) -> bool:
    try:
        p.files.get(file_path=path, ref=ref)
        return True
    except _LibraryError as e:
        if getattr(e, "response_code", None) == 404:
            return False
        raise


def commit(p, sha: str) -> dict:
    try:
        return _commit(p.commits.get(sha))
    except _LibraryError as e:
        if getattr(e, "response_code", None) == 404:
            raise GitLabError(400, f"commit: no commit {sha[:64]!r} in {p.path_with_namespace}") from None
        raise


def tag(p, name: str) -> dict | None:
    try:
        t = p.tags.get(name)
    except _LibraryError as e:
        if getattr(e, "response_code", None) == 404:
            return None
        raise
    return {"name": t.name, "commit": t.commit["id"], "message": t.message or ""}


def create_tag(p, version: str, sha: str, message: str) -> dict:
    """The tag on `sha`; one already there on the same commit is ours (a retried request
    that GitLab had done), on another commit a TagExists."""
    try:
        t = p.tags.create({"tag_name": version, "ref": sha, "message": message or f"Release {version}"})
        return {"name": t.name, "commit": t.commit["id"], "message": t.message or ""}
    except _LibraryError as e:
        if getattr(e, "response_code", None) != 400 or "already exists" not in str(e.error_message):
            raise
    existing = tag(p, version)
    if existing is None or existing["commit"] != sha:
        raise TagExists(existing or {"name": version, "commit": "?"})
    return existing


def find_pipeline(p, version: str, sha: str) -> dict | None:
    found = p.pipelines.list(ref=version, sha=sha, order_by="id", sort="asc", get_all=False, per_page=1)
    return found[0].asdict() if found else None


def pipeline_state(p, pipeline_id: int) -> tuple[dict, list[dict]]:
    pipeline = p.pipelines.get(pipeline_id)
    jobs = sorted(pipeline.jobs.list(get_all=True, include_retried=False), key=lambda j: j.id)
    return pipeline.asdict(), [
        {"id": j.id, "name": j.name, "stage": j.stage, "status": j.status, "started_at": j.started_at,
         "finished_at": j.finished_at, "duration": j.duration, "failure_reason": getattr(j, "failure_reason", None),
         "web_url": j.web_url} for j in jobs]


def trace(p, job_id: int) -> str:
    return p.jobs.get(job_id, lazy=True).trace().decode("utf-8", "replace")


def registry_tag(p, version: str) -> dict | None:
    """location (registry/path:tag) and digest of the project's image `version`."""
    for repo in p.repositories.list(get_all=True):
        if repo.path.lower() != p.path_with_namespace.lower():
            continue
        try:
            t = repo.tags.get(id=version)
        except _LibraryError as e:
            if getattr(e, "response_code", None) == 404:
                return None
            raise
        return {"location": t.location, "digest": t.digest}
    return None


def archive(p, sha: str) -> bytes:
    return p.repository_archive(sha=sha, format="tar")
