"""Users' public keys for the SSH endpoint: register, list, remove, and find a key's owner.

A key is stored as the OpenSSH line it was given and found by its SHA256 fingerprint,
which is unique: one key has one owner, so a login by key names exactly one user. Calls
block: handlers run them in threads.
"""

from __future__ import annotations

import asyncssh
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..db import Database, SSHKey, iso, utcnow

MIN_RSA_BITS = 2048
MAX_KEY_CHARS = 16_384  # an RSA 16384-bit key line is about 2,800 characters
MAX_COMMENT = 255


class SSHKeyError(ValueError):
    """A key that cannot be registered: ``status`` 400 (malformed, too weak) or 409 (taken)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.field = "key"


def parse(text) -> tuple[asyncssh.SSHKey, str, str]:
    """(the key, its SHA256 fingerprint, its comment) of one OpenSSH public key line, or
    SSHKeyError 400 saying what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise SSHKeyError(400, "key: give one OpenSSH public key line, e.g. 'ssh-ed25519 AAAA… you@laptop'")
    text = text.strip()
    if text.startswith("-----"):
        raise SSHKeyError(400, "key: this looks like a private key or a PEM file; give the public key "
                          "(the .pub file's line)")
    if len(text) > MAX_KEY_CHARS or "\n" in text or "\r" in text:
        raise SSHKeyError(400, "key: give exactly one public key line")
    try:
        key = asyncssh.import_public_key(text)
    except (asyncssh.KeyImportError, ValueError, TypeError) as e:
        raise SSHKeyError(400, f"key: not an OpenSSH public key: {str(e)[:200]}") from None
    algorithm = key.get_algorithm()
    if algorithm == "ssh-rsa":
        bits = key.pyca_key.key_size
        if bits < MIN_RSA_BITS:
            raise SSHKeyError(400, f"key: an RSA key of {bits} bits is too weak; use one of at least "
                            f"{MIN_RSA_BITS} bits, or better ssh-ed25519")
    elif algorithm in ("ssh-dss",):
        raise SSHKeyError(400, "key: DSA keys are not accepted; use ssh-ed25519")
    comment = (key.get_comment() or "")[:MAX_COMMENT]
    return key, key.get_fingerprint("sha256"), comment


def as_json(row: SSHKey) -> dict:
    return {"id": row.id, "fingerprint": row.fingerprint, "comment": row.comment,
            "algorithm": row.key.split(None, 1)[0], "created_at": iso(row.created_at)}


class SSHKeys:
    """The ``ssh_keys`` table: each user's own keys."""

    def __init__(self, db: Database):
        self.db = db

    def of(self, user: str) -> list[dict]:
        with self.db.session() as s:
            rows = s.scalars(select(SSHKey).where(SSHKey.user == user).order_by(SSHKey.id))
            return [as_json(r) for r in rows]

    def add(self, user: str, text) -> dict:
        """Register a key for `user`; SSHKeyError 400 for a bad key, 409 for one registered (by anyone)."""
        key, fingerprint, comment = parse(text)
        line = key.export_public_key("openssh").decode().strip()
        with self.db.session() as s:
            if s.scalar(select(SSHKey.id).where(SSHKey.fingerprint == fingerprint)) is not None:
                raise SSHKeyError(409, f"key: {fingerprint} is already registered")
        try:
            with self.db.transaction() as s:
                row = SSHKey(user=user, fingerprint=fingerprint, key=line, comment=comment, created_at=utcnow())
                s.add(row)
                s.flush()
                return as_json(row)
        except IntegrityError:  # registered at the same moment by another request
            raise SSHKeyError(409, f"key: {fingerprint} is already registered") from None

    def remove(self, user: str, key_id: int) -> bool:
        """Remove one of `user`'s keys; False when `user` has no key `key_id` (another's is not theirs)."""
        with self.db.transaction() as s:
            row = s.get(SSHKey, key_id)
            if row is None or row.user != user:
                return False
            s.delete(row)
            return True

    def owner(self, key: asyncssh.SSHKey) -> str | None:
        """The user who registered `key`, None if nobody did."""
        with self.db.session() as s:
            return s.scalar(select(SSHKey.user).where(SSHKey.fingerprint == key.get_fingerprint("sha256")))
