"""HTTP for tests: every call has a timeout, so a dead server fails a test instead of hanging it."""

from __future__ import annotations

import requests

HTTP_TIMEOUT = 60  # seconds; generous: a 2-core machine shared by several test runs


class TimedSession(requests.Session):
    """A requests.Session whose every call has a timeout (HTTP_TIMEOUT unless one is given)."""

    def request(self, *args, timeout=HTTP_TIMEOUT, **kwargs):
        return super().request(*args, timeout=timeout, **kwargs)
