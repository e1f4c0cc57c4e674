"""SSH keys: the caller's own public keys for the SSH endpoint (``/api/v1/ssh-keys``) and
the page that lists them, adds one and says how to connect (``/ssh-keys``).

Keys are per user: every route works on the caller's keys only, and another user's key id
answers 404 like one that does not exist. A key already registered, by anyone, is a 409:
one key logs in as one user.
"""

from __future__ import annotations

import asyncio
import logging

from tornado import web

from ..ssh.keys import SSHKeyError, SSHKeys
from .base import APIHandler
from .pages import PageHandler

log = logging.getLogger("portal")


def key_error(error: SSHKeyError) -> web.HTTPError:
    http = web.HTTPError(error.status, "%s", str(error))
    http.field = error.field
    return http


class KeysBase:
    @property
    def keys(self) -> SSHKeys:
        keys = self.settings.get("ssh_keys")
        if keys is None:
            raise web.HTTPError(503, "SSH keys are not available on this portal")
        return keys


class SSHKeysHandler(KeysBase, APIHandler):
    async def get(self):
        ssh = self.portal_config.raw["ssh"]  # where to connect: `aiportal dev shell` reads it
        self.write_json({"items": await asyncio.to_thread(self.keys.of, self.caller.name),
                         "ssh": {"enabled": ssh["enabled"], **public_endpoint(ssh)}})

    async def post(self):
        body = self.json_object()
        try:
            key = await asyncio.to_thread(self.keys.add, self.caller.name, body.get("key"))
        except SSHKeyError as e:
            raise key_error(e) from None
        log.info("ssh key %s registered by %s", key["fingerprint"], self.caller.name)
        self.write_json(key, 201)


class SSHKeyHandler(KeysBase, APIHandler):
    async def delete(self, key_id):
        found = key_id.isascii() and key_id.isdigit() and len(key_id) < 12 \
            and await asyncio.to_thread(self.keys.remove, self.caller.name, int(key_id))
        if not found:
            raise web.HTTPError(404, f"no SSH key {key_id[:32]!r} of yours")
        self.set_status(204)
        self.finish()


def public_endpoint(ssh: dict) -> dict:
    """Where users' machines reach the endpoint: ssh.public_host (when set) and the port."""
    return {"port": ssh["public_port"] or ssh["port"], **({"host": ssh["public_host"]} if ssh["public_host"] else {})}


def connect_commands(handler, ssh: dict) -> tuple[str, str]:
    """``ssh -p PORT USER@HOST`` and ``sftp -P PORT USER@HOST``, with ssh.public_host or the
    host the caller reached the portal by."""
    endpoint = public_endpoint(ssh)
    where = f"{handler.caller.name}@{endpoint.get('host') or handler.request.host_name or 'localhost'}"
    if endpoint["port"] == 22:
        return f"ssh {where}", f"sftp {where}"
    return f"ssh -p {endpoint['port']} {where}", f"sftp -P {endpoint['port']} {where}"


class SSHKeysPageHandler(KeysBase, PageHandler):
    @web.authenticated
    async def get(self):
        ssh = self.portal_config.raw["ssh"]
        command, sftp_command = connect_commands(self, ssh)
        self.render_page("ssh_keys.html", keys=await asyncio.to_thread(self.keys.of, self.caller.name),
                         ssh_enabled=ssh["enabled"], command=command, sftp_command=sftp_command)


default_handlers = [
    (r"/api/v1/ssh-keys", SSHKeysHandler),
    (r"/api/v1/ssh-keys/(?P<key_id>[^/]+)", SSHKeyHandler),
    (r"/ssh-keys/?", SSHKeysPageHandler),
]
