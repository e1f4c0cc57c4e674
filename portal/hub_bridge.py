"""The hub API on the container engine's bridge address, and nowhere else but loopback.

Server containers on the engine's default bridge reach the host at the bridge's gateway
address (``host.containers.internal``); the proxy and the portal service reach the hub on
loopback. The hub binds one address, and Podman's bridge address exists only while a
container uses the bridge (netavark creates the interface for the first container and
removes it with the last), so neither address alone serves both, and binding every
interface (0.0.0.0) would expose the hub API to the whole network. So the hub listens on
127.0.0.1 and `aiportal up` forwards connections that arrive at the bridge address, port
for port, to it. The listening socket is bound with IP_FREEBIND, so it can be bound before
the interface exists, and it keeps listening while the interface comes and goes.
"""

from __future__ import annotations

import asyncio
import socket
import threading

IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)  # Linux; Python 3.11 does not name it


def listen_free(ip: str, port: int) -> socket.socket:
    """A listening TCP socket on ``ip``:``port`` even if no interface has ``ip`` yet."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        sock.bind((ip, port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass


class HubBridge:
    """Forwards TCP connections to ``bind_ip:port`` to ``127.0.0.1:target_port`` (the hub;
    default: the same port), in a thread of the calling process; ``stop()`` closes the
    listener and every connection."""

    def __init__(self, bind_ip: str, port: int, target_ip: str = "127.0.0.1", target_port: int | None = None):
        self.bind_ip, self.port, self.target_ip = bind_ip, port, target_ip
        self.target_port = target_port or port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    def start(self) -> HubBridge:
        sock = listen_free(self.bind_ip, self.port)  # errors (address in use) surface here
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sock, ready), name="hub-bridge", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def _run(self, sock: socket.socket, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve(sock, ready))
        finally:
            self._loop.close()

    async def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        self._stopped = asyncio.Event()
        tasks: set[asyncio.Task] = set()

        async def handle(reader, writer):
            tasks.add(asyncio.current_task())
            up_writer = None
            try:
                up_reader, up_writer = await asyncio.open_connection(self.target_ip, self.target_port)
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            except OSError:
                pass
            finally:
                for w in (writer, up_writer):
                    if w is not None:
                        w.close()
                tasks.discard(asyncio.current_task())

        server = await asyncio.start_server(handle, sock=sock)
        ready.set()
        await self._stopped.wait()
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    def stop(self, timeout: float = 5) -> None:
        if self._loop is None or self._thread is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._stopped.set)
        except RuntimeError:  # the loop has already ended
            pass
        self._thread.join(timeout)
        self._thread = self._loop = None
