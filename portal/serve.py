"""`python -m portal.serve`: the process of the hub-managed portal service.

It takes its port before importing the service (about a second of imports: HubOAuth
brings in JupyterHub's ORM). The hub's checks that arrive meanwhile wait in the kernel's
accept queue and get the service's first real answer once the app is built, instead of
being refused and retried on JupyterHub's back-off (sleeps of up to 0.2, 0.4, 0.8, 1.6 s),
which left the hub, and so `aiportal up`, waiting up to a second after the service was ready.
"""

import os
import socket
from urllib.parse import urlparse

from .lifeline import die_with_parent


def take_port(url: str) -> socket.socket:
    """A listening, non-blocking socket on the service URL's address (what tornado's bind_sockets makes)."""
    parsed = urlparse(url)
    family = socket.AF_INET6 if ":" in parsed.hostname else socket.AF_INET
    sock = socket.create_server((parsed.hostname, parsed.port), family=family, backlog=128)
    sock.setblocking(False)
    return sock


if __name__ == "__main__":
    if os.getppid() > 1:  # the hub: when it is killed outright, this service goes too
        die_with_parent(parent=os.getppid())
    listening = take_port(os.environ["JUPYTERHUB_SERVICE_URL"])

    import asyncio

    from .service import main

    asyncio.run(main([listening]))
