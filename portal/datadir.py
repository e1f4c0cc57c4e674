"""The data directory: where a single-machine portal keeps its state and its secrets.

Secrets are generated once and written with mode 0600, so a restart reuses them and
other local users cannot read them.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


class DataDir:
    """Paths inside one data directory; creating it is idempotent."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def ensure(self) -> DataDir:
        for sub in ("", "secrets", "homes", "s3", "logs"):
            (self.root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        return self

    @property
    def config(self) -> Path:
        return self.root / "portal.yaml"

    @property
    def hub_db(self) -> Path:
        return self.root / "jupyterhub.sqlite"

    @property
    def portal_db(self) -> Path:
        return self.root / "portal.sqlite"

    def hub_db_url(self, configured: str | None) -> str:
        """``hub.db_url``, or the hub's SQLite file here (the hub and `aiportal token` open the same)."""
        return configured or f"sqlite:///{self.hub_db}"

    def portal_db_url(self, configured: str | None) -> str:
        """``database.url``, or the portal's SQLite file here."""
        return configured or f"sqlite:///{self.portal_db}"

    @property
    def proxy_pid(self) -> Path:
        """Where the hub records its proxy's pid (the proxy outlives a hub that crashes)."""
        return self.root / "proxy.pid"

    @property
    def s3(self) -> Path:
        return self.root / "s3"

    @property
    def homes(self) -> Path:
        return self.root / "homes"

    def home(self, username: str) -> Path:
        return self.homes / username

    @property
    def instance_id(self) -> str:
        """A short id of this portal, made once: it names and labels the portal's containers."""
        path = self.root / "instance-id"
        if not path.exists():
            path.write_text(secrets.token_hex(4) + "\n")
        return path.read_text().strip()

    def secret(self, name: str, nbytes: int = 32) -> str:
        """A named random secret, generated on first use and kept in secrets/<name>."""
        path = self.root / "secrets" / name
        if path.exists():
            return path.read_text().strip()
        value = secrets.token_urlsafe(nbytes)
        _write_private(path, value + "\n")
        return value

    def admin_password(self, username: str) -> str:
        """The first admin's initial password (shown by `aiportal up`)."""
        return self.secret(f"password-{username}", 15)

    def write_private(self, relative: str, text: str) -> Path:
        """A file of this directory written with mode 0600 (a key made once, e.g. the SSH host key)."""
        path = self.root / relative
        _write_private(path, text)
        return path

    def write_json_private(self, name: str, data: dict) -> Path:
        path = self.root / "secrets" / name
        _write_private(path, json.dumps(data, indent=2))
        return path


def _write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600 (never a moment where the file is world-readable)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
