"""GitLab's OAuth2 provider in the double: the authorization-code flow (with PKCE) that
oauthenticator's GitLabOAuthenticator drives.

`/oauth/authorize` shows a sign-in page (fields `user_login`, `user_password`, button
"Sign in"); signing in redirects to the application's redirect_uri with a code and the
state. A signed-in browser (cookie `_gitlab_session`) is redirected at once: applications
are trusted, so no consent page. `/oauth/token` exchanges a code or a refresh token for a
Bearer access token that the API accepts.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from html import escape
from urllib.parse import urlencode

from .api import DoubleHandler

TOKEN_LIFETIME = 7200
INVALID_GRANT = {
    "error": "invalid_grant",
    "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the "
                         "redirection URI used in the authorization request, or was issued to another client.",
}


@dataclass
class Grant:
    client_id: str
    username: str
    redirect_uri: str
    scope: str
    challenge: str | None = None
    challenge_method: str = "plain"
    expires: float = field(default_factory=lambda: time.time() + 600)


@dataclass
class OAuthState:
    """Registered applications, pending codes, refresh tokens and browser sessions."""

    apps: dict[str, tuple[str, str]] = field(default_factory=dict)  # client_id -> (secret, redirect_uri)
    codes: dict[str, Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, Grant] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)  # cookie -> username


PAGE = """<!DOCTYPE html>
<html><head><title>Sign in · GitLab</title></head>
<body>
<h1>GitLab</h1>
{flash}
<form id="new_user" action="/oauth/authorize?{query}" method="post">
  <label for="user_login">Username or primary email</label>
  <input type="text" name="user[login]" id="user_login" autocomplete="username" autofocus required>
  <label for="user_password">Password</label>
  <input type="password" name="user[password]" id="user_password" autocomplete="current-password" required>
  <button type="submit" name="button" data-testid="sign-in-button">Sign in</button>
</form>
</body></html>
"""


class AuthorizeHandler(DoubleHandler):
    def app_or_error(self) -> bool:
        """Checks client_id, redirect_uri and response_type; answers the 400 page when wrong."""
        app = self.double.oauth.apps.get(self.get_query_argument("client_id", ""))
        if app is None or app[1] != self.get_query_argument("redirect_uri", ""):
            self.page("The client authentication failed due to unknown client, or the redirect URI is invalid.", 400)
            return False
        if self.get_query_argument("response_type", "") != "code":
            self.page("The authorization server does not support this response type.", 400)
            return False
        return True

    def page(self, message: str, status: int) -> None:
        self.set_status(status)
        flash = f'<div class="flash-alert" role="alert">{escape(message)}</div>' if message else ""
        query = escape(urlencode({k: self.get_query_argument(k) for k in self.request.query_arguments}))
        self.finish(PAGE.format(flash=flash, query=query))

    def grant(self, username: str) -> None:
        code = secrets.token_hex(32)
        self.double.oauth.codes[code] = Grant(
            self.get_query_argument("client_id"), username, self.get_query_argument("redirect_uri"),
            self.get_query_argument("scope", "read_user"), self.get_query_argument("code_challenge", None),
            self.get_query_argument("code_challenge_method", "plain"))
        query = {"code": code}
        if self.get_query_argument("state", None) is not None:
            query["state"] = self.get_query_argument("state")
        self.redirect(f"{self.get_query_argument('redirect_uri')}?{urlencode(query)}")

    def get(self):
        if not self.app_or_error():
            return
        username = self.double.oauth.sessions.get(self.get_cookie("_gitlab_session", ""))
        if username in self.double.users:
            return self.grant(username)
        self.page("", 200)

    def post(self):
        if not self.app_or_error():
            return
        login = self.get_body_argument("user[login]", "")
        password = self.get_body_argument("user[password]", "")
        user = next((u for u in self.double.users.values() if login in (u.username, u.email)), None)
        if user is None or user.password != password:
            return self.page("Invalid login or password.", 200)
        session = secrets.token_hex(16)
        self.double.oauth.sessions[session] = user.username
        self.set_cookie("_gitlab_session", session, httponly=True)
        self.grant(user.username)


class TokenHandler(DoubleHandler):
    def post(self):
        oauth = self.double.oauth
        client_id, secret = self.client()
        if oauth.apps.get(client_id, (None,))[0] != secret or not secret:
            return self.answer({"error": "invalid_client", "error_description": "Client authentication failed due to "
                                "unknown client, no client authentication included, or unsupported authentication "
                                "method."}, 401)
        grant_type = self.get_body_argument("grant_type", "")
        if grant_type == "authorization_code":
            grant = oauth.codes.pop(self.get_body_argument("code", ""), None)
            if (grant is None or grant.client_id != client_id or grant.expires < time.time()
                    or grant.redirect_uri != self.get_body_argument("redirect_uri", "")
                    or not self.verifier_matches(grant)):
                return self.answer(INVALID_GRANT, 400)
        elif grant_type == "refresh_token":
            grant = oauth.refresh_tokens.pop(self.get_body_argument("refresh_token", ""), None)
            if grant is None or grant.client_id != client_id:
                return self.answer(INVALID_GRANT, 400)
        else:
            return self.answer({"error": "unsupported_grant_type", "error_description": "The authorization grant "
                                "type is not supported by the authorization server."}, 400)
        access, refresh = secrets.token_hex(32), secrets.token_hex(32)
        self.double.tokens[access] = grant.username
        oauth.refresh_tokens[refresh] = grant
        self.answer({"access_token": access, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME,
                     "refresh_token": refresh, "scope": grant.scope, "created_at": int(time.time())})

    def client(self) -> tuple[str, str]:
        """client_id and secret from HTTP basic auth or the form."""
        header = self.request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            return client_id, secret
        return self.get_body_argument("client_id", ""), self.get_body_argument("client_secret", "")

    def verifier_matches(self, grant: Grant) -> bool:
        if grant.challenge is None:
            return True
        verifier = self.get_body_argument("code_verifier", "")
        if grant.challenge_method == "S256":
            digest = hashlib.sha256(verifier.encode()).digest()
            verifier = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return secrets.compare_digest(verifier, grant.challenge)

    def answer(self, body: dict, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


default_handlers = [
    (r"/oauth/authorize", AuthorizeHandler),
    (r"/oauth/token", TokenHandler),
]
