"""A password's bcrypt hash, made in a thread: the first admin's is made while the hub starts.

bcrypt takes about 0.25 s and releases the GIL. The hub config starts hashing the generated
password as soon as it has read portal.yaml, so the hash is ready when the authenticator
creates the account, instead of the hub's start waiting for it on a first start.
"""

from concurrent.futures import ThreadPoolExecutor

import bcrypt


class BackgroundHash:
    """`bcrypt.hashpw(password)`, started at creation; `value()` waits for it."""

    def __init__(self, password: str):
        pool = ThreadPoolExecutor(1)
        self._hash = pool.submit(bcrypt.hashpw, password.encode(), bcrypt.gensalt())
        pool.shutdown(wait=False)

    def value(self) -> bytes:
        return self._hash.result()

    def __deepcopy__(self, memo):
        return self  # traitlets deep-copies config values; a hash under way is shared, not copied
