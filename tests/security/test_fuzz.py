"""Fuzzing the portal API with schemathesis, against a real portal that nothing else uses.

`schemathesis run` (its CLI, configured by schemathesis.toml at the repository root:
deterministic generation, valid and invalid requests, every check) runs twice against the
live `/services/portal/api/v1/openapi.json`: as a member of team-a and as an operator.
Destructive operations (member removal, deletes, limits) are fuzzed too, which is why the
portal is this module's own. Besides schemathesis's checks, every recorded response (the
HAR report) is read here: no status ≥ 500, and every 4xx a JSON object with a message.
Numbers and reports land in test-artifacts/fuzz-*.
"""

from __future__ import annotations

import collections
import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import jsonschema_rs
import pytest
import schemathesis
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from tests.conftest import ARTIFACTS, ROOT
from tests.security.conftest import REPORT, new_site

CONFIG = ROOT / "schemathesis.toml"
ROLES = {"member": "bob", "operator": "admin"}  # role → user of SECURITY_CONFIG
MIN_CASES = 1000  # generated cases over both runs, at the least
RUN_TIMEOUT = 240  # seconds one schemathesis run may take before it counts as hung
#: Failures that say the document does not describe what the server accepts or refuses
#: (schema-valid requests refused, schema-invalid ones accepted); all others are answers
#: that break the document or the server (5xx, undeclared status, wrong body or headers).
ACCEPTANCE = {"RejectedPositiveData", "AcceptedNegativeData"}

pytestmark = pytest.mark.timeout(2 * RUN_TIMEOUT + 120)


@dataclass(repr=False)
class FuzzRun:
    role: str
    exit_code: int
    report: dict  # schemathesis's JSON report
    entries: list  # every request and response (HAR entries)
    output: str

    @property
    def cases(self) -> int:
        return self.report["test_cases"]["generated"]

    def __repr__(self) -> str:  # pytest shows fixtures in tracebacks: keep it to one line
        return f"<fuzz run as {self.role}: {self.cases} cases, exit code {self.exit_code}>"

    def failures(self, *, acceptance: bool) -> list[str]:
        """schemathesis's failures, one line per kind: code, title, operations (details and a
        curl line per failing case are in test-artifacts/fuzz-<role>-output.txt)."""
        return [f"{f['code']} {f['title']}: {', '.join(f['operations'])}" for f in self.report["failures"]
                if (f["type"] in ACCEPTANCE) == acceptance]


def run_schemathesis(site, role: str, out: Path) -> FuzzRun:
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, AIPORTAL_FUZZ_TOKEN=site.token(ROLES[role]), NO_COLOR="1")
    proc = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
         f"{site.api}/openapi.json", "--report", "json,har",
         "--report-json-path", str(out / "report.json"), "--report-har-path", str(out / "requests.har")],
        cwd=out, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    (out / "output.txt").write_text(proc.stdout + proc.stderr)
    assert (out / "report.json").exists(), f"schemathesis wrote no report:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    report = json.loads((out / "report.json").read_text())
    entries = json.loads((out / "requests.har").read_text())["log"]["entries"]
    return FuzzRun(role, proc.returncode, report, entries, proc.stdout + proc.stderr)


def server_errors(entries: list) -> list[str]:
    return [describe(e) for e in entries if e["response"]["status"] >= 500]


def unexplained_refusals(entries: list) -> list[str]:
    """4xx answers that are not a JSON object with a non-empty `message` and their status."""
    bad = []
    for e in entries:
        status = e["response"]["status"]
        if not 400 <= status < 500:
            continue
        try:
            body = json.loads(e["response"]["content"].get("text") or "")
        except ValueError:
            body = None
        ok = (isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"].strip()
              and body.get("status") == status)
        if not ok:
            bad.append(describe(e))
    return bad


def describe(entry: dict) -> str:
    r = entry["response"]
    return (f"{entry['request']['method']} {entry['request']['url']} → {r['status']} "
            f"{(r['content'].get('text') or '')[:200]!r}")


@pytest.fixture(scope="module")
def fuzz_site(tmp_path_factory):
    site = new_site(tmp_path_factory, "fuzz")
    yield site
    site.stop()


@pytest.fixture(scope="module")
def fuzz_runs(fuzz_site, tmp_path_factory, request) -> dict[str, FuzzRun]:
    ARTIFACTS.mkdir(exist_ok=True)
    runs = {role: run_schemathesis(fuzz_site, role, tmp_path_factory.mktemp(f"fuzz-{role}")) for role in ROLES}
    lines = []
    for run in runs.values():
        statuses = collections.Counter(e["response"]["status"] for e in run.entries)
        lines.append(f"fuzz as {run.role}: {run.cases} cases, {len(server_errors(run.entries))} responses >= 500, "
                     f"{len(run.report['failures'])} failure kinds, statuses {dict(sorted(statuses.items()))}")
        (ARTIFACTS / f"fuzz-{run.role}-report.json").write_text(json.dumps(run.report, indent=1))
        (ARTIFACTS / f"fuzz-{run.role}-output.txt").write_text(run.output)
    total = sum(r.cases for r in runs.values())
    lines.append(f"fuzz: {total} cases in total, "
                 f"{sum(len(server_errors(r.entries)) for r in runs.values())} responses >= 500")
    (ARTIFACTS / "fuzz-summary.txt").write_text("\n".join(lines) + "\n")
    request.config.stash.setdefault(REPORT, []).extend(lines)
    return runs


# --- the document --------------------------------------------------------------------


def document_problems(doc: dict) -> list[str]:
    """Why the OpenAPI document is invalid: the OpenAPI 3.1 schema, every component schema
    as JSON Schema 2020-12, every `$ref` resolvable."""
    problems = []
    try:  # an empty config: the fuzz settings (and their token variable) play no part here
        schemathesis.openapi.from_dict(doc, config=schemathesis.Config()).validate()
    except jsonschema_rs.ValidationError as e:
        problems.append(f"OpenAPI 3.1: {e}")
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as e:
            problems.append(f"components.schemas.{name}: {str(e).splitlines()[0]}")
    resolver = Registry().with_resource("urn:doc", Resource.from_contents(
        doc, default_specification=DRAFT202012)).resolver("urn:doc")
    for ref in sorted(set(_refs(doc))):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            problems.append(f"unresolvable $ref {ref}")
    return problems


def _refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def test_openapi_document_validates(fuzz_site):
    r = fuzz_site.call("GET", f"{fuzz_site.api}/openapi.json")
    assert r.status_code == 200
    problems = document_problems(r.json())
    assert not problems, "\n".join(problems)


def test_document_check_notices_a_broken_document(fuzz_site):
    doc = fuzz_site.call("GET", f"{fuzz_site.api}/openapi.json").json()
    broken = copy.deepcopy(doc)
    del broken["info"]["title"]  # required by OpenAPI 3.1
    broken["components"]["schemas"]["Error"]["properties"]["status"]["type"] = "int"
    broken["paths"]["/teams/{team}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/NoSuchSchema"}
    problems = document_problems(broken)
    assert any(p.startswith("OpenAPI 3.1") for p in problems), problems
    assert any(p.startswith("components.schemas.Error") for p in problems), problems
    assert "unresolvable $ref #/components/schemas/NoSuchSchema" in problems, problems


# --- the runs ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_fuzz_finds_no_server_error(fuzz_runs, role):
    run = fuzz_runs[role]
    errors = server_errors(run.entries)
    assert not errors, f"{len(errors)} responses >= 500:\n" + "\n".join(errors[:50])
    assert [f["operations"] for f in run.report["failures"] if f["type"] == "ServerError"] == []


@pytest.mark.parametrize("role", ROLES)
def test_fuzz_refusals_are_json_with_a_message(fuzz_runs, role):
    bad = unexplained_refusals(fuzz_runs[role].entries)
    assert not bad, f"{len(bad)} 4xx answers without a JSON message:\n" + "\n".join(bad[:50])


@pytest.mark.parametrize("role", ROLES)
def test_fuzz_responses_conform_to_the_document(fuzz_runs, role):
    """Status codes, content types, headers and bodies as the document declares them."""
    failures = fuzz_runs[role].failures(acceptance=False)
    assert not failures, "\n".join(failures) + f"\n(details: test-artifacts/fuzz-{role}-output.txt)"


@pytest.mark.parametrize("role", ROLES)
def test_fuzz_document_states_what_the_server_refuses(fuzz_runs, role):
    """A request valid by the document is not refused as malformed (and an invalid one is
    not accepted): a client generated from the document sends nothing the server rejects."""
    failures = fuzz_runs[role].failures(acceptance=True)
    assert not failures, "\n".join(failures) + f"\n(details: test-artifacts/fuzz-{role}-output.txt)"


def test_fuzz_ran_every_operation_and_enough_cases(fuzz_runs):
    for run in fuzz_runs.values():
        assert run.report["complete"] and run.report["stop_reason"] == "completed", run.output[-3000:]
        assert run.report["errors"] == [], run.output[-3000:]
        ops = run.report["operations"]
        assert ops["tested"] == ops["total"] > 0 and ops["errored"] == 0, ops
        assert len(run.entries) >= run.cases > 0
    assert sum(run.cases for run in fuzz_runs.values()) >= MIN_CASES


def test_response_checks_notice_bad_answers():
    """The HAR checks above flag what they are meant to flag."""

    def entry(status, text):
        return {"request": {"method": "GET", "url": "http://x/api/v1/teams"},
                "response": {"status": status, "content": {"text": text}}}

    good = [entry(200, "[]"), entry(404, '{"status": 404, "message": "no team"}')]
    assert server_errors(good) == [] and unexplained_refusals(good) == []
    assert len(server_errors([entry(500, "boom"), entry(503, "{}")])) == 2
    bad = [entry(404, "<html>not found</html>"), entry(400, '{"status": 400}'), entry(403, '{"message": ""}'),
           entry(401, '{"status": 403, "message": "mismatched status"}'), entry(405, "")]
    assert len(unexplained_refusals(bad)) == len(bad)
