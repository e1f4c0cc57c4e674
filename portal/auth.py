"""The embedded authenticator: NativeAuthenticator plus a bootstrap admin account.

A fresh install has nobody who could approve sign-ups, so the first admin is created
with a generated password that `aiportal up` prints.
"""

from nativeauthenticator import NativeAuthenticator
from traitlets import Unicode


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
