"""S3 key pairs: generation, and 0600 JSON files that keep them across restarts."""

from __future__ import annotations

import json
import os
import secrets
import string
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Credentials:
    """An S3 access key and its secret. The secret never appears in ``repr``."""

    access_key: str
    secret_key: str = field(repr=False)

    @classmethod
    def generate(cls) -> Credentials:
        """New random keys: 20 upper-case alphanumerics and a 40-character secret.

        Both are plain alphanumerics so that they pass every server's rules and
        need no quoting on a command line (SeaweedFS' ``weed shell``).
        """
        access = "".join(secrets.choice(_ALPHABET) for _ in range(20))
        secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
        return cls(access, secret)

    def as_dict(self) -> dict[str, str]:
        return {"access_key": self.access_key, "secret_key": self.secret_key}

    @classmethod
    def from_dict(cls, data: dict) -> Credentials:
        return cls(str(data["access_key"]), str(data["secret_key"]))


def write_private_json(path: Path, data: object) -> None:
    """Atomically replace ``path`` with ``data`` as JSON, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_or_create(path: Path) -> Credentials:
    """Keys stored in ``path``; generated and written (mode 0600) the first time."""
    if path.exists():
        return Credentials.from_dict(json.loads(path.read_text()))
    creds = Credentials.generate()
    write_private_json(path, creds.as_dict())
    return creds
