"""A real PostgreSQL server for the tests: a throwaway cluster on a free port.

Debian's `postgresql` package (installed by scripts/system-deps.sh) gives the server
binaries; its own cluster is left alone. The server refuses to run as root, so under root
the cluster belongs to the `postgres` system user. Password authentication (scram) is on,
so the URLs carry a password as production ones do.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path


def bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL server binaries are missing: run scripts/system-deps.sh as root")
    return Path(found[-1]).parent


class PostgresServer:
    """A cluster in its own temporary folder (pytest's are root-only, and the server is not root)."""

    def __init__(self, port: int):
        self.root, self.port = Path(tempfile.mkdtemp(prefix="aiportal-pg-")), port
        self.data = self.root / "cluster"
        self.password = secrets.token_urlsafe(16)
        self.bin = bindir()

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*user, *args], capture_output=True, text=True,
                              env={**os.environ, "PGPASSWORD": self.password})
        if done.returncode:
            raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr or done.stdout}")
        return done

    def start(self) -> PostgresServer:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "portal", "--auth=scram-sha-256",
                  f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8")
        pwfile.unlink()
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "postgres.log"), "-w",
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.root}", "start")
        return self

    def create_database(self, name: str) -> str:
        """A new database, and its SQLAlchemy URL in the form users write in portal.yaml."""
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "portal", name)
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql://portal:{self.password}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root)
