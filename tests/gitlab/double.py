"""The GitLab double's state (users, groups, projects on real git repositories, tokens,
pipelines, faults) and its server: a tornado app on 127.0.0.1 in a background thread.

`stop()` closes the socket (GitLab unreachable) and `start()` serves the same state on the
same port again; running pipelines carry on meanwhile, as GitLab's runners do. `close()`
ends everything.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from . import api, oauth
from .api import ApiError
from .pipelines import Pipeline, iso
from .repos import Person, Repo


@dataclass
class User:
    id: int
    username: str
    name: str
    email: str
    password: str
    admin: bool
    created_at: float = field(default_factory=time.time)


@dataclass
class Group:
    id: int
    path: str
    name: str
    parent: Group | None
    members: dict[str, int]
    created_at: float = field(default_factory=time.time)

    @property
    def full_path(self) -> str:
        return f"{self.parent.full_path}/{self.path}" if self.parent else self.path

    def ancestors(self) -> list[Group]:
        return [self, *(self.parent.ancestors() if self.parent else [])]


@dataclass
class Project:
    id: int
    path: str
    name: str
    group: Group
    repo: Repo
    default_branch: str
    members: dict[str, int] = field(default_factory=dict)
    merge_requests: list[dict] = field(default_factory=list)
    pipelines: list[Pipeline] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)

    @property
    def full_path(self) -> str:
        return f"{self.group.full_path}/{self.path}"


class Faults:
    """Faults the API answers with: a delay on every answer, the next n answers failing,
    and users whose tokens get 403."""

    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.delay = 0.0
            self._failures: list[int] = []
            self.forbidden: set[str] = set()

    def fail_next(self, n: int, status: int = 502) -> None:
        with self._lock:
            self._failures += [status] * n

    def forbid(self, username: str) -> None:
        self.forbidden.add(username)

    def take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None


class GitLabDouble:
    """GitLab's REST API v4 and OAuth2 provider over real git repositories under `root`.

    `registry` ("127.0.0.1:PORT") is the OCI registry that the container-registry endpoints
    read and jobs push to; `runner` runs pipeline jobs (see tests/gitlab/runner.py). Without
    a runner, pipelines stay `created`. `requests` lists every (method, decoded path) served.
    """

    def __init__(self, root: Path, registry: str | None = None, runner=None):
        self.root = Path(root)
        self.registry = registry
        self.runner = runner
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.projects: dict[str, Project] = {}
        self.tokens: dict[str, str] = {}  # personal and OAuth access tokens -> username
        self.variables: dict[str, str] = {}
        self.oauth = oauth.OAuthState()
        self.registry_ids: dict[tuple[int, str], int] = {}
        self.port: int | None = None
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: HTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next_id(self, kind: str) -> int:
        with self._lock:
            self._ids[kind] = self._ids.get(kind, 0) + 1
            return self._ids[kind]

    # serving

    def start(self) -> None:
        if self._thread:
            return
        sockets = bind_sockets(self.port or 0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        ready = threading.Event()

        def serve():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._server = HTTPServer(make_app(self), xheaders=False)
            self._server.add_sockets(sockets)
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=serve, name=f"gitlab-double-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        if not self._thread:
            return

        async def shutdown():
            self._server.stop()
            await self._server.close_all_connections()
            self._loop.stop()

        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(shutdown()))
        self._thread.join(10)
        self._thread = None

    def close(self, timeout: float = 30) -> None:
        """Stop serving and cancel the pipelines still running (waiting up to `timeout` for each)."""
        self.stop()
        for project in self.projects.values():
            for pipeline in project.pipelines:
                pipeline.cancel()
                if pipeline.thread:
                    pipeline.thread.join(timeout)

    # seeding

    def add_user(self, username: str, name: str | None = None, email: str | None = None,
                 password: str = "password123", admin: bool = False) -> dict:
        user = User(self.next_id("user"), username, name or username, email or f"{username}@example.org",
                    password, admin)
        self.users[username] = user
        return self.user_json(user, private=True)

    def personal_token(self, username: str) -> str:
        token = "glpat-" + secrets.token_urlsafe(15)
        self.tokens[token] = self.users[username].username
        return token

    def add_group(self, path: str, name: str | None = None, members: dict[str, int] | None = None) -> dict:
        parent_path, _, own = path.rpartition("/")
        parent = self.groups[parent_path] if parent_path else None
        group = Group(self.next_id("namespace"), own, name or own, parent, dict(members or {}))
        self.groups[path] = group
        return self.group_json(group)

    def add_project(self, group: str, path: str, files: dict[str, bytes] | None = None, branch: str = "main",
                    name: str | None = None, members: dict[str, int] | None = None) -> dict:
        namespace = self.groups[group]
        project_id = self.next_id("project")
        repo = Repo(self.root / "repositories" / f"{group}/{path}.git")
        repo.init(branch)
        project = Project(project_id, path, name or path, namespace, repo, branch, dict(members or {}))
        self.projects[project.full_path] = project
        if files:
            repo.commit(branch, files, "Initial commit", Person("Administrator", "admin@example.org"))
        return self.project_json(project, None)

    def commit(self, project_path: str, files: dict[str, bytes | None], message: str = "Update files",
               author: str | None = None, branch: str | None = None) -> str:
        project = self.projects[project_path]
        return project.repo.commit(branch or project.default_branch, files, message, self.person(author))

    def set_variable(self, key: str, value: str) -> None:
        self.variables[key] = value

    def add_oauth_app(self, client_id: str, secret: str, redirect_uri: str) -> None:
        self.oauth.apps[client_id] = (secret, redirect_uri)

    def pipeline(self, project_path: str, pipeline_id: int) -> Pipeline:
        return next(p for p in self.projects[project_path].pipelines if p.id == pipeline_id)

    # rules

    def person(self, username: str | None) -> Person:
        user = self.users.get(username or "")
        return Person(user.name, user.email) if user else Person("Administrator", "admin@example.org")

    def access_level(self, username: str, target: Group | Project) -> int:
        """The user's role on a group or project, inherited from parent groups; 0 for none."""
        user = self.users.get(username)
        if user is None:
            return 0
        if user.admin:
            return 50
        holders = [target, *target.group.ancestors()] if isinstance(target, Project) else target.ancestors()
        return max((h.members.get(username, 0) for h in holders), default=0)

    def find_group(self, ident: str) -> Group | None:
        if ident.isdigit():
            return next((g for g in self.groups.values() if g.id == int(ident)), None)
        return self.groups.get(ident)

    def find_project(self, ident: str) -> Project | None:
        if ident.isdigit():
            return next((p for p in self.projects.values() if p.id == int(ident)), None)
        return self.projects.get(ident)

    # actions behind the API

    def create_tag(self, project: Project, name: str, ref: str, message: str | None, username: str) -> dict:
        """Tag `ref`; a commit with a .gitlab-ci.yml gets a pipeline, as a tag push does."""
        repo = project.repo
        if not repo.check_ref_name("tags", name):
            raise ApiError(400, {"message": "Tag name invalid"})
        if any(t["name"] == name for t in repo.tags()):
            raise ApiError(400, {"message": f"Tag {name} already exists"})
        sha = repo.resolve(ref)
        if sha is None:
            raise ApiError(400, {"message": f"Target {ref} is invalid"})
        repo.create_tag(name, sha, message, self.person(username))
        self.start_pipeline(project, name, sha, tag=True, username=username)
        return next(t for t in repo.tags() if t["name"] == name)

    def start_pipeline(self, project: Project, ref: str, sha: str, tag: bool, username: str) -> Pipeline | None:
        """The pipeline for `sha` at `ref`: none without a .gitlab-ci.yml or when no job applies;
        a failed one for a bad file; one that stays `created` without a runner."""
        ci = project.repo.blob(sha, ".gitlab-ci.yml")
        if ci is None:
            return None

        def read_file(path: str) -> str | None:
            found = project.repo.blob(sha, path)
            return found[1].decode() if found else None

        pipeline = Pipeline(self.next_id("pipeline"), len(project.pipelines) + 1, project.id, sha, ref, tag, username)
        pipeline.plan(ci[1].decode(), read_file, self.pipeline_variables(project, pipeline),
                      lambda: self.next_id("job"))
        if not pipeline.jobs and not pipeline.yaml_errors:
            return None
        project.pipelines.append(pipeline)
        pipeline.start(self.runner, lambda: project.repo.archive(sha, "tar"), self.root / "builds",
                       lambda job: self.job_variables(project, pipeline, job))
        return pipeline

    def pipeline_variables(self, project: Project, pipeline: Pipeline) -> dict[str, str]:
        values = {
            "CI": "true", "GITLAB_CI": "true", "CI_SERVER_URL": self.url,
            "CI_PROJECT_DIR": f"/builds/{project.full_path}", "CI_PROJECT_PATH": project.full_path,
            "CI_PROJECT_NAME": project.path, "CI_PROJECT_ID": str(project.id),
            "CI_PROJECT_NAMESPACE": project.group.full_path,
            "CI_PROJECT_URL": f"{self.url}/{project.full_path}", "CI_DEFAULT_BRANCH": project.default_branch,
            "CI_COMMIT_SHA": pipeline.sha, "CI_COMMIT_SHORT_SHA": pipeline.sha[:8],
            "CI_COMMIT_REF_NAME": pipeline.ref, "CI_PIPELINE_ID": str(pipeline.id),
            "CI_PIPELINE_SOURCE": pipeline.source, "CI_REGISTRY_USER": "gitlab-ci-token",
        }
        if pipeline.tag:
            values["CI_COMMIT_TAG"] = pipeline.ref
        else:
            values["CI_COMMIT_BRANCH"] = pipeline.ref
        if self.registry:
            values["CI_REGISTRY"] = self.registry
            values["CI_REGISTRY_IMAGE"] = f"{self.registry}/{project.full_path}"
        return {**values, **self.variables}

    def job_variables(self, project: Project, pipeline: Pipeline, job) -> dict[str, str]:
        return {**self.pipeline_variables(project, pipeline), "CI_JOB_ID": str(job.id), "CI_JOB_NAME": job.name,
                "CI_JOB_STAGE": job.stage, "CI_JOB_TOKEN": job.token, "CI_REGISTRY_PASSWORD": job.token,
                "CI_JOB_URL": f"{self.url}/{project.full_path}/-/jobs/{job.id}"}

    # JSON views (the fields GitLab documents)

    def user_json(self, user: User | None, private: bool = False) -> dict | None:
        if user is None:
            return None
        data = {"id": user.id, "username": user.username, "name": user.name, "state": "active",
                "locked": False, "avatar_url": None, "web_url": f"{self.url}/{user.username}"}
        if private:
            data.update(email=user.email, public_email=None, is_admin=user.admin, created_at=iso(user.created_at),
                        bot=False, two_factor_enabled=False, external=False)
        return data

    def group_json(self, group: Group) -> dict:
        full_name = " / ".join(g.name for g in reversed(group.ancestors()))
        return {"id": group.id, "name": group.name, "path": group.path, "full_name": full_name,
                "full_path": group.full_path, "description": "", "visibility": "private",
                "parent_id": group.parent.id if group.parent else None, "avatar_url": None,
                "web_url": f"{self.url}/groups/{group.full_path}", "created_at": iso(group.created_at)}

    def project_json(self, project: Project, username: str | None) -> dict:
        group = project.group
        level = self.access_level(username, project) if username else 0
        return {
            "id": project.id, "name": project.name, "path": project.path, "description": "",
            "name_with_namespace": f"{self.group_json(group)['full_name']} / {project.name}",
            "path_with_namespace": project.full_path, "created_at": iso(project.created_at),
            "last_activity_at": iso(project.created_at), "default_branch": project.default_branch,
            "visibility": "private", "archived": False, "empty_repo": not project.repo.branches(),
            "topics": [], "tag_list": [], "forks_count": 0, "star_count": 0, "avatar_url": None,
            "web_url": f"{self.url}/{project.full_path}", "readme_url": None,
            "http_url_to_repo": f"{self.url}/{project.full_path}.git",
            "ssh_url_to_repo": f"git@127.0.0.1:{project.full_path}.git",
            "namespace": {"id": group.id, "name": group.name, "path": group.path, "kind": "group",
                          "full_path": group.full_path, "parent_id": group.parent.id if group.parent else None,
                          "avatar_url": None, "web_url": f"{self.url}/groups/{group.full_path}"},
            "container_registry_enabled": True,
            "container_registry_image_prefix": f"{self.registry}/{project.full_path}" if self.registry else None,
            "permissions": {"project_access": {"access_level": project.members[username], "notification_level": 3}
                            if username in project.members else None,
                            "group_access": {"access_level": level, "notification_level": 3} if level else None},
        }

    def commit_json(self, project: Project, info: dict) -> dict:
        return {**info, "web_url": f"{self.url}/{project.full_path}/-/commit/{info['id']}",
                "trailers": {}, "extended_trailers": {}}

    def tag_json(self, project: Project, tag: dict) -> dict:
        commit = self.commit_json(project, project.repo.commit_info(tag["commit"]))
        return {"name": tag["name"], "message": tag["message"], "target": tag["target"], "commit": commit,
                "release": None, "protected": False, "created_at": tag["created_at"]}

    def registry_repository_id(self, project: Project, path: str) -> int:
        key = (project.id, path)
        if key not in self.registry_ids:
            self.registry_ids[key] = self.next_id("registry")
        return self.registry_ids[key]


def make_app(double: GitLabDouble) -> web.Application:
    return web.Application(api.default_handlers + oauth.default_handlers, double=double,
                           default_handler_class=api.NotFoundHandler, log_function=lambda handler: None)
