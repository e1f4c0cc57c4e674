"""The SSH server (asyncssh) run in the portal service's event loop.

Logging in: the user name is the hub user's; the password is a hub API token of that user
(checked with the hub, ``GET /user``; it must name the same user and may reach the user's
servers), or the client proves a public key the user registered on the portal's SSH keys
page. Tokens are never logged.

After login every session channel runs in the user's default server's container
(``target``), or its pod on Kubernetes (``pods``): a shell (with a PTY when the client asks
for one), ``ssh host CMD`` as ``bash -c CMD``, or the ``sftp`` subsystem as OpenSSH's
sftp-server (modern ``scp`` speaks sftp too; legacy ``scp -O`` runs ``scp -t``/``-f`` as a
command, which the image's scp answers). The exit status comes back to the client;
window-size changes reach the PTY.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import pty
import struct
import termios

import asyncssh
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from ..datadir import DataDir
from .keys import SSHKeys
from .pods import PodProcess
from .target import Container, Servers, Unavailable, engine_of, exec_command

log = logging.getLogger("portal.ssh")

HOST_KEY = "ssh_host_ed25519_key"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"  # Debian's openssh-sftp-server, in the dev image
HIGH_WATER = 1 << 20  # bytes waiting for the process before the client is asked to pause
READ_SIZE = 65536


def host_key(data: DataDir) -> asyncssh.SSHKey:
    """The server's ed25519 host key, made once in <data>/secrets (mode 0600) and reused, so
    clients' known_hosts entries stay valid across restarts."""
    path = data.root / "secrets" / HOST_KEY
    if not path.exists():
        key = asyncssh.generate_private_key("ssh-ed25519", comment="aiportal")
        data.write_private(f"secrets/{HOST_KEY}", key.export_private_key().decode())
        data.write_private(f"secrets/{HOST_KEY}.pub", key.export_public_key().decode())
    return asyncssh.read_private_key(str(path))


def may_reach_servers(model: dict, user: str) -> bool:
    """Whether a token's /user model may reach `user`'s servers (access:servers on them)."""
    scopes = set(model.get("scopes") or ())
    return bool(scopes & {"access:servers", f"access:servers!user={user}", f"access:servers!server={user}/"})


class Gate:
    """Who may log in as whom: a token of the user (checked with the hub), or a registered key."""

    def __init__(self, hub_api_url: str, keys: SSHKeys | None):
        self.hub_api_url = hub_api_url.rstrip("/")
        self.keys = keys

    async def token(self, username: str, token: str) -> bool:
        if not token or len(token) > 512 or not token.isascii() or not token.isprintable():
            return False
        try:
            response = await AsyncHTTPClient().fetch(f"{self.hub_api_url}/user", request_timeout=30,
                                                     headers={"Authorization": f"token {token}"})
            model = json.loads(response.body)
        except HTTPClientError as e:
            if e.code not in (401, 403):
                log.warning("ssh: the hub did not check a token for %s: %s", username, e.code)
            return False
        except (OSError, ValueError) as e:
            log.warning("ssh: the hub did not check a token for %s: %s", username, type(e).__name__)
            return False
        return model.get("kind", "user") == "user" and model.get("name") == username \
            and may_reach_servers(model, username)

    async def key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self.keys is None:
            return False
        return await asyncio.to_thread(self.keys.owner, key) == username


class PortalSSHServer(asyncssh.SSHServer):
    """One client connection: authentication, then a ContainerSession per session channel."""

    def __init__(self, gate: Gate, servers: Servers):
        self.gate = gate
        self.servers = servers
        self.conn: asyncssh.SSHServerConnection | None = None
        self.peer = "?"
        self.how = ""

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.peer = str((conn.get_extra_info("peername") or ("?",))[0])

    def begin_auth(self, username: str) -> bool:
        return True  # every login is checked

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        ok = await self.gate.token(username, password)
        if ok:
            self.how = "a token"
        else:
            log.info("ssh: refused a token for %r from %s", username[:64], self.peer)
        return ok

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # asked again for the signed attempt: the key that logs in is the last one accepted
        ok = await self.gate.key(username, key)
        if ok:
            self.how = f"key {key.get_fingerprint('sha256')}"
        return ok

    def auth_completed(self) -> None:
        log.info("ssh: %s logged in from %s with %s", self.user, self.peer, self.how)

    @property
    def user(self) -> str:
        """The user the connection authenticated as (asyncssh records the name of the attempt
        that succeeded)."""
        return self.conn.get_extra_info("username")

    def session_requested(self):
        return ContainerSession(self.user, self.servers)


class ContainerSession(asyncssh.SSHServerSession):
    """A session channel bridged to a process of the engine's CLI: ``exec`` into the container."""

    def __init__(self, user: str, servers: Servers):
        self.user = user
        self.servers = servers
        self.chan: asyncssh.SSHServerChannel | None = None
        self.term: str | None = None
        self.size = (80, 24, 0, 0)
        self.command: str | None = None
        self.subsystem: str | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.pod: PodProcess | None = None  # instead of `proc`, on Kubernetes
        self.master: int | None = None  # the PTY's master side, with a PTY
        self.pending = b""  # client input not yet written to the PTY
        self.early: list[bytes] = []  # client input that came before the process started
        self.eof = False
        self.can_write = asyncio.Event()
        self.can_write.set()
        self.task: asyncio.Task | None = None

    # --- requests of the client ------------------------------------------------------------

    def connection_made(self, chan) -> None:
        self.chan = chan

    def pty_requested(self, term_type, term_size, term_modes) -> bool:
        self.term = term_type or "xterm"
        self.size = term_size
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self.command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        self.subsystem = subsystem
        return subsystem == "sftp"

    def session_started(self) -> None:
        self.task = asyncio.ensure_future(self.run())

    def terminal_size_changed(self, width, height, pixwidth, pixheight) -> None:
        self.size = (width, height, pixwidth, pixheight)
        if self.master is not None:
            set_size(self.master, self.size)
        elif self.pod is not None and self.pod.tty:
            self.pod.resize(self.size)

    def break_received(self, msec) -> bool:
        return False

    def data_received(self, data: bytes, datatype) -> None:
        if self.pod is not None:
            self.pod.write(data)
        elif self.proc is None:
            self.early.append(data)
        elif self.master is not None:
            self.pending += data
            self._flush_pty()
        elif self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.write(data)
            if self.proc.stdin.transport.get_write_buffer_size() > HIGH_WATER:
                self.chan.pause_reading()
                asyncio.ensure_future(self._drain())

    def eof_received(self) -> bool:
        self.eof = True
        if self.pod is not None:
            if not self.pod.tty:  # as with a local PTY: a terminal's input does not end
                self.pod.close_stdin()
        elif self.proc is not None and self.master is None and self.proc.stdin is not None:
            self.proc.stdin.close()
        return True  # keep our side open: output and the exit status are still to come

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    def connection_lost(self, exc) -> None:
        if self.proc is not None and self.proc.returncode is None:
            try:
                self.proc.terminate()
            except ProcessLookupError:
                pass
        if self.task is not None and not self.task.done() and self.proc is None:
            self.task.cancel()  # also closes a pod's exec

    # --- running it -----------------------------------------------------------------------

    def say(self, text: str) -> None:
        """A line for the user on stderr (progress, or why nothing runs)."""
        end = "\r\n" if self.term else "\n"
        try:
            self.chan.write_stderr((text + end).encode())
        except (asyncssh.Error, OSError, BrokenPipeError):
            pass

    def argv(self, container: Container) -> tuple[list[str], str | None]:
        """The command to run in the container, and its working directory (None: the container's)."""
        if self.subsystem == "sftp":
            return [SFTP_SERVER], container.home
        if self.command is not None:
            return ["bash", "-c", self.command], None
        return ["bash", "-i"] if self.term else ["bash"], None  # no PTY: bash reads the script on stdin

    async def run(self) -> None:
        status = 1
        try:
            try:
                engine, container = await self.servers.container(self.user, self.say)
            except Unavailable as e:
                self.say(str(e))
                return
            except Exception:
                log.exception("ssh: no container for %s", self.user)
                self.say("the portal could not reach your server; try again later")
                return
            argv, workdir = self.argv(container)
            tty = self.term is not None and self.subsystem is None
            log.info("ssh: %s runs %s in %s", self.user,
                     "sftp" if self.subsystem else "a command" if self.command is not None else "a shell",
                     f"pod {container.namespace}/{container.id}" if container.namespace else container.id[:12])
            active = asyncio.create_task(self.servers.keep_active(self.user))
            try:
                if container.namespace is not None:
                    status = await self.run_pod(container, argv, tty, workdir)
                else:
                    cmd = exec_command(engine, container, argv, tty=tty, term=self.term if tty else None,
                                       workdir=workdir)
                    status = await (self.run_pty(cmd) if tty else self.run_pipes(cmd))
            except Unavailable as e:
                self.say(str(e))
            finally:
                active.cancel()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ssh: session of %s failed", self.user)
            self.say("the session failed; see the portal's log")
        finally:
            try:
                self.chan.exit(status)
            except (asyncssh.Error, OSError):
                pass

    async def run_pod(self, container: Container, argv: list[str], tty: bool, workdir: str | None) -> int:
        self.pod = PodProcess(self.servers.namespaces, container, argv, tty=tty, term=self.term, workdir=workdir,
                              size=self.size, pause=self.chan.pause_reading, resume=self.chan.resume_reading)
        for data in self.early:
            self.pod.write(data)
        self.early = []
        if self.eof and not tty:
            self.pod.close_stdin()
        return await self.pod.run(self.chan.write, self.chan.write_stderr, self.can_write)

    async def run_pipes(self, cmd: list[str]) -> int:
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        for data in self.early:
            self.proc.stdin.write(data)
        self.early = []
        if self.eof:
            self.proc.stdin.close()
        await asyncio.gather(self._pump(self.proc.stdout, self.chan.write),
                             self._pump(self.proc.stderr, self.chan.write_stderr))
        return exit_status(await self.proc.wait())

    async def _pump(self, reader: asyncio.StreamReader, write) -> None:
        while data := await reader.read(READ_SIZE):
            await self.can_write.wait()
            write(data)

    async def _drain(self) -> None:
        try:
            await self.proc.stdin.drain()
        except (ConnectionError, OSError):
            pass
        self.chan.resume_reading()

    async def run_pty(self, cmd: list[str]) -> int:
        master, slave = pty.openpty()
        set_size(slave, self.size)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=slave, stdout=slave, stderr=slave, start_new_session=True, preexec_fn=_controlling_tty)
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self.master = master
        self.pending, self.early = b"".join(self.early), []
        self._flush_pty()
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def readable() -> None:
            try:
                data = os.read(master, READ_SIZE)
            except BlockingIOError:
                return
            except OSError:  # EIO: every holder of the slave side closed it
                data = b""
            if not data:
                loop.remove_reader(master)
                if not done.done():
                    done.set_result(None)
                return
            self.chan.write(data)
            if not self.can_write.is_set():
                loop.remove_reader(master)
                asyncio.ensure_future(self._resume_pty(readable))

        loop.add_reader(master, readable)
        try:
            status = await self.proc.wait()
            await asyncio.wait_for(done, 5)  # what the process wrote last
        except TimeoutError:
            pass
        finally:
            loop.remove_reader(master)
            loop.remove_writer(master)
            os.close(master)
            self.master = None
        return exit_status(status)

    async def _resume_pty(self, readable) -> None:
        await self.can_write.wait()
        if self.master is not None:
            asyncio.get_running_loop().add_reader(self.master, readable)

    def _flush_pty(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending and self.master is not None:
            try:
                n = os.write(self.master, self.pending[:READ_SIZE])
            except BlockingIOError:
                loop.add_writer(self.master, self._flush_pty)
                self.chan.pause_reading()
                return
            except OSError:
                self.pending = b""
                return
            self.pending = self.pending[n:]
        if self.master is not None:
            loop.remove_writer(self.master)
        self.chan.resume_reading()


def exit_status(code: int) -> int:
    """A process's status for SSH: a signal's death as the shell reports it (128 + signal)."""
    return 128 - code if code < 0 else code


def set_size(fd: int, size) -> None:
    width, height, pixwidth, pixheight = size
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, pixwidth, pixheight))


def _controlling_tty() -> None:
    """In the child: the PTY on stdin becomes its controlling terminal, so the engine's CLI
    gets SIGWINCH when the client's window changes size."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class SSHEndpoint:
    """The listening server: start() binds (an OSError when the address is taken), stop() closes."""

    def __init__(self, settings: dict, data: DataDir, gate: Gate, servers: Servers):
        self.settings = settings  # portal.yaml's `ssh:` section
        self.data = data
        self.gate = gate
        self.servers = servers
        self.acceptor = None

    async def start(self) -> SSHEndpoint:
        key = host_key(self.data)
        listen, port = self.settings["listen"], self.settings["port"]
        try:
            self.acceptor = await asyncssh.listen(
                listen, port, server_host_keys=[key], encoding=None,
                server_factory=lambda: PortalSSHServer(self.gate, self.servers),
                login_timeout=60, keepalive_interval=60, server_version="aiportal")
        except OSError as e:
            raise RuntimeError(f"ssh: cannot listen on {listen} port {port} (ssh.listen, ssh.port): "
                               f"{os.strerror(e.errno) if e.errno else e}") from None
        log.info("ssh: listening on %s port %d (host key %s)", self.settings["listen"], self.settings["port"],
                 key.get_fingerprint("sha256"))
        return self

    def stop(self) -> None:
        if self.acceptor is not None:
            self.acceptor.close()
            self.acceptor = None


def endpoint_for(config, data: DataDir, hub, keys: SSHKeys, environ, namespaces=None) -> SSHEndpoint | None:
    """The SSH endpoint portal.yaml's `ssh:` asks for (None when it is not enabled);
    `namespaces` (portal.namespaces.TeamNamespaces) where servers are pods."""
    settings = config.raw.get("ssh") or {}
    if not settings.get("enabled"):
        return None
    servers = Servers(hub, lambda: engine_of(config, environ), data.instance_id, namespaces)
    return SSHEndpoint(settings, data, Gate(hub.api_url, keys), servers)
