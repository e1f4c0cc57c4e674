"""Where `aiportal login` keeps the portal's URL, the user and their token.

`~/.config/aiportal/config.json` (`$XDG_CONFIG_HOME/aiportal/config.json` where it is set):
a directory of mode 0700 holding a file of mode 0600, `{"url", "user", "token"}`.
`AIPORTAL_URL` and `AIPORTAL_TOKEN` in the environment override what the file says.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "aiportal" / "config.json"


def load() -> dict:
    """The stored login with the environment's overrides; {} where there is neither."""
    path = config_path()
    try:
        data = json.loads(path.read_text())
        data = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        data = {}
    for key, var in (("url", "AIPORTAL_URL"), ("token", "AIPORTAL_TOKEN")):
        if os.environ.get(var):
            data[key] = os.environ[var]
    if os.environ.get("AIPORTAL_TOKEN"):
        data.pop("user", None)  # whose token it is is asked from the hub
    return data


def save(url: str, user: str, token: str) -> Path:
    """Write the login: the directory 0700, the file 0600 from its first byte."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "user": user, "token": token}, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def remove() -> bool:
    path = config_path()
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
