"""GitLab REST API v4 handlers of the double: users, groups, projects, repository (branches,
commits, tree, files, archive, tags), pipelines and jobs, container registry, merge requests.

Each handler resolves the token's user in `prepare()` (after the double's faults), looks up
the project or group the user may see (404 otherwise, 403 for a write below Developer) and
answers GitLab's JSON; every list is paginated with GitLab's headers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import time
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from tornado import web

from .pipelines import iso
from .registry import Registry

ID = r"([^/]+)"
WRITE = 30  # Developer


class ApiError(web.HTTPError):
    """An answer with GitLab's JSON error body."""

    def __init__(self, status: int, body: dict):
        super().__init__(status)
        self.body = body


def not_found(what: str) -> ApiError:
    return ApiError(404, {"message": f"404 {what} Not Found"})


FORBIDDEN = ApiError(403, {"message": "403 Forbidden"})


class DoubleHandler(web.RequestHandler):
    """Base of every handler: records the request and answers errors as GitLab's JSON."""

    @property
    def double(self):
        return self.settings["double"]

    def prepare(self):
        self.double.requests.append((self.request.method, unquote(self.request.path)))

    def write_error(self, status_code, **kwargs):
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, ApiError):
            body = error.body
        else:
            body = {"message": f"{status_code} {HTTPStatus(status_code).phrase}"}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def check_xsrf_cookie(self):
        pass  # token-authenticated API, as GitLab's


class NotFoundHandler(DoubleHandler):
    def prepare(self):
        super().prepare()
        raise ApiError(404, {"error": "404 Not Found"})


class ApiHandler(DoubleHandler):
    """An authenticated API call; `self.username` is the token's user."""

    async def prepare(self):
        super().prepare()
        faults = self.double.faults
        if faults.delay:
            await asyncio.sleep(faults.delay)
        failure = faults.take_failure()
        if failure:
            raise ApiError(failure, {"message": f"{failure} {HTTPStatus(failure).phrase}"})
        token = self.request.headers.get("PRIVATE-TOKEN") or self.get_query_argument("private_token", None)
        authorization = self.request.headers.get("Authorization", "")
        if not token and authorization.startswith("Bearer "):
            token = authorization[len("Bearer "):]
        self.username = self.double.tokens.get(token or "")
        if self.username is None or self.username not in self.double.users:
            raise ApiError(401, {"message": "401 Unauthorized"})
        if self.username in faults.forbidden:
            raise FORBIDDEN

    @property
    def user(self):
        return self.double.users[self.username]

    def args(self) -> dict:
        """The request's parameters: the query string, then a JSON or form body."""
        values = {k: self.get_argument(k) for k in self.request.query_arguments}
        if self.request.body:
            if self.request.headers.get("Content-Type", "").startswith("application/json"):
                try:
                    values.update(json.loads(self.request.body))
                except ValueError:
                    raise ApiError(400, {"error": "invalid JSON body"}) from None
            else:
                values.update({k: self.get_body_argument(k) for k in self.request.body_arguments})
        return values

    def required(self, args: dict, *names: str) -> list:
        for name in names:
            if args.get(name) in (None, ""):
                raise ApiError(400, {"error": f"{name} is missing"})
        return [args[name] for name in names]

    def flag(self, name: str) -> bool:
        return self.get_argument(name, "false").lower() in ("true", "1", "yes")

    def project(self, ident: str, write: bool = False):
        project = self.double.find_project(ident)
        level = self.double.access_level(self.username, project) if project else 0
        if level < 10:
            raise not_found("Project")
        if write and level < WRITE:
            raise FORBIDDEN
        return project

    def group(self, ident: str):
        group = self.double.find_group(ident)
        if group is None or self.double.access_level(self.username, group) < 10:
            raise not_found("Group")
        return group

    def ref_sha(self, project, ref: str | None, what: str = "Commit") -> str:
        sha = project.repo.resolve(ref or project.default_branch)
        if sha is None:
            raise not_found(what)
        return sha

    def paginate(self, items: list, render=None) -> None:
        """Write one page of `items` (each passed through `render`) with GitLab's pagination headers."""
        try:
            page = max(int(self.get_argument("page", "1") or 1), 1)
            per_page = min(max(int(self.get_argument("per_page", "20") or 20), 1), 100)
        except ValueError:
            raise ApiError(400, {"error": "page is invalid"}) from None
        total = len(items)
        pages = max(math.ceil(total / per_page), 1)
        next_page = page + 1 if page < pages else ""
        prev_page = page - 1 if 1 < page <= pages + 1 else ""
        for name, value in [("X-Total", total), ("X-Total-Pages", pages), ("X-Page", page),
                            ("X-Per-Page", per_page), ("X-Next-Page", next_page), ("X-Prev-Page", prev_page)]:
            self.set_header(name, str(value))
        links = [(rel, number) for rel, number in
                 [("prev", prev_page), ("next", next_page), ("first", 1), ("last", pages)] if number]
        self.set_header("Link", ", ".join(f'<{self.page_url(number, per_page)}>; rel="{rel}"' for rel, number in links))
        chunk = items[(page - 1) * per_page: page * per_page]
        self.write_json([render(item) for item in chunk] if render else chunk)

    def page_url(self, page: int, per_page: int) -> str:
        parts = urlsplit(self.request.full_url())
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("page", "per_page")]
        query += [("page", page), ("per_page", per_page)]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def write_json(self, data, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))


# users


class VersionHandler(ApiHandler):
    def get(self):
        self.write_json({"version": "17.5.0", "revision": "double"})


class CurrentUserHandler(ApiHandler):
    def get(self):
        self.write_json(self.double.user_json(self.user, private=True))


class UsersHandler(ApiHandler):
    def get(self):
        username = self.get_argument("username", None)
        users = [u for u in self.double.users.values() if username in (None, u.username)]
        self.paginate([self.double.user_json(u, private=self.user.admin) for u in users])


class UserHandler(ApiHandler):
    def get(self, user_id):
        user = next((u for u in self.double.users.values() if str(u.id) == user_id), None)
        if user is None:
            raise not_found("User")
        self.write_json(self.double.user_json(user, private=self.user.admin))


# groups


class GroupsHandler(ApiHandler):
    def get(self):
        double = self.double
        min_level = int(self.get_argument("min_access_level", "10"))
        if self.flag("owned"):
            min_level = 50
        search = self.get_argument("search", "").lower()
        groups = [g for g in double.groups.values()
                  if double.access_level(self.username, g) >= max(min_level, 10)
                  and (search in g.name.lower() or search in g.path.lower())
                  and not (self.flag("top_level_only") and g.parent)]
        groups.sort(key=lambda g: (g.name.lower(), g.id))
        self.paginate([double.group_json(g) for g in groups])


class GroupHandler(ApiHandler):
    def get(self, ident):
        self.write_json(self.double.group_json(self.group(ident)))


class SubgroupsHandler(ApiHandler):
    def get(self, ident):
        group = self.group(ident)
        self.paginate([self.double.group_json(g) for g in self.double.groups.values() if g.parent is group])


class GroupProjectsHandler(ApiHandler):
    def get(self, ident):
        group = self.group(ident)
        nested = self.flag("include_subgroups")
        projects = [p for p in self.double.projects.values()
                    if p.group is group or (nested and group in p.group.ancestors())]
        self.paginate([self.double.project_json(p, self.username) for p in projects])


def member_json(double, user, level: int) -> dict:
    return {**double.user_json(user), "access_level": level, "expires_at": None}


class MembersHandler(ApiHandler):
    """/groups/:id/members and /projects/:id/members; `all` adds inherited members."""

    def get(self, kind, ident, inherited):
        target = self.group(ident) if kind == "groups" else self.project(ident)
        double = self.double
        if inherited:
            members = {name: double.access_level(name, target) for name in double.users}
        else:
            members = target.members
        self.paginate([member_json(double, double.users[name], level)
                       for name, level in members.items() if level and name in double.users])


class MemberHandler(ApiHandler):
    def get(self, kind, ident, inherited, user_id):
        target = self.group(ident) if kind == "groups" else self.project(ident)
        user = next((u for u in self.double.users.values() if str(u.id) == user_id), None)
        level = 0
        if user and inherited:
            level = self.double.access_level(user.username, target)
        elif user:
            level = target.members.get(user.username, 0)
        if not level:
            raise not_found("Member")
        self.write_json(member_json(self.double, user, level))


# projects


class ProjectsHandler(ApiHandler):
    def get(self):
        double = self.double
        search = self.get_argument("search", "").lower()
        min_level = int(self.get_argument("min_access_level", "10"))
        projects = [p for p in double.projects.values()
                    if double.access_level(self.username, p) >= max(min_level, 10)
                    and (search in p.name.lower() or search in p.path.lower())]
        projects.sort(key=lambda p: p.id, reverse=True)
        self.paginate([double.project_json(p, self.username) for p in projects])


class ProjectHandler(ApiHandler):
    def get(self, ident):
        self.write_json(self.double.project_json(self.project(ident), self.username))


class BranchesHandler(ApiHandler):
    def get(self, ident):
        project = self.project(ident)
        search = self.get_argument("search", "")
        branches = sorted((n, s) for n, s in project.repo.branches().items() if search in n)
        self.paginate([self.branch_json(project, name, sha) for name, sha in branches])

    def post(self, ident):
        project = self.project(ident, write=True)
        name, ref = self.required(self.args(), "branch", "ref")
        if not project.repo.check_ref_name("heads", name):
            raise ApiError(400, {"message": "Branch name is invalid"})
        if name in project.repo.branches():
            raise ApiError(400, {"message": "Branch already exists"})
        sha = project.repo.resolve(ref)
        if sha is None:
            raise ApiError(400, {"message": "Invalid reference name: " + ref})
        project.repo.create_branch(name, sha)
        self.write_json(self.branch_json(project, name, sha), 201)

    def branch_json(self, project, name: str, sha: str) -> dict:
        double = self.double
        writer = double.access_level(self.username, project) >= WRITE
        return {"name": name, "merged": False, "protected": name == project.default_branch,
                "default": name == project.default_branch, "developers_can_push": False,
                "developers_can_merge": False, "can_push": writer,
                "web_url": f"{double.url}/{project.full_path}/-/tree/{name}",
                "commit": double.commit_json(project, project.repo.commit_info(sha))}


class BranchHandler(BranchesHandler):
    def get(self, ident, name):
        project = self.project(ident)
        sha = project.repo.branches().get(name)
        if sha is None:
            raise not_found("Branch")
        self.write_json(self.branch_json(project, name, sha))


class CommitsHandler(ApiHandler):
    def get(self, ident):
        project = self.project(ident)
        if not project.repo.branches():
            return self.paginate([])
        sha = self.ref_sha(project, self.get_argument("ref_name", None), "Commit")
        shas = project.repo.log(sha, self.get_argument("since", None), self.get_argument("until", None),
                                self.get_argument("path", None))
        self.paginate(shas, lambda s: self.double.commit_json(project, project.repo.commit_info(s)))

    def post(self, ident):
        project = self.project(ident, write=True)
        args = self.args()
        branch, message, actions = self.required(args, "branch", "commit_message", "actions")
        repo = project.repo
        start = args.get("start_branch") or args.get("start_sha")
        if start and repo.resolve(start) is None:
            raise ApiError(400, {"message": f"Invalid start_branch: {start}"})
        if not start and repo.branches() and branch not in repo.branches():
            raise ApiError(400, {"message": "You can only create or edit files when you are on a branch"})
        base = repo.resolve(start or branch)
        files = {}
        for action in actions:
            path, kind = action.get("file_path"), action.get("action")
            exists = bool(base and repo.blob(base, path))
            if kind == "create" and exists:
                raise ApiError(400, {"message": "A file with this name already exists"})
            if kind in ("update", "delete") and not exists:
                raise ApiError(400, {"message": "A file with this name doesn't exist"})
            if kind not in ("create", "update", "delete"):
                raise ApiError(400, {"error": "actions[action] does not have a valid value"})
            content = action.get("content") or ""
            if kind == "delete":
                files[path] = None
            elif action.get("encoding") == "base64":
                files[path] = base64.b64decode(content)
            else:
                files[path] = content.encode()
        author = self.double.person(self.username)
        sha = repo.commit(branch, files, message, author, start=start)
        self.write_json(self.double.commit_json(project, repo.commit_info(sha)), 201)


class CommitHandler(ApiHandler):
    def get(self, ident, ref):
        project = self.project(ident)
        sha = self.ref_sha(project, ref, "Commit")
        info = self.double.commit_json(project, project.repo.commit_info(sha))
        self.write_json({**info, "stats": {"additions": 0, "deletions": 0, "total": 0}, "status": None,
                         "last_pipeline": None})


class TreeHandler(ApiHandler):
    def get(self, ident):
        project = self.project(ident)
        sha = self.ref_sha(project, self.get_argument("ref", None), "Tree")
        entries = project.repo.tree(sha, self.get_argument("path", ""), self.flag("recursive"))
        if entries is None:
            raise not_found("Tree")
        self.paginate(entries)


class FileHandler(ApiHandler):
    def found(self, ident, path):
        project = self.project(ident)
        ref = self.get_argument("ref", None) or project.default_branch
        sha = self.ref_sha(project, ref)  # GitLab: "404 Commit Not Found" for a ref it lacks, then "404 File Not Found"
        blob = project.repo.blob(sha, path)
        if blob is None:
            raise not_found("File")
        return project, ref, sha, blob

    def get(self, ident, path):
        project, ref, sha, (oid, content) = self.found(ident, path)
        last = project.repo.last_commit(sha, path)
        self.set_header("X-Gitlab-Blob-Id", oid)
        self.write_json({"file_name": path.rsplit("/", 1)[-1], "file_path": path, "size": len(content),
                         "encoding": "base64", "content": base64.b64encode(content).decode(),
                         "content_sha256": hashlib.sha256(content).hexdigest(), "ref": ref, "blob_id": oid,
                         "commit_id": sha, "last_commit_id": last, "execute_filemode": False})


class RawFileHandler(FileHandler):
    def get(self, ident, path):
        _, _, _, (oid, content) = self.found(ident, path)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Gitlab-Blob-Id", oid)
        self.finish(content)


class ArchiveHandler(ApiHandler):
    FORMATS = {"": "tar.gz", ".tar.gz": "tar.gz", ".tgz": "tar.gz", ".tar": "tar", ".zip": "zip"}

    def get(self, ident, suffix):
        project = self.project(ident)
        fmt = self.FORMATS.get(suffix or "")
        if fmt is None:
            raise ApiError(404, {"error": "404 Not Found"})
        sha = self.ref_sha(project, self.get_argument("sha", None), "Commit")
        name = f"{project.path}-{sha}"
        self.set_header("Content-Type", "application/zip" if fmt == "zip" else "application/octet-stream")
        self.set_header("Content-Disposition", f'attachment; filename="{name}.{fmt}"')
        self.finish(project.repo.archive(sha, fmt, prefix=f"{name}/"))


class TagsHandler(ApiHandler):
    def get(self, ident):
        project = self.project(ident)
        search = self.get_argument("search", "")
        tags = [t for t in project.repo.tags() if search in t["name"]]
        self.paginate(tags, lambda t: self.double.tag_json(project, t))

    def post(self, ident):
        project = self.project(ident, write=True)
        args = self.args()
        name, ref = self.required(args, "tag_name", "ref")
        tag = self.double.create_tag(project, name, ref, args.get("message"), self.username)
        self.write_json(self.double.tag_json(project, tag), 201)


class TagHandler(ApiHandler):
    def get(self, ident, name):
        project = self.project(ident)
        tag = next((t for t in project.repo.tags() if t["name"] == name), None)
        if tag is None:
            raise not_found("Tag")
        self.write_json(self.double.tag_json(project, tag))


# pipelines and jobs


class PipelineBase(ApiHandler):
    def pipeline(self, project, pipeline_id):
        found = next((p for p in project.pipelines if str(p.id) == pipeline_id), None)
        if found is None:
            raise not_found("")
        return found

    def pipeline_json(self, project, pipeline) -> dict:
        double = self.double
        user = double.user_json(double.users.get(pipeline.user))
        with pipeline.lock:
            return pipeline.to_json(f"{double.url}/{project.full_path}", user)

    def job_json(self, project, pipeline, job) -> dict:
        double = self.double
        user = double.user_json(double.users.get(pipeline.user))
        with pipeline.lock:
            return job.to_json(pipeline, f"{double.url}/{project.full_path}", user)

    def jobs(self, project):
        return [(p, j) for p in project.pipelines for j in p.jobs]


class PipelinesHandler(PipelineBase):
    def get(self, ident):
        project = self.project(ident)
        wanted = {k: self.get_argument(k, None) for k in ("ref", "sha", "status")}
        pipelines = [p for p in project.pipelines if all(v in (None, getattr(p, k)) for k, v in wanted.items())]
        order = self.get_argument("order_by", "id")
        if order not in ("id", "status", "ref", "updated_at", "user_id"):
            raise ApiError(400, {"error": "order_by does not have a valid value"})
        key = {"id": lambda p: p.id, "status": lambda p: p.status, "ref": lambda p: p.ref,
               "updated_at": lambda p: p.updated_at, "user_id": lambda p: p.user}[order]
        pipelines.sort(key=key, reverse=self.get_argument("sort", "desc") != "asc")
        self.paginate([self.pipeline_json(project, p) for p in pipelines])


class PipelineHandler(PipelineBase):
    def get(self, ident, pipeline_id):
        project = self.project(ident)
        self.write_json(self.pipeline_json(project, self.pipeline(project, pipeline_id)))


class PipelineCancelHandler(PipelineBase):
    def post(self, ident, pipeline_id):
        project = self.project(ident, write=True)
        pipeline = self.pipeline(project, pipeline_id)
        pipeline.cancel()
        self.write_json(self.pipeline_json(project, pipeline), 201)


class PipelineJobsHandler(PipelineBase):
    def get(self, ident, pipeline_id):
        project = self.project(ident)
        pipeline = self.pipeline(project, pipeline_id)
        self.paginate([self.job_json(project, pipeline, j) for j in pipeline.jobs])


class JobsHandler(PipelineBase):
    def get(self, ident):
        project = self.project(ident)
        jobs = sorted(self.jobs(project), key=lambda pj: pj[1].id, reverse=True)
        self.paginate([self.job_json(project, p, j) for p, j in jobs])


class JobHandler(PipelineBase):
    def job(self, ident, job_id):
        project = self.project(ident)
        found = next(((p, j) for p, j in self.jobs(project) if str(j.id) == job_id), None)
        if found is None:
            raise not_found("")
        return project, *found

    def get(self, ident, job_id):
        self.write_json(self.job_json(*self.job(ident, job_id)))


class JobTraceHandler(JobHandler):
    def get(self, ident, job_id):
        _, _, job = self.job(ident, job_id)
        self.set_header("Content-Type", "text/plain")
        self.finish(job.trace)


# container registry


class RegistryBase(ApiHandler):
    async def repositories(self, project) -> list[dict]:
        double = self.double
        if not double.registry:
            return []
        prefix = project.full_path
        repos = []
        for path in await Registry(double.registry).repositories(prefix):
            repos.append({"id": double.registry_repository_id(project, path), "name": path[len(prefix) + 1:],
                          "path": path, "project_id": project.id, "location": f"{double.registry}/{path}",
                          "created_at": None, "cleanup_policy_started_at": None, "status": None})
        return repos

    async def repository(self, project, repository_id) -> dict:
        found = next((r for r in await self.repositories(project) if str(r["id"]) == repository_id), None)
        if found is None:
            raise not_found("Repository")
        return found

    @staticmethod
    def tag_json(repository: dict, name: str) -> dict:
        return {"name": name, "path": f"{repository['path']}:{name}", "location": f"{repository['location']}:{name}"}


class RegistryRepositoriesHandler(RegistryBase):
    async def get(self, ident):
        project = self.project(ident)
        repos = await self.repositories(project)
        registry = Registry(self.double.registry) if repos else None
        for repo in repos:
            tags = await registry.tags(repo["path"])
            if self.flag("tags_count"):
                repo["tags_count"] = len(tags)
            if self.flag("tags"):
                repo["tags"] = [self.tag_json(repo, t) for t in tags]
        self.paginate(repos)


class RegistryTagsHandler(RegistryBase):
    async def get(self, ident, repository_id):
        repo = await self.repository(self.project(ident), repository_id)
        tags = await Registry(self.double.registry).tags(repo["path"])
        self.paginate([self.tag_json(repo, t) for t in tags])


class RegistryTagHandler(RegistryBase):
    async def get(self, ident, repository_id, name):
        repo = await self.repository(self.project(ident), repository_id)
        detail = await Registry(self.double.registry).tag(repo["path"], name)
        if detail is None:
            raise not_found("Tag")
        revision = detail["revision"]
        self.write_json({**self.tag_json(repo, name), **detail, "short_revision": revision[:9]})


# merge requests


class MergeRequestsHandler(ApiHandler):
    def get(self, ident):
        project = self.project(ident)
        state = self.get_argument("state", "all")
        requests = [m for m in reversed(project.merge_requests) if state in ("all", m["state"])]
        self.paginate([self.refreshed(project, m) for m in requests])

    def post(self, ident):
        project = self.project(ident, write=True)
        args = self.args()
        source, target, title = self.required(args, "source_branch", "target_branch", "title")
        branches = project.repo.branches()
        if source not in branches or target not in branches:
            raise ApiError(404, {"message": "404 Branch Not Found"})
        if source == target:
            raise ApiError(422, {"message": ["You can't use same project/branch for source and target"]})
        for other in project.merge_requests:
            if other["state"] == "opened" and (other["source_branch"], other["target_branch"]) == (source, target):
                raise ApiError(409, {"message": ["Another open merge request already exists for this source branch: "
                                                 f"!{other['iid']}"]})
        double = self.double
        iid = len(project.merge_requests) + 1
        now = iso(time.time())
        request = {
            "id": double.next_id("merge_request"), "iid": iid, "project_id": project.id, "title": title,
            "description": args.get("description") or "", "state": "opened", "created_at": now, "updated_at": now,
            "merged_at": None, "closed_at": None, "source_branch": source, "target_branch": target,
            "source_project_id": project.id, "target_project_id": project.id, "author": double.user_json(self.user),
            "assignees": [], "reviewers": [], "labels": [], "draft": False, "work_in_progress": False,
            "merge_status": "can_be_merged", "detailed_merge_status": "mergeable",
            "web_url": f"{double.url}/{project.full_path}/-/merge_requests/{iid}",
            "references": {"short": f"!{iid}", "full": f"{project.full_path}!{iid}"},
        }
        project.merge_requests.append(request)
        self.write_json(self.refreshed(project, request), 201)

    def refreshed(self, project, request: dict) -> dict:
        return {**request, "sha": project.repo.branches().get(request["source_branch"])}


class MergeRequestHandler(MergeRequestsHandler):
    def get(self, ident, iid):
        project = self.project(ident)
        found = next((m for m in project.merge_requests if str(m["iid"]) == iid), None)
        if found is None:
            raise not_found("")
        self.write_json(self.refreshed(project, found))


P = rf"/api/v4/projects/{ID}"
default_handlers = [
    (r"/api/v4/version", VersionHandler),
    (r"/api/v4/user", CurrentUserHandler),
    (r"/api/v4/users", UsersHandler),
    (r"/api/v4/users/(\d+)", UserHandler),
    (r"/api/v4/groups", GroupsHandler),
    (rf"/api/v4/groups/{ID}", GroupHandler),
    (rf"/api/v4/groups/{ID}/subgroups", SubgroupsHandler),
    (rf"/api/v4/groups/{ID}/projects", GroupProjectsHandler),
    (rf"/api/v4/(groups|projects)/{ID}/members(/all)?", MembersHandler),
    (rf"/api/v4/(groups|projects)/{ID}/members(/all)?/(\d+)", MemberHandler),
    (r"/api/v4/projects", ProjectsHandler),
    (P, ProjectHandler),
    (rf"{P}/repository/branches", BranchesHandler),
    (rf"{P}/repository/branches/(.+)", BranchHandler),
    (rf"{P}/repository/commits", CommitsHandler),
    (rf"{P}/repository/commits/{ID}", CommitHandler),
    (rf"{P}/repository/tree", TreeHandler),
    (rf"{P}/repository/files/{ID}/raw", RawFileHandler),
    (rf"{P}/repository/files/{ID}", FileHandler),
    (rf"{P}/repository/archive(\.[a-z.]+)?", ArchiveHandler),
    (rf"{P}/repository/tags", TagsHandler),
    (rf"{P}/repository/tags/{ID}", TagHandler),
    (rf"{P}/pipelines", PipelinesHandler),
    (rf"{P}/pipelines/(\d+)", PipelineHandler),
    (rf"{P}/pipelines/(\d+)/cancel", PipelineCancelHandler),
    (rf"{P}/pipelines/(\d+)/jobs", PipelineJobsHandler),
    (rf"{P}/jobs", JobsHandler),
    (rf"{P}/jobs/(\d+)", JobHandler),
    (rf"{P}/jobs/(\d+)/trace", JobTraceHandler),
    (rf"{P}/registry/repositories", RegistryRepositoriesHandler),
    (rf"{P}/registry/repositories/(\d+)/tags", RegistryTagsHandler),
    (rf"{P}/registry/repositories/(\d+)/tags/{ID}", RegistryTagHandler),
    (rf"{P}/merge_requests", MergeRequestsHandler),
    (rf"{P}/merge_requests/(\d+)", MergeRequestHandler),
]

