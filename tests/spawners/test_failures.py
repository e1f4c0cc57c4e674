"""Why a failed spawn is counted as it is, and its record in the portal database (the counts
as the portal exports them, from real spawns: tests/portal/test_metrics.py)."""

from tornado import web

from portal.db import Database
from portal.metrics import spawn_failure_counts
from spawners.failures import SpawnFailures, classify
from spawners.team import refuse


def test_reasons_of_failed_spawns():
    assert classify(refuse("team team-a uses 2 of 2 GPUs", failure="quota")) == "quota"
    assert classify(refuse("the container engine could not pull img", 500, failure="image")) == "image"
    gave_up = TimeoutError()
    gave_up.reason = "timeout"  # as JupyterHub's User.spawn and _wait_up mark their timeouts
    assert classify(gave_up) == "timeout"
    other = web.HTTPError(500, "boom")
    other.reason = "error"  # the hub's mark on any other HTTPError
    assert classify(other) == classify(refuse("no such profile")) == classify(RuntimeError()) == "error"


def test_failures_are_rows_the_portal_counts(tmp_path):
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    record = SpawnFailures(url)
    for team, reason in (("team-a", "quota"), ("team-a", "quota"), ("team-b", "image")):
        record(team, reason)
    assert spawn_failure_counts(Database(url)) == {("team-a", "quota"): 2, ("team-b", "image"): 1}
