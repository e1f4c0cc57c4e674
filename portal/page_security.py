"""Security headers of the portal service: a Content-Security-Policy on every answer, with a
per-page nonce for the inline scripts of JupyterHub's own templates, and nosniff.

The policy is described in docs/architecture.md ("Pages and headers").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jinja2 import FileSystemLoader
from tornado import web


@dataclass(frozen=True)
class SecurityPolicy:
    """The security headers of every answer of the service (docs/architecture.md, "Pages and headers").

    Scripts run only from the hub's and the portal's static paths, not from the whole
    origin: user servers share it (`/user/…`) and serve whatever their users write. Inline
    scripts run only with the page's nonce. Browsers upload to and download from S3
    directly (presigned URLs), so that is the one other origin they may connect to.
    """

    script_paths: tuple[str, ...]
    storage_origin: str | None = None

    def csp(self, request, nonce: str | None = None) -> str:
        origin = f"{request.protocol}://{request.host}"
        scripts = ([f"'nonce-{nonce}'"] if nonce else []) + [origin + p for p in self.script_paths]
        policy = {
            "default-src": "'self'", "script-src": " ".join(scripts),
            "connect-src": " ".join(filter(None, ["'self'", self.storage_origin])),
            "img-src": "'self' data:",  # Bootstrap draws its icons (close, check, select) as data: SVGs
            "object-src": "'none'", "base-uri": "'self'", "form-action": "'self'",
            "frame-ancestors": "'self'",  # no page of the portal inside another site's frame
        }
        return "; ".join(f"{name} {value}" for name, value in policy.items())

    def headers(self, request) -> dict[str, str]:
        return {"Content-Security-Policy": self.csp(request), "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin"}


class SecurityHeaders(web.OutputTransform):
    """Puts the policy's headers on every answer: pages, API, static files, errors, redirects.
    A page's own CSP (with its nonce, set by the renderer) is kept."""

    def __init__(self, request, policy: SecurityPolicy):
        super().__init__(request)
        self.request, self.policy = request, policy

    def transform_first_chunk(self, status_code, headers, chunk, finishing):
        for name, value in self.policy.headers(self.request).items():
            headers.setdefault(name, value)
        return status_code, headers, chunk


_INLINE_SCRIPT = re.compile(r"<script(?=[\s>])(?![^>]*\ssrc=)")


class NoncedLoader(FileSystemLoader):
    """JupyterHub's templates with the page's CSP nonce on their inline scripts.

    page.html writes `window.jhdata` (the XSRF token our scripts send) and the requirejs
    config in a `<script>` outside any block, so no child template can replace it. Only
    JupyterHub's own templates get the nonce; ours have no inline scripts at all.
    """

    def get_source(self, environment, template):
        source, path, uptodate = super().get_source(environment, template)
        return _INLINE_SCRIPT.sub('<script nonce="{{ csp_nonce }}"', source), path, uptodate
