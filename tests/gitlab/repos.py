"""Bare git repositories on disk for the GitLab double, driven through the `git` CLI.

Commits are written without a work tree (a temporary index, `commit-tree`, `update-ref`),
so a repository is exactly what GitLab would hold: branches, annotated or lightweight tags,
blobs and trees that `git archive` packs.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ZERO_SHA = "0" * 40


class GitError(Exception):
    """A git command refused; the message is git's own."""


@dataclass(frozen=True)
class Person:
    name: str
    email: str


class Repo:
    """One bare repository. Every method runs git and raises GitError when git refuses."""

    def __init__(self, path: Path):
        self.path = path

    def _git(self, *args: str, input: bytes | None = None, env: dict | None = None) -> bytes:
        result = subprocess.run(
            ["git", "--git-dir", str(self.path), *args],
            input=input, capture_output=True, env={**os.environ, **(env or {})}, timeout=60,
        )
        if result.returncode != 0:
            raise GitError(result.stderr.decode(errors="replace").strip())
        return result.stdout

    def init(self, branch: str) -> None:
        self.path.mkdir(parents=True)
        self._git("init", "--bare", "--quiet", f"--initial-branch={branch}")

    # reading

    def resolve(self, ref: str) -> str | None:
        """The commit sha a branch, tag or sha names, or None."""
        if not ref or ref.startswith("-"):
            return None
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
        except GitError:
            return None

    def branches(self) -> dict[str, str]:
        out = self._git("for-each-ref", "refs/heads", "--format=%(refname:lstrip=2)%00%(objectname)")
        return dict(line.split("\0") for line in out.decode().splitlines())

    def commit_info(self, sha: str) -> dict:
        fmt = "%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        fields = self._git("show", "-s", f"--format={fmt}", sha).decode().split("\0")
        message = fields[8].rstrip("\n") + "\n" if fields[8].strip() else ""
        return {
            "id": fields[0], "short_id": fields[0][:8], "parent_ids": fields[1].split(),
            "title": message.split("\n", 1)[0], "message": message,
            "author_name": fields[2], "author_email": fields[3], "authored_date": fields[4],
            "committer_name": fields[5], "committer_email": fields[6], "committed_date": fields[7],
            "created_at": fields[7],
        }

    def log(self, ref: str, since: str | None = None, until: str | None = None, path: str | None = None) -> list[str]:
        args = ["rev-list", ref]
        if since:
            args.append(f"--since={since}")
        if until:
            args.append(f"--until={until}")
        if path:
            args += ["--", path]
        return self._git(*args).decode().split()

    def tree(self, sha: str, path: str = "", recursive: bool = False) -> list[dict] | None:
        """Entries under `path` at `sha` (GitLab's tree shape), or None when `path` is no folder."""
        path = path.strip("/")
        target = f"{sha}:{path}" if path else f"{sha}^{{tree}}"
        try:
            out = self._git("ls-tree", "-z", *(["-r", "-t"] if recursive else []), target)
        except GitError:
            return None
        entries = []
        for line in out.decode().split("\0"):
            if not line:
                continue
            meta, name = line.split("\t", 1)
            mode, kind, oid = meta.split()
            full = f"{path}/{name}" if path else name
            entries.append({"id": oid, "name": full.rsplit("/", 1)[-1], "type": kind, "path": full, "mode": mode})
        return entries

    def blob(self, sha: str, path: str) -> tuple[str, bytes] | None:
        """(blob id, content) of the file at `path` in commit `sha`, or None."""
        try:
            oid = self._git("rev-parse", "--verify", "--quiet", f"{sha}:{path}").decode().strip()
            if self._git("cat-file", "-t", oid).decode().strip() != "blob":
                return None
            return oid, self._git("cat-file", "blob", oid)
        except GitError:
            return None

    def last_commit(self, sha: str, path: str) -> str:
        return self._git("rev-list", "-1", sha, "--", path).decode().strip()

    def archive(self, sha: str, fmt: str = "tar.gz", prefix: str = "") -> bytes:
        return self._git("archive", f"--format={fmt}", f"--prefix={prefix}", sha)

    def tags(self) -> list[dict]:
        """Tags, newest first: name, target (the tag object or commit), commit sha, message, created_at."""
        fields = ["refname:lstrip=2", "objecttype", "objectname", "*objectname", "creatordate:iso-strict", "contents"]
        fmt = "%00".join(f"%({name})" for name in fields) + "%01"
        out = self._git("for-each-ref", "refs/tags", "--sort=-creatordate", f"--format={fmt}")
        tags = []
        for record in out.decode().split("\1"):
            record = record.lstrip("\n")
            if not record:
                continue
            name, kind, oid, peeled, created, message = record.split("\0")
            annotated = kind == "tag"
            tags.append({
                "name": name, "target": oid, "commit": peeled if annotated else oid,
                "message": message.rstrip("\n") if annotated else "", "created_at": created if annotated else None,
            })
        return tags

    # writing

    def check_ref_name(self, kind: str, name: str) -> bool:
        try:
            self._git("check-ref-format", f"refs/{kind}/{name}")
            return True
        except GitError:
            return False

    def create_tag(self, name: str, sha: str, message: str | None, tagger: Person) -> None:
        if message:
            env = {"GIT_COMMITTER_NAME": tagger.name, "GIT_COMMITTER_EMAIL": tagger.email}
            self._git("tag", "-a", name, sha, "-F", "-", input=message.encode(), env=env)
        else:
            self._git("update-ref", f"refs/tags/{name}", sha, ZERO_SHA)

    def create_branch(self, name: str, sha: str) -> None:
        self._git("update-ref", f"refs/heads/{name}", sha, ZERO_SHA)

    def commit(self, branch: str, files: dict[str, bytes | None], message: str, author: Person,
               start: str | None = None) -> str:
        """Commit `files` (None deletes) on top of `start` (default: the branch) and move the branch.

        A branch that does not exist yet is created (from `start`, or as a root commit)."""
        old = self.resolve(f"refs/heads/{branch}")
        parent = self.resolve(start) if start else old
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                "GIT_INDEX_FILE": str(Path(tmp) / "index"),
                "GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
                "GIT_COMMITTER_NAME": author.name, "GIT_COMMITTER_EMAIL": author.email,
            }
            if parent:
                self._git("read-tree", parent, env=env)
            lines = []
            for path, content in files.items():
                if content is None:
                    lines.append(f"0 {ZERO_SHA}\t{path}")
                else:
                    oid = self._git("hash-object", "-w", "--stdin", input=content).decode().strip()
                    lines.append(f"100644 {oid}\t{path}")
            self._git("update-index", "--index-info", input="\n".join(lines).encode() + b"\n", env=env)
            tree = self._git("write-tree", env=env).decode().strip()
            parents = ["-p", parent] if parent else []
            sha = self._git("commit-tree", tree, *parents, "-F", "-", input=message.encode(), env=env).decode().strip()
        self._git("update-ref", f"refs/heads/{branch}", sha, old or ZERO_SHA)
        return sha
