"""The portal database as the hub's spawners reach it (released versions, failed spawns).

Opened at first use, when the launcher has made it (as NotebookEnv's store is), so the
hub's config stays light; opened once per hub process and URL, shared by every reader and
writer (traitlets deep-copies config values into each spawner: the copies are the original).
"""

from __future__ import annotations

import threading


class PortalRecords:
    """Base of a config value that reads or writes the portal database; blocking: call it in a thread."""

    _opened: dict = {}  # URL → portal.db.Database, for the whole process
    _opening = threading.Lock()  # called in threads: open each database once

    def __init__(self, db_url: str):
        self.db_url = db_url

    def __deepcopy__(self, memo):
        return self

    def database(self):
        """The portal.db.Database, opened (and migrated) on first use."""
        with self._opening:
            if self.db_url not in self._opened:
                from portal.db import Database

                self._opened[self.db_url] = Database(self.db_url)
            return self._opened[self.db_url]
