# Label Studio at <server URL>/label-studio/, through jupyter-server-proxy: the single-user
# server authenticates every request (only the server's owner gets through), starts Label
# Studio on the first one and strips the prefix before passing the request on.

# Label Studio writes absolute links from LABEL_STUDIO_HOST (its front end needs a full URL).
# The launcher gives it this placeholder origin; each response gets the origin the browser
# used instead (the Host the hub's proxy passed on, with its X-Forwarded-Proto).
from urllib.parse import unquote

PLACEHOLDER = "http://label-studio.aiportal.invalid"
TEXT_TYPES = ("text/", "application/json", "application/javascript")


def _origin(request):
    def first(name, default):
        return (request.headers.get(name) or default).split(",")[0].strip()
    return first("X-Forwarded-Proto", request.protocol) + "://" + first("X-Forwarded-Host", request.host)


def _prefix(request, path):
    """The URL path Label Studio is served under, e.g. /user/alice/ls-1a2b/label-studio."""
    full = unquote(request.path)
    if path and full.endswith(path):
        full = full[: -len(path)]
    return full.rstrip("/")


def rewrite_origin(response, request, path):
    location = response.headers.get("Location", "")
    if location.startswith(PLACEHOLDER):
        response.headers["Location"] = _origin(request) + location[len(PLACEHOLDER):]
    elif location.startswith(_prefix(request, path) + "/"):
        # Label Studio's redirects already carry the prefix (Django's script name): an
        # absolute URL keeps jupyter-server-proxy from adding the prefix a second time.
        response.headers["Location"] = _origin(request) + location
    if (response.headers.get("Content-Type", "").startswith(TEXT_TYPES)
            and PLACEHOLDER.encode() in response.body):
        response.body = response.body.replace(PLACEHOLDER.encode(), _origin(request).encode())


c.ServerProxy.servers = {
    "label-studio": {
        "command": ["/usr/local/bin/aiportal-label-studio", "{port}", "{base_url}"],
        # Label Studio answers about 4 s after it is started (a new home's database comes
        # migrated from the image); the margin is for a loaded node or a slow home.
        "timeout": 120,
        "absolute_url": False,
        "rewrite_response": rewrite_origin,
        "launcher_entry": {"title": "Label Studio", "category": "Other"},
    },
}
# The session is a Label Studio session: its server URL opens Label Studio.
c.ServerApp.default_url = "/label-studio/"
