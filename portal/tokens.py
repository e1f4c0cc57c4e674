"""`aiportal token`: a hub API token for a user, written through JupyterHub's own ORM.

Works whether or not the hub is running, so scripts and CI can get a token right after
`aiportal up` has created the database.
"""

from __future__ import annotations

from pathlib import Path

from jupyterhub import orm

from . import config as portal_config
from .datadir import DataDir


class TokenError(RuntimeError):
    """Why no token could be made (one line)."""


def new_token(data_dir: str | Path, username: str, config_path: str | None = None,
              note: str = "aiportal token") -> str:
    data = DataDir(data_dir)
    path = Path(config_path) if config_path else data.config
    try:
        cfg = portal_config.load(path)
    except portal_config.ConfigError as e:
        raise TokenError(str(e)) from None
    db_url = data.hub_db_url(cfg.hub_db_url)
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists():
        raise TokenError(f"no hub database at {db_url[len('sqlite:///'):]}: run `aiportal up` first")
    db = orm.new_session_factory(db_url)()
    try:
        user = orm.User.find(db, username)
        if user is None:
            raise TokenError(f"no user {username!r} in the hub database")
        return user.new_api_token(note=note)
    finally:
        db.close()
