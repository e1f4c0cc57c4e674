"""Users' homes on the host, and the host uid each user's containers run as.

A dev container writes into `<homes>/<user>/src` through its /src mount, so those files
must belong to the user on the host, and stay theirs across restarts. The uid is
recorded by the filesystem itself: the owner of the user's home. A new user gets the next
uid above every home's owner, from UID_BASE up, far from the host's own accounts.

Inside a container the uid is a named account: the spawner bind-mounts a passwd and group
file made here (read-only) over the image's, so `whoami`, `~` and the prompt show the hub
user name with any image and engine, and nothing in the container runs as root to add it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

UID_BASE = 200_000
SHELL = "/bin/bash"
#: Accounts kept from a Debian image beside the user's: the owners of the image's own files.
SYSTEM_PASSWD = ("root:x:0:0:root:/root:/bin/bash\n"
                 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
SYSTEM_GROUP = "root:x:0:\nnogroup:x:65534:\n"


@dataclass(frozen=True)
class Home:
    path: Path
    uid: int
    gid: int

    @property
    def src(self) -> Path:
        return self.path / "src"


def home_in_container(username: str) -> str:
    return f"/home/{username}"


def account_files(username: str, uid: int, gid: int) -> dict[str, str]:
    """/etc/passwd and /etc/group of the user's containers: the user, named, with their home
    and bash, beside root and nobody."""
    if not username or any(c in username for c in ":/\\") or not username.isprintable() or " " in username:
        raise ValueError(f"{username!r} cannot name an account")
    return {"passwd": f"{SYSTEM_PASSWD}{username}:x:{uid}:{gid}:{username}:{home_in_container(username)}:{SHELL}\n",
            "group": f"{SYSTEM_GROUP}{username}:x:{gid}:\n"}


def write_account(accounts: Path, username: str, home: Home) -> Path:
    """The folder holding the user's passwd and group files (see account_files), rewritten
    atomically: a running container keeps the file it mounted."""
    folder = accounts / username
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in account_files(username, home.uid, home.gid).items():
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text)
        tmp.chmod(0o644)
        os.replace(tmp, folder / name)
    return folder


def _chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)


def ensure_home(homes: Path, username: str) -> Home:
    """The user's home with its src folder, owned by the user's uid (allocated on first use).

    Synchronous on purpose: in the hub's event loop no other spawn can run between
    choosing a uid and taking it. A home owned by a host account (e.g. made by the
    local-process fallback running as root) is handed over to a new uid.
    """
    if not username or "/" in username or username in (".", ".."):
        raise ValueError(f"{username!r} cannot name a home folder")
    home = homes / username
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.geteuid() != 0:  # cannot give files away: servers run as the hub's own uid
        home.joinpath("src").mkdir(exist_ok=True)
        return Home(home, os.getuid(), os.getgid())
    uid = home.stat().st_uid
    if uid < UID_BASE:
        owners = [entry.stat().st_uid for entry in homes.iterdir() if entry.is_dir()]
        uid = max([UID_BASE - 1, *owners]) + 1
        _chown_tree(home, uid)
    src = home / "src"
    if not src.exists():
        src.mkdir(mode=0o700)
        os.chown(src, uid, uid)
    return Home(home, uid, uid)
