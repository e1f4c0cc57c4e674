"""The embedded authenticator: NativeAuthenticator plus a bootstrap admin account.

A fresh install has nobody who could approve sign-ups, so the first admin is created
with a generated password that `aiportal up` prints.
"""

from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.handlers import LoginHandler
from nativeauthenticator.orm import UserInfo
from traitlets import Instance, Unicode

from .passwords import BackgroundHash


class _NoTimer:
    def start(self):
        return self

    def stop(self, send=True):
        return None


class _NoStatsd:
    def timer(self, name):
        return _NoTimer()


class PortalLoginHandler(LoginHandler):
    """nativeauthenticator 1.3.0 still times logins with `self.statsd`, which JupyterHub 6
    removed; without this the login POST fails with AttributeError (HTTP 500)."""

    statsd = _NoStatsd()


class PortalAuthenticator(NativeAuthenticator):
    """Local passwords; sign-ups wait for approval by a hub admin unless open_signup."""

    bootstrap_admin = Unicode("", config=True, help="Admin account created at first start.")
    bootstrap_password_hash = Instance(BackgroundHash, allow_none=True, config=True,
                                       help="The hash of bootstrap_admin's initial password.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        name = self.normalize_username(self.bootstrap_admin)
        if name and self.bootstrap_password_hash is not None and not self.user_exists(name):
            # what create_user() stores for an admin, with the hash made in the background
            self.db.add(UserInfo(username=name, password=self.bootstrap_password_hash.value(), is_authorized=True))
            self.db.commit()
            self.log.info("Created bootstrap admin %s", name)

    def get_handlers(self, app):
        return [(path, PortalLoginHandler if handler is LoginHandler else handler)
                for path, handler in super().get_handlers(app)]
