"""Setting a project up for promotion: a merge request adding images/prod/ from this
repository (the Kaniko Containerfile, the CI snippet, the .dockerignore) and a
`.gitlab-ci.yml` that pins the team's dev image by digest and includes the snippet."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from .gitlab import SETUP_FILE

#: images/prod/ of this repository (the hub image copies it and names it in the variable).
TEMPLATE = Path(os.environ.get("AIPORTAL_PROD_TEMPLATE") or Path(__file__).resolve().parents[2] / "images" / "prod")
BRANCH = "aiportal/set-up-promotion"
SNIPPET = "images/prod/gitlab-ci.yml"
FILES = {SETUP_FILE: "Containerfile", SNIPPET: "gitlab-ci.yml", ".dockerignore": "dockerignore"}


def ci_file(existing: str | None, dev_image: str) -> str:
    """The project's .gitlab-ci.yml with the snippet included and the dev image pinned;
    an existing file keeps its jobs (re-written by YAML, so its comments are lost)."""
    if existing is None:
        return (f"# Promotion to production (aiportal): tags vX.Y.Z build the prod image with Kaniko.\n"
                f"variables:\n  AIPORTAL_DEV_IMAGE: \"{dev_image}\"\n"
                f"include:\n  - local: {SNIPPET}\n")
    data = yaml.safe_load(existing) or {}
    if not isinstance(data, dict):
        raise ValueError(".gitlab-ci.yml is not a mapping")
    includes = data.get("include") or []
    includes = [includes] if isinstance(includes, str | dict) else list(includes)
    if not any(SNIPPET in (i if isinstance(i, str) else str(i.get("local", ""))) for i in includes):
        includes.append({"local": SNIPPET})
    data["include"] = includes
    data["variables"] = {**(data.get("variables") or {}), "AIPORTAL_DEV_IMAGE": dev_image}
    return yaml.safe_dump(data, sort_keys=False)


def actions(present: dict[str, str | None], dev_image: str) -> list[dict]:
    """The commit's actions: `present` maps each path to its current text (None: absent)."""
    wanted = {path: (TEMPLATE / name).read_text() for path, name in FILES.items()}
    wanted[".gitlab-ci.yml"] = ci_file(present.get(".gitlab-ci.yml"), dev_image)
    return [{"action": "create" if present.get(path) is None else "update", "file_path": path, "content": text}
            for path, text in wanted.items() if present.get(path) != text]


def description(dev_image: str) -> str:
    return ("Adds what promotion to production needs (from aiportal's images/prod/):\n\n"
            "- `images/prod/Containerfile`: the prod image, `FROM` the team's dev image pinned by digest, "
            "the repository at `/code`;\n"
            "- `images/prod/gitlab-ci.yml`: on tags `vX.Y.Z`, Kaniko builds and pushes "
            "`$CI_REGISTRY_IMAGE:$CI_COMMIT_TAG`, then verify jobs hash `/code` and run `aiportal-reference.sh` "
            "in the dev and the prod image;\n"
            f"- `.gitlab-ci.yml`: includes it, with `AIPORTAL_DEV_IMAGE={dev_image}`;\n"
            "- `.dockerignore`: keeps `.git` out of `/code`.\n")


def _text(p, path: str, ref: str) -> str | None:
    from gitlab.exceptions import GitlabGetError

    try:
        return p.files.get(file_path=path, ref=ref).decode().decode("utf-8")
    except GitlabGetError as e:
        if e.response_code == 404:
            return None
        raise


def open_merge_request(p, dev_image: str) -> dict:
    """The open set-up merge request of the project, made now unless one is open already."""
    opened = p.mergerequests.list(state="opened", source_branch=BRANCH, get_all=False)
    if opened:
        return _mr(opened[0], created=False)
    base = p.default_branch
    present = {path: _text(p, path, base) for path in (*FILES, ".gitlab-ci.yml")}
    todo = actions(present, dev_image)
    if not todo:
        raise ValueError(f"{p.path_with_namespace} is already set up for promotion on {base}")
    p.commits.create({"branch": BRANCH, "start_branch": base, "actions": todo,
                      "commit_message": "Set up promotion to production (aiportal)"})
    mr = p.mergerequests.create({"source_branch": BRANCH, "target_branch": base,
                                 "title": "Set up promotion to production", "description": description(dev_image)})
    return _mr(mr, created=True)


def _mr(mr, created: bool) -> dict:
    return {"iid": mr.iid, "title": mr.title, "web_url": mr.web_url, "state": mr.state, "created": created}
