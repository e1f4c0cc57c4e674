"""Every operation of the portal API × every kind of caller, against a real portal.

The operations come from the live OpenAPI document; the expected status of every cell is
the literal table EXPECTED below, reviewed like data. An operation of the document without
a row, or a row for an operation the document lacks, fails the run: a new endpoint must
be classified here. Each cell sends a valid request (existing keys, started uploads, real
users), so its status reflects authorization, not validation; a refused cell must change
nothing, and what an allowed cell changes is restored before the next one.

Roles (users of SECURITY_CONFIG; the team is team-a unless the row says otherwise):
anonymous (no token), bad_token (an unknown token), other_team (carol, member of team-b
only), member (bob), team_admin (alice), operator (admin, a hub admin in no team),
reduced_operator (admin's token made through the hub API without custom:portal:admin).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncssh
import pytest
import requests

from tests.conftest import ARTIFACTS
from tests.security.conftest import HTTP_TIMEOUT, REPORT

ROLES = ("anonymous", "bad_token", "other_team", "member", "team_admin", "operator", "reduced_operator")

# fmt: off
#: Expected status of every (operation, role) cell. Keys are "METHOD /path" exactly as in
#: the OpenAPI document, plus a [variant] where one operation has several rules. Promotion
#: goes through a GitLab double (security_gitlab): team-a lets only admins promote, team-c
#: every member; [gitlab_group] points team-a at team-b's GitLab group. Uploads:
#: "own upload" is the caller's own where it can start one (the operator's for the reduced
#: token, bob's for the others); "a member's upload" is dave's, a member of team-a who plays
#: no role here. team-a lets only admins delete (or replace) objects; team-c every member.
#: Apps: jupyterlab (built in) runs in any team's dev profile; team-a-tool (tests/portal/apps)
#: is declared for team-a only. An app none of the caller's teams may use is a 404, also for
#: the reduced operator (a member of no team); the operator sees every app.
#: Sessions are the caller's own: launching team-a-tool is a 400 naming `app` for whoever
#: is in no team that may use it; bob's session is a 404 to everyone else, operators too.
#: SSH keys are the caller's own: "own key" is the caller's (bob's for those without a
#: token), "another user's key" dave's; another user's key is a 404 to everyone, operators too.
EXPECTED: dict[str, tuple[int, ...]] = {
    #                                                          anonym bad  other member t-adm oper reduced
    "GET /openapi.json":                                       (200, 200, 200, 200, 200, 200, 200),
    "GET /teams":                                              (401, 401, 200, 200, 200, 200, 200),
    "GET /teams/{team}":                                       (401, 401, 404, 200, 200, 200, 404),
    "PATCH /teams/{team} [display_name]":                      (401, 401, 404, 403, 200, 200, 404),
    "PATCH /teams/{team} [limits]":                            (401, 401, 404, 403, 403, 200, 404),
    "POST /teams":                                             (401, 401, 403, 403, 403, 201, 403),
    "DELETE /teams/{team}":                                    (401, 401, 404, 403, 403, 200, 404),
    "PUT /teams/{team}/members/{user}":                        (401, 401, 404, 403, 200, 200, 404),
    "PUT /teams/{team}/members/{user} [admin]":                (401, 401, 404, 403, 403, 200, 404),
    "DELETE /teams/{team}/members/{user}":                     (401, 401, 404, 403, 200, 200, 404),
    "GET /teams/{team}/datasets":                              (401, 401, 404, 200, 200, 200, 404),
    "DELETE /teams/{team}/datasets [delete_policy=admins]":    (401, 401, 404, 403, 200, 200, 404),
    "DELETE /teams/{team}/datasets [delete_policy=members]":   (401, 401, 404, 200, 200, 200, 404),
    "POST /teams/{team}/folders":                              (401, 401, 404, 201, 201, 201, 404),
    "GET /teams/{team}/uploads":                               (401, 401, 404, 200, 200, 200, 404),
    "POST /teams/{team}/uploads [new key]":                    (401, 401, 404, 201, 201, 201, 404),
    "POST /teams/{team}/uploads [existing key, delete_policy=admins]":
                                                               (401, 401, 404, 409, 201, 201, 404),
    "DELETE /teams/{team}/uploads/{upload_id} [own upload]":   (401, 401, 404, 200, 200, 200, 404),
    "DELETE /teams/{team}/uploads/{upload_id} [a member's upload]":
                                                               (401, 401, 404, 404, 200, 200, 404),
    "POST /teams/{team}/uploads/{upload_id}/complete [own upload]":
                                                               (401, 401, 404, 200, 200, 200, 404),
    "POST /teams/{team}/uploads/{upload_id}/complete [a member's upload]":
                                                               (401, 401, 404, 404, 404, 404, 404),
    "GET /teams/{team}/download":                              (401, 401, 404, 307, 307, 307, 404),
    "POST /teams/{team}/shares":                               (401, 401, 404, 201, 201, 201, 404),
    "GET /teams/{team}/shares":                                (401, 401, 404, 200, 200, 200, 404),
    "DELETE /teams/{team}/shares/{share_id} [own share]":      (401, 401, 404, 200, 200, 200, 404),
    "DELETE /teams/{team}/shares/{share_id} [a member's share]":
                                                               (401, 401, 404, 403, 200, 200, 404),
    "GET /teams/{team}/usage":                                 (401, 401, 404, 200, 200, 200, 404),
    "GET /teams/{team}/audit":                                 (401, 401, 404, 403, 200, 200, 404),
    "PATCH /teams/{team} [gitlab_group]":                      (401, 401, 404, 403, 403, 200, 404),
    "GET /teams/{team}/projects":                              (401, 401, 404, 200, 200, 200, 404),
    "GET /teams/{team}/projects/{project_id}":                 (401, 401, 404, 200, 200, 200, 404),
    "POST /teams/{team}/projects/{project_id}/setup":          (401, 401, 404, 403, 201, 201, 404),
    "GET /teams/{team}/promotions":                            (401, 401, 404, 200, 200, 200, 404),
    "POST /teams/{team}/promotions [promoters=admins]":        (401, 401, 404, 403, 202, 202, 404),
    "POST /teams/{team}/promotions [promoters=members]":       (401, 401, 404, 202, 202, 202, 404),
    "GET /teams/{team}/promotions/{promotion_id}":             (401, 401, 404, 200, 200, 200, 404),
    "GET /usage":                                              (401, 401, 403, 403, 403, 200, 403),
    "GET /apps":                                               (401, 401, 200, 200, 200, 200, 200),
    "GET /apps/{app_id} [every team]":                         (401, 401, 200, 200, 200, 200, 404),
    "GET /apps/{app_id} [team-a only]":                        (401, 401, 404, 200, 200, 200, 404),
    "GET /apps/{app_id}/icon":                                 (401, 401, 404, 200, 200, 200, 404),
    "GET /sessions":                                           (401, 401, 200, 200, 200, 200, 200),
    "POST /sessions [team-a only app]":                        (401, 401, 400, 202, 202, 400, 400),
    "GET /sessions/{name}":                                    (401, 401, 404, 200, 404, 404, 404),
    "DELETE /sessions/{name}":                                 (401, 401, 404, 204, 404, 404, 404),
    "POST /sessions/{name}/relaunch":                          (401, 401, 404, 202, 404, 404, 404),
    "GET /sessions/{name}/progress":                           (401, 401, 404, 200, 404, 404, 404),
    "GET /ssh-keys":                                           (401, 401, 200, 200, 200, 200, 200),
    "POST /ssh-keys":                                          (401, 401, 201, 201, 201, 201, 201),
    "DELETE /ssh-keys/{key_id} [own key]":                     (401, 401, 204, 204, 204, 204, 204),
    "DELETE /ssh-keys/{key_id} [another user's key]":          (401, 401, 404, 404, 404, 404, 404),
    "GET /teams/{team}/jobs":                                  (401, 401, 404, 200, 200, 200, 404),
    "POST /teams/{team}/jobs":                                 (401, 401, 404, 201, 201, 201, 404),
    "GET /teams/{team}/jobs/commands":                         (401, 401, 404, 200, 200, 200, 404),
    "GET /teams/{team}/jobs/{job_id}":                         (401, 401, 404, 200, 200, 200, 404),
    "GET /teams/{team}/jobs/{job_id}/logs":                    (401, 401, 404, 200, 200, 200, 404),
    "DELETE /teams/{team}/jobs/{job_id}":                      (401, 401, 404, 202, 202, 202, 404),
}
#: What GET /teams lists for each role (the operator: every team).
LISTED = {"other_team": ["team-b"], "member": ["team-a", "team-c"], "team_admin": ["team-a", "team-c"],
          "operator": ["team-a", "team-b", "team-c", "team-x"], "reduced_operator": []}
# fmt: on

USERS = {"other_team": "carol", "member": "bob", "team_admin": "alice", "operator": "admin",
         "reduced_operator": "admin"}
METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


def operation(key: str) -> str:
    """The document operation of a table key ("PATCH /teams/{team} [limits]" → "PATCH /teams/{team}")."""
    return key.split(" [", 1)[0]


def documented_operations(doc: dict) -> set[str]:
    return {f"{method.upper()} {path}" for path, item in doc["paths"].items() for method in item if method in METHODS}


def unclassified(doc: dict, table) -> tuple[list[str], list[str]]:
    """(operations of the document without a row, rows whose operation the document lacks)."""
    documented = documented_operations(doc)
    covered = {operation(key) for key in table}
    return sorted(documented - covered), sorted(key for key in table if operation(key) not in documented)


# --- one cell ---------------------------------------------------------------------------


@dataclass
class Cell:
    """One (operation, role) request: its set-up, the request, and the restore afterwards."""

    site: object
    key: str
    role: str
    n: int
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    response: requests.Response | None = None  # the cell's answer, for the restores
    made_team: str | None = None  # a team the cell's set-up created (DELETE /teams/{team})

    @property
    def team(self) -> str:
        if self.made_team:
            return self.made_team
        return "team-c" if self.key.endswith(("[delete_policy=members]", "[promoters=members]")) else "team-a"

    @property
    def prefix(self) -> str:
        return f"matrix/{self.n}/"

    @property
    def token(self) -> str | None:
        if self.role == "anonymous":
            return None
        if self.role == "bad_token":
            return secrets.token_hex(16)
        if self.role == "reduced_operator":
            return self.site.reduced_operator_token
        return self.site.token(USERS[self.role])

    @property
    def owner(self) -> str:
        """Whose upload the cell's request names: dave's for "[a member's upload]"; else the
        caller's own where it can start one, the operator's (same user) for the reduced
        token, a member's for everyone else."""
        if self.key.endswith("[a member's upload]"):
            return "dave"
        if self.role in ("member", "team_admin", "operator"):
            return USERS[self.role]
        return "admin" if self.role == "reduced_operator" else "bob"

    def as_operator(self, method: str, path: str, expect: int, **kwargs) -> requests.Response:
        r = self.site.call(method, f"{self.site.api}{path}", self.site.token("admin"), **kwargs)
        assert r.status_code == expect, f"{self.key} [{self.role}] set-up/restore {method} {path}: {r.text}"
        return r

    def start_upload(self, user: str, key: str, send_part: bool = False) -> str:
        token = self.site.token(user)
        r = self.site.call("POST", f"{self.site.api}/teams/{self.team}/uploads", token, json={"key": key, "size": 3})
        assert r.status_code == 201, r.text
        upload = r.json()
        if send_part:
            assert requests.put(upload["parts"][0]["url"], data=b"abc", timeout=HTTP_TIMEOUT).status_code == 200

        def abort():
            r = self.site.call("DELETE", f"{self.site.api}/teams/{self.team}/uploads/{upload['id']}", token)
            if r.status_code not in (200, 404):
                self.problems.append(f"aborting the upload afterwards: {r.status_code} {r.text[:200]}")

        self.cleanups.append(abort)
        return upload["id"]

    def state(self):
        """What a refused request must leave as it was: the team and the cell's objects."""
        team = self.as_operator("GET", f"/teams/{self.team}", 200).json()
        listing = self.as_operator("GET", f"/teams/{self.team}/datasets", 200, params={"prefix": self.prefix}).json()
        return team, [(i["key"], i["size"]) for i in listing["items"]]


Request = tuple[str, str, dict]  # method, path under /api/v1, keyword arguments of requests
BUILDERS: dict[str, Callable[[Cell], Request]] = {}


def builds(key: str):
    def register(fn):
        BUILDERS[key] = fn
        return fn

    return register


@builds("GET /openapi.json")
def _(cell):
    return "GET", "/openapi.json", {}


@builds("GET /teams")
def _(cell):
    return "GET", "/teams", {}


@builds("GET /teams/{team}")
def _(cell):
    return "GET", f"/teams/{cell.team}", {}


@builds("PATCH /teams/{team} [display_name]")
def _(cell):
    before = cell.as_operator("GET", f"/teams/{cell.team}", 200).json()["display_name"]
    cell.cleanups.append(lambda: cell.as_operator("PATCH", f"/teams/{cell.team}", 200, json={"display_name": before}))
    return "PATCH", f"/teams/{cell.team}", {"json": {"display_name": f"Renamed in cell {cell.n}"}}


@builds("PATCH /teams/{team} [limits]")
def _(cell):
    gpus = cell.as_operator("GET", f"/teams/{cell.team}", 200).json()["quota"]["gpus"]
    cell.cleanups.append(lambda: cell.as_operator("PATCH", f"/teams/{cell.team}", 200, json={"quota": {"gpus": gpus}}))
    return "PATCH", f"/teams/{cell.team}", {"json": {"quota": {"gpus": gpus + 2}}}


@builds("PUT /teams/{team}/members/{user}")
def _(cell):
    def restore():  # erin (team-b) is added by the allowed cells
        if "erin" in cell.as_operator("GET", f"/teams/{cell.team}", 200).json()["members"]:
            cell.as_operator("DELETE", f"/teams/{cell.team}/members/erin", 200)

    cell.cleanups.append(restore)
    return "PUT", f"/teams/{cell.team}/members/erin", {}


@builds("PUT /teams/{team}/members/{user} [admin]")
def _(cell):
    def restore():  # dave (a plain member of team-a) is made an admin by the allowed cells
        if "dave" in cell.as_operator("GET", f"/teams/{cell.team}", 200).json()["admins"]:
            cell.as_operator("PUT", f"/teams/{cell.team}/members/dave", 200, json={"admin": False})

    cell.cleanups.append(restore)
    return "PUT", f"/teams/{cell.team}/members/dave", {"json": {"admin": True}}


def _remove_team(cell, name: str):
    r = cell.site.call("DELETE", f"{cell.site.api}/teams/{name}", cell.site.token("admin"),
                       params={"delete_data": "true"})
    if r.status_code not in (200, 404):
        cell.problems.append(f"deleting team {name} afterwards: {r.status_code} {r.text[:200]}")


@builds("POST /teams")
def _(cell):
    name = f"matrix-new-{cell.n}"
    cell.cleanups.append(lambda: _remove_team(cell, name))
    return "POST", "/teams", {"json": {"name": name, "display_name": "Made by a cell", "quota": {"gpus": 1}}}


@builds("DELETE /teams/{team}")
def _(cell):
    """A team of its own (alice its admin, bob a member), so that an allowed cell deletes
    nothing another cell uses."""
    name = f"matrix-del-{cell.n}"
    cell.as_operator("POST", "/teams", 201, json={"name": name, "admins": ["alice"]})
    cell.made_team = name
    cell.cleanups.append(lambda: _remove_team(cell, name))
    cell.as_operator("PUT", f"/teams/{name}/members/bob", 200)
    return "DELETE", f"/teams/{name}", {}


@builds("DELETE /teams/{team}/members/{user}")
def _(cell):
    def restore():  # dave (team-a) is removed by the allowed cells
        if "dave" not in cell.as_operator("GET", f"/teams/{cell.team}", 200).json()["members"]:
            cell.as_operator("PUT", f"/teams/{cell.team}/members/dave", 200)

    cell.cleanups.append(restore)
    return "DELETE", f"/teams/{cell.team}/members/dave", {}


@builds("GET /teams/{team}/datasets")
def _(cell):
    cell.site.put_object(cell.team, cell.prefix + "listed.txt")
    return "GET", f"/teams/{cell.team}/datasets", {"params": {"prefix": cell.prefix}}


def _delete_object(cell):
    key = cell.prefix + "doomed.txt"
    cell.site.put_object(cell.team, key)
    return "DELETE", f"/teams/{cell.team}/datasets", {"params": {"key": key}}


builds("DELETE /teams/{team}/datasets [delete_policy=admins]")(_delete_object)
builds("DELETE /teams/{team}/datasets [delete_policy=members]")(_delete_object)


@builds("POST /teams/{team}/folders")
def _(cell):
    return "POST", f"/teams/{cell.team}/folders", {"json": {"key": cell.prefix + "folder/"}}


@builds("GET /teams/{team}/uploads")
def _(cell):
    cell.start_upload(cell.owner, cell.prefix + "unfinished.bin")
    return "GET", f"/teams/{cell.team}/uploads", {}


def _start_upload(cell, key):
    token = cell.token

    def abort_started():
        upload = cell.response
        if upload is not None and upload.status_code == 201:
            cell.site.call("DELETE", f"{cell.site.api}/teams/{cell.team}/uploads/{upload.json()['id']}", token)

    cell.cleanups.append(abort_started)
    return "POST", f"/teams/{cell.team}/uploads", {"json": {"key": key, "size": 3}}


@builds("POST /teams/{team}/uploads [new key]")
def _(cell):
    return _start_upload(cell, cell.prefix + "new.bin")


@builds("POST /teams/{team}/uploads [existing key, delete_policy=admins]")
def _(cell):
    cell.site.put_object(cell.team, cell.prefix + "existing.bin")
    return _start_upload(cell, cell.prefix + "existing.bin")


def _abort_upload(cell):
    upload_id = cell.start_upload(cell.owner, cell.prefix + "aborted.bin")
    return "DELETE", f"/teams/{cell.team}/uploads/{upload_id}", {}


def _complete_upload(cell):
    upload_id = cell.start_upload(cell.owner, cell.prefix + "completed.bin", send_part=True)
    return "POST", f"/teams/{cell.team}/uploads/{upload_id}/complete", {}


builds("DELETE /teams/{team}/uploads/{upload_id} [own upload]")(_abort_upload)
builds("DELETE /teams/{team}/uploads/{upload_id} [a member's upload]")(_abort_upload)
builds("POST /teams/{team}/uploads/{upload_id}/complete [own upload]")(_complete_upload)
builds("POST /teams/{team}/uploads/{upload_id}/complete [a member's upload]")(_complete_upload)


@builds("GET /teams/{team}/download")
def _(cell):
    cell.site.put_object(cell.team, cell.prefix + "download.txt")
    return "GET", f"/teams/{cell.team}/download", {"params": {"key": cell.prefix + "download.txt"}}


@builds("POST /teams/{team}/shares")
def _(cell):
    cell.site.put_object(cell.team, cell.prefix + "shared.txt")
    return "POST", f"/teams/{cell.team}/shares", {"json": {"key": cell.prefix + "shared.txt", "expires_in": 60}}


def _share(cell, user: str, revoked: bool = True) -> str:
    """A share link made by ``user``; with ``revoked``, the cell's request revokes it if
    allowed, and a refused one must have left it active."""
    cell.site.put_object(cell.team, cell.prefix + "shared.txt")
    r = cell.site.call("POST", f"{cell.site.api}/teams/{cell.team}/shares", cell.site.token(user),
                       json={"key": cell.prefix + "shared.txt", "expires_in": 600})
    assert r.status_code == 201, r.text
    share_id = r.json()["id"]

    def check():
        active = cell.as_operator("GET", f"/teams/{cell.team}/shares", 200, params={"limit": 1000}).json()["items"]
        if (cell.response.status_code == 200) == (share_id in [s["id"] for s in active]):
            cell.problems.append(f"answered {cell.response.status_code}, yet the link is "
                                 f"{'still' if cell.response.status_code == 200 else 'no longer'} active")

    if revoked:
        cell.cleanups.append(check)
    return share_id


@builds("GET /teams/{team}/shares")
def _(cell):
    _share(cell, "bob", revoked=False)
    return "GET", f"/teams/{cell.team}/shares", {}


@builds("DELETE /teams/{team}/shares/{share_id} [own share]")
def _(cell):
    return "DELETE", f"/teams/{cell.team}/shares/{_share(cell, cell.owner)}", {}


@builds("DELETE /teams/{team}/shares/{share_id} [a member's share]")
def _(cell):
    return "DELETE", f"/teams/{cell.team}/shares/{_share(cell, 'dave')}", {}


@builds("GET /teams/{team}/usage")
def _(cell):
    return "GET", f"/teams/{cell.team}/usage", {}


@builds("GET /teams/{team}/audit")
def _(cell):
    return "GET", f"/teams/{cell.team}/audit", {}


@builds("PATCH /teams/{team} [gitlab_group]")
def _(cell):
    before = cell.as_operator("GET", f"/teams/{cell.team}", 200).json()["gitlab_group"]
    cell.cleanups.append(lambda: cell.as_operator("PATCH", f"/teams/{cell.team}", 200, json={"gitlab_group": before}))
    return "PATCH", f"/teams/{cell.team}", {"json": {"gitlab_group": "cardiology"}}


def _project(cell) -> int:
    return cell.site.gitlab.matrix_projects[cell.team]["id"]


@builds("GET /teams/{team}/projects")
def _(cell):
    return "GET", f"/teams/{cell.team}/projects", {}


@builds("GET /teams/{team}/projects/{project_id}")
def _(cell):
    return "GET", f"/teams/{cell.team}/projects/{_project(cell)}", {}


@builds("POST /teams/{team}/projects/{project_id}/setup")
def _(cell):
    """A project of its own, not set up yet: an allowed cell opens its merge request."""
    project = cell.site.gitlab.add_project("radiology", f"setup-{cell.n}", files={"README.md": b"# new\n"})
    return "POST", f"/teams/{cell.team}/projects/{project['id']}/setup", {}


@builds("GET /teams/{team}/promotions")
def _(cell):
    return "GET", f"/teams/{cell.team}/promotions", {}


def _promote(cell):
    """A version of its own (the cell's number), so each allowed cell makes one new tag."""
    commit = cell.as_operator("GET", f"/teams/{cell.team}/projects/{_project(cell)}", 200).json()["commits"][0]
    return "POST", f"/teams/{cell.team}/promotions", {
        "json": {"project_id": _project(cell), "commit": commit["sha"], "version": f"v{cell.n}.0.0"}}


builds("POST /teams/{team}/promotions [promoters=admins]")(_promote)
builds("POST /teams/{team}/promotions [promoters=members]")(_promote)


@builds("GET /teams/{team}/promotions/{promotion_id}")
def _(cell):
    method, path, kwargs = _promote(cell)
    made = cell.as_operator(method, path, 202, **kwargs).json()
    return "GET", f"/teams/{cell.team}/promotions/{made['id']}", {}


@builds("GET /usage")
def _(cell):
    return "GET", "/usage", {"params": {"range": "24h"}}


@builds("GET /apps")
def _(cell):
    return "GET", "/apps", {}


@builds("GET /apps/{app_id} [every team]")
def _(cell):
    return "GET", "/apps/jupyterlab", {}


@builds("GET /apps/{app_id} [team-a only]")
def _(cell):
    return "GET", "/apps/team-a-tool", {}


@builds("GET /apps/{app_id}/icon")
def _(cell):
    return "GET", "/apps/team-a-tool/icon", {}


@builds("GET /sessions")
def _(cell):
    return "GET", "/sessions", {}


def _stopped(cell, user: str, name: str) -> int:
    """Stop the session if it runs and wait until it completed; → its GET status (404: gone)."""
    token, url = cell.site.token(user), f"{cell.site.api}/sessions/{name}"
    deadline = time.monotonic() + 120
    while (r := cell.site.call("GET", url, token)).status_code == 200 and r.json()["state"] != "completed":
        if r.json()["state"] in ("starting", "running"):
            cell.site.call("DELETE", url, token)
        assert time.monotonic() < deadline, f"{cell.key}: session {name} did not stop: {r.text}"
        time.sleep(0.5)
    return r.status_code


@builds("POST /sessions [team-a only app]")
def _(cell):
    def restore():
        if cell.response is not None and cell.response.status_code == 202:
            user, name = USERS[cell.role], cell.response.json()["name"]
            if _stopped(cell, user, name) == 200:
                url = f"{cell.site.api}/sessions/{name}"
                assert cell.site.call("DELETE", url, cell.site.token(user)).status_code == 204

    cell.cleanups.append(restore)
    return "POST", "/sessions", {"json": {"app": "team-a-tool", "hours": 1}}


def _bobs_session(cell) -> str:
    """bob's completed session, made once per portal (launched, then stopped) and shared by
    the session rows: only bob's own cells change it (DELETE removes it, and it is made
    again for the next row; a relaunch starts it, and the restore stops it again)."""
    site, token = cell.site, cell.site.token("bob")
    name = getattr(site, "bobs_session", None)
    if name is None or site.call("GET", f"{site.api}/sessions/{name}", token).status_code == 404:
        r = site.call("POST", f"{site.api}/sessions", token, json={"app": "team-a-tool"})
        assert r.status_code == 202, r.text
        name = site.bobs_session = r.json()["name"]
        assert _stopped(cell, "bob", name) == 200
    cell.cleanups.append(lambda: _stopped(cell, "bob", name))
    return name


@builds("GET /sessions/{name}")
def _(cell):
    return "GET", f"/sessions/{_bobs_session(cell)}", {}


@builds("DELETE /sessions/{name}")
def _(cell):
    return "DELETE", f"/sessions/{_bobs_session(cell)}", {}


@builds("POST /sessions/{name}/relaunch")
def _(cell):
    return "POST", f"/sessions/{_bobs_session(cell)}/relaunch", {}


@builds("GET /sessions/{name}/progress")
def _(cell):
    return "GET", f"/sessions/{_bobs_session(cell)}/progress", {}


@builds("GET /teams/{team}/jobs")
def _(cell):
    return "GET", f"/teams/{cell.team}/jobs", {}


@builds("POST /teams/{team}/jobs")
def _(cell):
    return "POST", f"/teams/{cell.team}/jobs", {"json": {"profile": "cpu", "command": "true", "name": f"cell {cell.n}"}}


def _job(cell, command: str = "true") -> int:
    """A job of the team made by the operator for the cell; cancelled afterwards if it still runs."""
    job = cell.as_operator("POST", f"/teams/{cell.team}/jobs", 201, json={"profile": "cpu", "command": command}).json()
    path = f"/teams/{cell.team}/jobs/{job['id']}"
    cell.cleanups.append(lambda: cell.site.call("DELETE", f"{cell.site.api}{path}", cell.site.token("admin")))
    return job["id"]


def _released_version(cell) -> str:
    """PROJECT:vX.Y.Z of a successful promotion of the team's matrix project (its tag made in the
    GitLab double, the record as the follower leaves one), made once per portal."""
    site = cell.site
    version = getattr(site, "released_version", None)
    if version is None:
        from portal.db import Database
        from portal.promotion.records import Promotions

        project = site.gitlab.matrix_projects[cell.team]
        tag = site.gitlab.create_tag(site.gitlab.projects[project["path_with_namespace"]], "v0.1.0",
                                     project["default_branch"], "released for the matrix", "platform")
        promotions = Promotions(Database(site.portal.data.portal_db_url(site.portal.config.database_url)))
        made = promotions.create(team=cell.team, project_id=project["id"], project_path=project["path_with_namespace"],
                                 commit_sha=tag["commit"], version="v0.1.0", release_notes="",
                                 created_by="alice", base_image=None)
        promotions.update(made["id"], status="success", image=f"127.0.0.1:5055/{project['path_with_namespace']}:v0.1.0",
                          digest="sha256:" + "c" * 64)
        version = site.released_version = f"{project['path_with_namespace']}:v0.1.0"
    return version


@builds("GET /teams/{team}/jobs/commands")
def _(cell):
    return "GET", f"/teams/{cell.team}/jobs/commands", {"params": {"version": _released_version(cell)}}


@builds("GET /teams/{team}/jobs/{job_id}")
def _(cell):
    return "GET", f"/teams/{cell.team}/jobs/{_job(cell)}", {}


@builds("GET /teams/{team}/jobs/{job_id}/logs")
def _(cell):
    return "GET", f"/teams/{cell.team}/jobs/{_job(cell)}/logs", {}


@builds("DELETE /teams/{team}/jobs/{job_id}")
def _(cell):
    return "DELETE", f"/teams/{cell.team}/jobs/{_job(cell, 'sleep 60')}", {}


def _new_ssh_key() -> str:
    return asyncssh.generate_private_key("ssh-ed25519", comment="matrix").export_public_key().decode()


def _ssh_key_of(cell, user: str) -> int:
    """A fresh key registered by `user`, removed after the cell (if the cell did not)."""
    token, url = cell.site.token(user), f"{cell.site.api}/ssh-keys"
    r = cell.site.call("POST", url, token, json={"key": _new_ssh_key()})
    assert r.status_code == 201, r.text
    key_id = r.json()["id"]

    def remove():
        r = cell.site.call("DELETE", f"{url}/{key_id}", token)
        if r.status_code not in (204, 404):
            cell.problems.append(f"removing the key afterwards: {r.status_code} {r.text[:200]}")

    cell.cleanups.append(remove)
    return key_id


@builds("GET /ssh-keys")
def _(cell):
    return "GET", "/ssh-keys", {}


@builds("POST /ssh-keys")
def _(cell):
    def restore():
        if cell.response is not None and cell.response.status_code == 201:
            r = cell.site.call("DELETE", f"{cell.site.api}/ssh-keys/{cell.response.json()['id']}", cell.token)
            if r.status_code != 204:
                cell.problems.append(f"removing the new key afterwards: {r.status_code} {r.text[:200]}")

    cell.cleanups.append(restore)
    return "POST", "/ssh-keys", {"json": {"key": _new_ssh_key()}}


@builds("DELETE /ssh-keys/{key_id} [own key]")
def _(cell):
    return "DELETE", f"/ssh-keys/{_ssh_key_of(cell, USERS.get(cell.role, 'bob'))}", {}


@builds("DELETE /ssh-keys/{key_id} [another user's key]")
def _(cell):
    key_id = _ssh_key_of(cell, "dave")

    def still_there():  # before the removal (cleanups run last first)
        listed = cell.site.call("GET", f"{cell.site.api}/ssh-keys", cell.site.token("dave")).json()["items"]
        if key_id not in [k["id"] for k in listed]:
            cell.problems.append("refused, yet dave's key is gone")

    cell.cleanups.append(still_there)
    return "DELETE", f"/ssh-keys/{key_id}", {}


def run_cell(site, key: str, role: str, n: int) -> tuple[int, list[str]]:
    """The status the cell answered, and what else was wrong with it."""
    cell = Cell(site, key, role, n)
    try:
        method, path, kwargs = BUILDERS[key](cell)
        before = cell.state() if method != "GET" else None
        r = site.call(method, f"{site.api}{path}", cell.token, **kwargs)
        cell.response = r
        if r.status_code >= 400:
            body = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else None
            if not (isinstance(body, dict) and body.get("message") and body.get("status") == r.status_code):
                cell.problems.append(f"error answer is not JSON with a message: {r.text[:200]!r}")
            if r.status_code == 401 and "WWW-Authenticate" not in r.headers:
                cell.problems.append("401 without a WWW-Authenticate challenge")
            if before is not None and cell.state() != before:
                cell.problems.append("refused, yet the team or its objects changed")
        return r.status_code, cell.problems
    finally:
        for cleanup in reversed(cell.cleanups):
            cleanup()


def mismatches(results: dict[tuple[str, str], tuple[int, list[str]]], table) -> list[str]:
    """Every cell whose status differs from the table, or that had another problem."""
    out = []
    for (key, role), (status, problems) in results.items():
        expected = table[key][ROLES.index(role)]
        if status != expected:
            out.append(f"{key} as {role}: expected {expected}, got {status}")
        out += [f"{key} as {role}: {p}" for p in problems]
    return out


# --- tests ------------------------------------------------------------------------------


def test_table_rows_are_well_formed():
    assert set(BUILDERS) == set(EXPECTED)
    assert all(len(row) == len(ROLES) for row in EXPECTED.values())


def test_every_documented_operation_has_a_row(security_portal):
    doc = security_portal.call("GET", f"{security_portal.api}/openapi.json").json()
    missing, extra = unclassified(doc, EXPECTED)
    assert missing == [], f"operations of the OpenAPI document with no row in EXPECTED: {missing}"
    assert extra == [], f"rows of EXPECTED for operations the OpenAPI document lacks: {extra}"


def test_unclassified_operations_are_noticed():
    """The row check above fails for a new endpoint, and for a row of a removed one."""
    doc = {"paths": {"/teams": {"get": {}, "parameters": []}, "/teams/{team}/new": {"post": {}}}}
    table = {"GET /teams": (), "PATCH /teams/{team} [limits]": ()}
    assert unclassified(doc, table) == (["POST /teams/{team}/new"], ["PATCH /teams/{team} [limits]"])


@pytest.mark.timeout(900)
def test_authz_matrix(security_portal, request):
    doc = security_portal.call("GET", f"{security_portal.api}/openapi.json").json()
    missing, _ = unclassified(doc, EXPECTED)
    documented = documented_operations(doc)
    results = {}
    for key in EXPECTED:
        if operation(key) not in documented:
            continue  # reported by test_every_documented_operation_has_a_row
        for role in ROLES:
            results[key, role] = run_cell(security_portal, key, role, len(results))
    if getattr(security_portal, "bobs_session", None):  # the session rows' shared session, removed
        security_portal.call("DELETE", f"{security_portal.api}/sessions/{security_portal.bobs_session}",
                             security_portal.token("bob"))
    lines = [f"{key:68} {role:17} expected {EXPECTED[key][ROLES.index(role)]} got {status}"
             + (f"  ({'; '.join(problems)})" if problems else "")
             for (key, role), (status, problems) in results.items()]
    summary = f"authz matrix: {len(results)} cells ({len(results) // len(ROLES)} rows × {len(ROLES)} roles)"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "authz-matrix.txt").write_text(summary + "\n" + "\n".join(lines) + "\n")
    request.config.stash.setdefault(REPORT, []).append(summary)
    print(summary)
    assert missing == [], f"operations with no row: {missing}"
    wrong = mismatches(results, EXPECTED)
    assert not wrong, f"{len(wrong)} cells differ from EXPECTED:\n" + "\n".join(wrong)


def test_a_wrong_cell_is_noticed(security_portal):
    """A cell answering other than the table says is reported, as is a problem beside it."""
    key, role = "GET /teams/{team}", "other_team"
    status, problems = run_cell(security_portal, key, role, 10_000)
    assert (status, problems) == (404, [])
    wrong = {key: tuple(200 if r == role else s for r, s in zip(ROLES, EXPECTED[key], strict=True))}
    assert mismatches({(key, role): (status, problems)}, wrong) == [f"{key} as {role}: expected 200, got 404"]
    assert mismatches({(key, role): (404, ["401 without a WWW-Authenticate challenge"])}, EXPECTED) == [
        f"{key} as {role}: 401 without a WWW-Authenticate challenge"]


@pytest.mark.parametrize("role", LISTED)
def test_get_teams_lists_only_readable_teams(security_portal, role):
    cell = Cell(security_portal, "GET /teams", role, 0)
    r = security_portal.call("GET", f"{security_portal.api}/teams", cell.token)
    assert r.status_code == 200, r.text
    assert [t["name"] for t in r.json()["items"]] == LISTED[role]


@pytest.mark.parametrize("role,sees", [("member", {"bob"}), ("team_admin", {"bob", "dave"}),
                                       ("operator", {"bob", "dave"})])
def test_upload_listing_shows_own_or_every_members_uploads(security_portal, role, sees):
    """GET …/uploads: a member sees their own unfinished uploads, team admins and operators
    every member's."""
    cell = Cell(security_portal, "GET /teams/{team}/uploads", role, 20_000 + len(role))
    try:
        for user in ("bob", "dave"):
            cell.start_upload(user, f"{cell.prefix}{user}.bin")
        r = security_portal.call("GET", f"{security_portal.api}/teams/team-a/uploads", cell.token,
                                 params={"limit": 1000})
        assert r.status_code == 200, r.text
        listed = {i["user"] for i in r.json()["items"] if i["key"].startswith(cell.prefix)}
        assert listed == sees
    finally:
        for cleanup in cell.cleanups:
            cleanup()
    assert cell.problems == []


def test_undocumented_methods_answer_405_with_allow(security_portal):
    """Every path of the document answers its other methods with 405 naming the documented ones."""
    doc = security_portal.call("GET", f"{security_portal.api}/openapi.json").json()
    values = {"team": "team-a", "user": "bob", "upload_id": "0", "share_id": "0", "project_id": "1",
              "promotion_id": "1", "app_id": "jupyterlab", "name": "jupyterlab-0000", "job_id": "1", "key_id": "0"}
    wrong = []
    for path, item in doc["paths"].items():
        documented = {m.upper() for m in item if m in METHODS}
        for method in {"GET", "PUT", "POST", "PATCH", "DELETE"} - documented:
            url = security_portal.api + path.format(**values)
            r = security_portal.call(method, url, security_portal.token("admin"))
            allow = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
            if r.status_code != 405 or allow != documented:
                wrong.append(f"{method} {path}: {r.status_code}, Allow {sorted(allow)} vs {sorted(documented)}")
    assert not wrong, "\n".join(wrong)
