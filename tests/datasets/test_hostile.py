"""Hostile names and keys through the datasets API, enumerated: every input × every operation.

Each input is either refused with a 400 naming the rule it breaks, or is a legal (if odd)
name that stays inside the caller's own bucket: reading it is a 404, making it makes it
in team-a and nowhere else. No answer is a 5xx, every answer is JSON, and none carries
team-b's object, its name or a link to its bucket. Query arguments go on the wire fully
percent-encoded ('.' as %2E), so the server's own decoding of ``%2e%2e`` is what is tested.
"""

from __future__ import annotations

import io
from urllib.parse import quote

import jsonschema
import pytest
import requests

from portal.openapi import document

SECRET = b"team-b only: patient 4711"
SECRET_KEYS = ("secret.txt", "team-b/secret.txt")  # in team-b's bucket, where an escape would land

LEAD = "must not start with '/'"
DOTS = "must not contain a '.' or '..' segment"
EMPTY = "must not contain an empty segment ('//')"
CONTROL = "must not contain control characters"
BACKSLASH = "must not contain '\\' (S3 servers read it as a path separator or refuse it)"
UTF8 = "must be valid UTF-8"


def too_long(nbytes: int) -> str:
    return f"must be at most 1024 bytes of UTF-8 ({nbytes} given)"


def long_name(nbytes: int) -> str:
    return f"each name between '/' must be at most 255 bytes of UTF-8 ({nbytes} given)"


def lookalike(code: str, name: str) -> str:
    return f"must not contain characters that read as '/', '\\' or '.' (U+{code} {name})"


# (id, the value as the server must read it, the rule a key breaks, the rule a listing prefix
# breaks); None: legal there. A prefix may be empty or end with '/'.
HOSTILE = [
    ("dotdot", "..", DOTS, DOTS),
    ("dotdot-team-b", "../team-b/secret.txt", DOTS, DOTS),
    ("deep-dotdot", "a/../../team-b/secret.txt", DOTS, DOTS),
    ("prefix-other", "../other/", DOTS, DOTS),
    ("prefix-team-b", "../team-b/", DOTS, DOTS),
    ("dot", "./secret.txt", DOTS, DOTS),
    ("absolute", "/team-b/secret.txt", LEAD, LEAD),
    ("double-slash", "//team-b/secret.txt", LEAD, LEAD),
    ("empty-segment", "a//b", EMPTY, EMPTY),
    ("empty", "", "must not be empty", None),
    ("1025-bytes", "k" * 1025, too_long(1025), too_long(1025)),
    ("1026-bytes-utf8", "é" * 513, too_long(1026), too_long(1026)),
    ("256-byte-name", "a/" + "n" * 256, long_name(256), long_name(256)),
    ("nul", "a\x00b", CONTROL, CONTROL),
    ("nul-dotdot", "..\x00/team-b/secret.txt", CONTROL, CONTROL),
    ("newline", "a\nb", CONTROL, CONTROL),
    ("ansi-escape", "\x1b[31mred", CONTROL, CONTROL),
    ("del", "a\x7fb", CONTROL, CONTROL),
    ("c1-nel", "\x85x", CONTROL, CONTROL),
    ("backslash-dotdot", "..\\team-b\\secret.txt", BACKSLASH, BACKSLASH),
    ("backslash", "a\\b", BACKSLASH, BACKSLASH),
    ("fullwidth-solidus", "..\uff0fteam-b\uff0fsecret.txt", lookalike("FF0F", "FULLWIDTH SOLIDUS"),
     lookalike("FF0F", "FULLWIDTH SOLIDUS")),
    ("one-dot-leader", "\u2024\u2024/team-b/secret.txt", lookalike("2024", "ONE DOT LEADER"),
     lookalike("2024", "ONE DOT LEADER")),
    ("two-dot-leader", "\u2025/team-b/secret.txt", lookalike("2025", "TWO DOT LEADER"),
     lookalike("2025", "TWO DOT LEADER")),
    ("division-slash", "..\u2215team-b\u2215secret.txt", lookalike("2215", "DIVISION SLASH"),
     lookalike("2215", "DIVISION SLASH")),
    ("fullwidth-full-stops", "\uff0e\uff0e/secret.txt", lookalike("FF0E", "FULLWIDTH FULL STOP"),
     lookalike("FF0E", "FULLWIDTH FULL STOP")),
    ("lone-surrogate", "a\udc80b", UTF8, UTF8),
    # Legal names, however they look: they name objects of team-a's own bucket.
    ("html", "<script>alert(1)</script>.txt", None, None),
    ("percent-literal", "%2e%2e/team-b/secret.txt", None, None),
    ("other-team-path", "team-b/secret.txt", None, None),
    ("255-byte-name", "n" * 255, None, None),
    ("246-byte-name", "f" * 246, None, None),
    ("ellipsis", "\u2026/secret.txt", None, None),
]
# Names a file may have but a new folder may not: MinIO keeps folder 'x/' as 'x__XLDIR__'.
FOLDER_RULES = {"n" * 255: "a new folder's name must be at most 246 bytes of UTF-8 (255 given)"}
OPERATIONS = ["list", "download", "delete", "folder", "upload", "share"]
QUERY = {"list": "prefix", "download": "key", "delete": "key"}  # the others send JSON bodies


def raw_query(value: str) -> str:
    """Every byte percent-encoded, '.' too; a lone surrogate as the invalid UTF-8 it would be."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="").replace(".", "%2E")


def send(s: requests.Session, operation: str, value: str) -> requests.Response:
    """One request of ``operation`` naming ``value``; query URLs exactly as written here."""
    if operation in QUERY:
        path, method = {"list": ("datasets", "GET"), "download": ("download", "GET"),
                        "delete": ("datasets", "DELETE")}[operation]
        request = s.prepare_request(requests.Request(method, f"{s.base}/{path}"))
        request.url = f"{s.base}/{path}?{QUERY[operation]}={raw_query(value)}"  # requests would re-quote it
        return s.send(request, allow_redirects=False, timeout=60)
    path, body = {"folder": ("folders", {"key": value}), "upload": ("uploads", {"key": value, "size": 1}),
                  "share": ("shares", {"key": value, "expires_in": 60})}[operation]
    return s.post(f"{s.base}/{path}", json=body)


def expected_rule(operation: str, value: str, key_rule: str | None, prefix_rule: str | None) -> str | None:
    return {"list": prefix_rule, "folder": FOLDER_RULES.get(value, key_rule)}.get(operation, key_rule)


def expected_refusal(operation: str, rule: str) -> str:
    name = QUERY.get(operation, "key")
    if rule == UTF8 and operation in QUERY:  # tornado refuses it while decoding the query
        return f"Invalid unicode in {name}: "
    return f"{name}: {rule}"


@pytest.fixture(scope="module")
def team_b_secret(ds):
    """team-b's objects where a key escaping team-a's bucket would find them."""
    for key in SECRET_KEYS:
        ds.admin_s3.put_object("team-b", key, io.BytesIO(SECRET), len(SECRET))
    return ds


def team_b_objects(ds) -> dict[str, int]:
    return {o.object_name: o.size for o in ds.admin_s3.list_objects("team-b", recursive=True)}


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("value,key_rule,prefix_rule", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_input(team_b_secret, operation, value, key_rule, prefix_rule):
    ds = team_b_secret
    bob = ds.api("bob")
    before = team_b_objects(ds)
    r = send(bob, operation, value)
    assert r.status_code < 500 and r.headers["Content-Type"] == "application/json", r.text
    body = r.json()
    assert SECRET.decode() not in r.text and "/team-b/" not in r.headers.get("Location", "")
    rule = expected_rule(operation, value, key_rule, prefix_rule)
    try:
        if rule is not None:
            assert r.status_code == 400 and body["message"].startswith(expected_refusal(operation, rule)), r.text
        elif operation == "list":  # team-a's own entries under that prefix: none, but for the top
            assert r.status_code == 200, r.text
            listed = [i["key"] for i in body["items"]]
            assert all(k.startswith(value) and k not in SECRET_KEYS for k in listed) and (listed == [] or not value)
        elif operation in ("download", "delete", "share"):
            assert r.status_code == 404 and body == {"status": 404, "message": f"no object {value!r}"}, r.text
        else:  # a legal name is made, in team-a's bucket under exactly that name
            assert r.status_code == 201, r.text
            assert body["key"] == (value + "/" if operation == "folder" else value)
    finally:
        if r.status_code == 201:
            forget(ds, bob, operation, body)
    assert team_b_objects(ds) == before
    assert all(ds.admin_s3.get_object("team-b", k).read() == SECRET for k in SECRET_KEYS)


def forget(ds, bob, operation: str, body: dict) -> None:
    if operation == "folder":
        assert ds.admin_s3.stat_object("team-a", body["key"]).size == 0
        ds.admin_s3.remove_object("team-a", body["key"])
    elif operation == "upload":
        assert bob.delete(f"{bob.base}/uploads/{body['id']}").status_code == 200


def test_folder_keys_are_not_files(ds):
    bob = ds.api("bob")
    for operation in ("upload", "share", "download"):
        r = send(bob, operation, "data/")
        assert r.status_code == 400 and "names a folder" in r.json()["message"], operation


# As written on the wire. (A malformed escape such as %ff in the path never reaches the
# portal: configurable-http-proxy fails to decode it and the hub answers 500.)
TEAMS = ["team-b", "TEAM-B", "team-b%2F..", "..%2Fteam-b", "team-a%2F..%2Fteam-b", "%2e%2e%2Fteam-b",
         "team-b%00", "team-b%20", "%74eam-b", "%3Cscript%3E"]


@pytest.mark.parametrize("team", TEAMS)
@pytest.mark.parametrize("operation", [*OPERATIONS, "uploads"])
def test_team_segments_naming_another_team_are_404(team_b_secret, team, operation):
    """bob is in team-a only: however team-b is spelled in the path, it does not exist for him."""
    ds = team_b_secret
    bob = ds.api("bob")
    bob.base = f"{ds.portal.url}services/portal/api/v1/teams/{team}"
    if operation == "uploads":
        request = bob.prepare_request(requests.Request("GET", f"{bob.base}/uploads"))
        request.url = f"{bob.base}/uploads"
        r = bob.send(request, timeout=60)
    else:
        r = send(bob, operation, "secret.txt")
    assert r.status_code in (400, 404), (r.request.url, r.text)
    assert r.headers["Content-Type"] == "application/json" and r.json()["message"], r.text
    assert SECRET.decode() not in r.text and "Location" not in r.headers


# The OpenAPI schema each operation gives the value, so that generated clients know the rules.
SCHEMAS = {"list": "prefix", "download": "key", "share": "key", "upload": "key", "delete": "key_or_folder",
           "folder": "new_folder"}
COMPONENTS = document("http://portal.invalid/")["components"]


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("value,key_rule,prefix_rule", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_the_openapi_document_refuses_what_the_server_refuses(operation, value, key_rule, prefix_rule):
    """Schema and server agree on each input; where the server counts UTF-8 bytes (or sees
    invalid UTF-8) and JSON Schema can only count characters, the schema may accept more."""
    schema = {"$ref": f"#/components/schemas/{SCHEMAS[operation]}", "components": COMPONENTS}
    valid = jsonschema.Draft202012Validator(schema).is_valid(value)
    rule = expected_rule(operation, value, key_rule, prefix_rule)
    if rule is None:
        assert valid
    elif value.isascii() or rule not in (UTF8, too_long(len(value.encode("utf-8", "surrogatepass")))):
        assert not valid
