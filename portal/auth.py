"""The embedded authenticator: NativeAuthenticator plus a bootstrap admin account.

A fresh install has nobody who could approve sign-ups, so the first admin is created
with a generated password that `aiportal up` prints.
"""

from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.handlers import LoginHandler
from traitlets import Unicode


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
    bootstrap_password = Unicode("", config=True, help="Initial password of bootstrap_admin.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.bootstrap_admin and self.bootstrap_password:
            if not self.user_exists(self.bootstrap_admin):
                self.create_user(self.bootstrap_admin, self.bootstrap_password)
                self.log.info("Created bootstrap admin %s", self.bootstrap_admin)

    def get_handlers(self, app):
        return [(path, PortalLoginHandler if handler is LoginHandler else handler)
                for path, handler in super().get_handlers(app)]
