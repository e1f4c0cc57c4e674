"""Free TCP ports for the processes a portal starts.

A port is free when asked but is bound only later, by a child process; the kernel may hand
the same port to the next request meanwhile (the launcher and the storage server pick
several at once, in parallel). So a port handed out by this process is not handed out again.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from pathlib import Path

_handed_out: set[int] = set()
_lock = threading.Lock()
LOWEST = 10000  # below: ports people configure by hand (8000, 8081, 9000 ...)
SHARE_ENV = "AIPORTAL_PORT_SHARE"  # "index/count", e.g. "1/2"


def share() -> tuple[int, int]:
    """(index, count) from AIPORTAL_PORT_SHARE: processes that pick ports side by side
    (parallel test workers, and the processes they start) each take only ports whose remainder
    by `count` is their `index`, so none hands out another's. Default: every port."""
    index, _, count = os.environ.get(SHARE_ENV, "0/1").partition("/")
    return int(index), int(count)


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (where outgoing connections get theirs)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing uses right now and this process has not handed out.

    Taken below the ephemeral range: a port the kernel picks (bind to 0) is one it also gives
    to outgoing connections, and with many connections open (tests run in parallel) one of
    them took a service's port between its choice and its bind. Below the range only another
    listener can, and binding here first tells.
    """
    high = _ephemeral_low()
    while True:
        index, count = share()
        port = random.randrange(LOWEST, high - count) // count * count + index if high > LOWEST + 1000 else 0
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            port = s.getsockname()[1]
        with _lock:
            if port not in _handed_out:
                _handed_out.add(port)
                return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True
