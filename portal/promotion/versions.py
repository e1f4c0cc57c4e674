"""Versions as the platform tags them: `vMAJOR.MINOR.PATCH`, the git tag and the image tag."""

from __future__ import annotations

import re

VERSION = re.compile(r"v(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})")


class VersionError(ValueError):
    """A version that cannot be promoted; the message says why."""


def parse(text) -> tuple[int, int, int] | None:
    match = VERSION.fullmatch(text) if isinstance(text, str) else None
    return tuple(map(int, match.groups())) if match else None


def check(version, existing: list[str]) -> str:
    """`version` if it is well formed and not already a tag, else VersionError."""
    if parse(version) is None:
        shown = repr(version)[:80]
        raise VersionError(f"version: {shown} is not vMAJOR.MINOR.PATCH (e.g. v1.4.0), as image tags are")
    if version in existing:
        raise VersionError(f"version: {version} already exists")
    return version


def suggest(tags: list[str]) -> str:
    """The next patch version after the highest `vX.Y.Z` tag; v0.1.0 for a project with none."""
    versions = sorted(filter(None, map(parse, tags)))
    if not versions:
        return "v0.1.0"
    major, minor, patch = versions[-1]
    return f"v{major}.{minor}.{patch + 1}"
