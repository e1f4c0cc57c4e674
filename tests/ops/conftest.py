"""Fixtures of the operations tests (tests/ops):

- `prometheus`: a real Prometheus for the session that scrapes nothing; its query API
  judges PromQL (tests/ops/prom.py).
- `smtp_sink`: an aiosmtpd SMTP server on a free port keeping the mails it gets (tests/ops/sinks.py).
- `http_sink`: an HTTP receiver on a free port keeping the JSON POSTed to it, in Slack's
  and Google Chat's webhook shapes alike.
"""

from __future__ import annotations

import pytest

from tests.ops.prom import Prometheus
from tests.ops.sinks import HttpSink, SmtpSink


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory):
    with Prometheus(tmp_path_factory.mktemp("prometheus"), {"global": {"scrape_interval": "1m"}}) as prom:
        yield prom


@pytest.fixture(scope="module")
def smtp_sink():
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture(scope="module")
def http_sink():
    sink = HttpSink()
    yield sink
    sink.stop()
