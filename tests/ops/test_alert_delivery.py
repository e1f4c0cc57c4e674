"""Alerts from a real portal to people: the Google Chat adapter on its own, then the whole
path: Prometheus scrapes the running hub and portal, the storage server stops, and the
alert reaches a mail box (aiosmtpd), a Slack-shaped webhook and, through the portal's
adapter, a Google Chat-shaped webhook; then it resolves when storage is back."""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml

from portal.launcher import Portal
from portal.ops.rules import render as render_rules
from portal.ports import free_port
from tests.conftest import TEST_CONFIG, remove_containers, write_config
from tests.http import HTTP_TIMEOUT
from tests.ops.prom import Alertmanager, Prometheus
from tests.ops.sinks import wait_until

CHAT_SECRET = "key=chat-key-" + uuid.uuid4().hex  # what a Chat webhook URL carries; never logged


@dataclass
class Site:
    portal: Portal
    files: Path
    adapter_token: str
    metrics_token: str

    def adapter(self, receiver: str) -> str:
        return f"{self.portal.url}services/portal/alerts/google-chat/{receiver}"


@pytest.fixture(scope="module")
def site(tmp_path_factory, smtp_sink, http_sink):
    """A portal with an `alerts:` section whose mail, Slack and Chat go to the local sinks,
    and AIPORTAL_METRICS_TOKEN set; its own storage server, so stopping it hurts no other test."""
    data_dir = tmp_path_factory.mktemp("alerting")
    files = data_dir / "secrets-for-alerts"
    files.mkdir()
    secrets = {"adapter-token": uuid.uuid4().hex, "metrics-token": "scrape-" + uuid.uuid4().hex,
               "chat-url": f"{http_sink.url}/chat/space?{CHAT_SECRET}", "slack-url": f"{http_sink.url}/slack/hook",
               "dead-chat-url": f"http://127.0.0.1:{free_port()}/chat?{CHAT_SECRET}"}
    for name, value in secrets.items():
        (files / name).write_text(value + "\n")
    alerts = {
        "smtp": {"smarthost": f"127.0.0.1:{smtp_sink.port}", "from": "alerts@portal.test", "require_tls": False},
        "google_chat_token_file": str(files / "adapter-token"),
        "receivers": [
            {"name": "oncall", "email": {"to": ["oncall@portal.test"]}, "slack": {"url_file": str(files / "slack-url")},
             "google_chat": {"url_file": str(files / "chat-url")}},
            {"name": "chat-down", "google_chat": {"url_file": str(files / "dead-chat-url")}},
            {"name": "chat-unset", "google_chat": {"url_file": str(files / "no-such-file")}},
            {"name": "slack-only", "slack": {"url_file": str(files / "slack-url")}},
        ],
        "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h",
    }
    path = write_config(data_dir / "portal.yaml", dict(TEST_CONFIG, alerts=alerts))
    p = Portal(data_dir, str(path), port=free_port(), quiet=True,
               environ={"AIPORTAL_METRICS_TOKEN": secrets["metrics-token"]}).start()
    yield Site(p, files, secrets["adapter-token"], secrets["metrics-token"])
    p.stop()
    remove_containers(p)


def notification(status: str = "firing", group: str = "{}:{alertname=\"AiportalStorageDown\"}") -> dict:
    """Alertmanager's webhook body (version 4) for one or two alerts."""
    alerts = [{"status": status, "labels": {"alertname": "AiportalStorageDown", "severity": "critical",
                                            "instance": "portal:8000"},
               "annotations": {"summary": "The S3 storage server does not answer the portal"},
               "startsAt": "2026-11-20T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "a1"},
              {"status": status, "labels": {"alertname": "AiportalStorageDown", "severity": "critical",
                                            "team": "team-a"}, "annotations": {}}]
    return {"version": "4", "groupKey": group, "status": status, "receiver": "oncall",
            "groupLabels": {"alertname": "AiportalStorageDown"},
            "commonLabels": {"alertname": "AiportalStorageDown", "severity": "critical"},
            "commonAnnotations": {}, "externalURL": "http://alertmanager.test:9093", "alerts": alerts}


def post(site: Site, receiver: str, body=None, token: str | None = None, data: bytes | None = None):
    headers = {"Authorization": f"Bearer {site.adapter_token if token is None else token}"} if token != "" else {}
    return requests.post(site.adapter(receiver), json=body if data is None else None, data=data,
                         headers=headers, timeout=HTTP_TIMEOUT)


def test_adapter_posts_the_chat_message_into_one_thread_per_group(site, http_sink):
    before = len(http_sink.posts)
    r = post(site, "oncall", notification())
    assert r.status_code == 200, r.text
    assert r.json() == {"receiver": "oncall", "alerts": 2, "posted": True}
    path, headers, body = http_sink.posts[before]
    url = urlsplit(path)
    assert url.path == "/chat/space" and headers["Content-Type"].startswith("application/json")
    query = parse_qs(url.query)
    assert query["key"] == [CHAT_SECRET.split("=", 1)[1]]  # the receiver's own URL, its key kept
    assert query["messageReplyOption"] == ["REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"]
    assert body["text"].splitlines() == [
        "*[FIRING:2] AiportalStorageDown* (critical)",
        "🔴 The S3 storage server does not answer the portal (instance=portal:8000)",
        "🔴 AiportalStorageDown (team=team-a)",
        "<http://alertmanager.test:9093|Open Alertmanager>"]

    assert post(site, "oncall", notification("resolved")).status_code == 200
    resolved_path, _, resolved = http_sink.posts[before + 1]
    assert resolved["text"].startswith("*[RESOLVED] AiportalStorageDown*")
    assert "✅ The S3 storage server does not answer the portal" in resolved["text"]
    assert parse_qs(urlsplit(resolved_path).query)["threadKey"] == query["threadKey"]  # the same thread
    assert post(site, "oncall", notification(group="{}:{alertname=\"Other\"}")).status_code == 200
    assert parse_qs(urlsplit(http_sink.posts[before + 2][0]).query)["threadKey"] != query["threadKey"]


@pytest.mark.parametrize(("receiver", "kwargs", "status", "says"), [
    ("oncall", {"token": ""}, 401, "Bearer token"),
    ("oncall", {"token": "not-the-secret"}, 401, "Bearer token"),
    ("nobody", {}, 404, "no Google Chat receiver 'nobody'"),
    ("slack-only", {}, 404, "no Google Chat receiver 'slack-only'"),
    ("oncall", {"data": b"{not json"}, 400, "not valid JSON"),
    ("oncall", {"body": [1]}, 400, "body: must be an object"),
    ("oncall", {"body": {**notification(), "status": "burning"}}, 400, "status: must be 'firing' or 'resolved'"),
    ("oncall", {"body": {**notification(), "alerts": [{"status": "firing", "labels": "x"}]}}, 400,
     "alerts[0].labels: must be an object"),
    ("oncall", {"body": {**notification(), "alerts": []}}, 400, "alerts: must be a non-empty list"),
    ("chat-down", {"body": notification()}, 502, "Google Chat could not be reached"),
    ("chat-unset", {"body": notification()}, 503, "alerts.receivers[2].google_chat.url_file cannot be read"),
])
def test_adapter_refuses_with_a_clear_json_error(site, http_sink, receiver, kwargs, status, says):
    before = len(http_sink.posts)
    r = post(site, receiver, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json" and says in r.json()["message"]
    assert CHAT_SECRET not in r.text and len(http_sink.posts) == before  # nothing reached Chat


def test_chat_urls_never_reach_the_logs(site):
    post(site, "chat-down", notification())
    assert CHAT_SECRET not in (site.portal.data.root / "logs" / "jupyterhub.log").read_text()


def ops(capsys, *args: str) -> str:
    from portal.cli import main

    assert main(["ops", *args]) == 0
    return capsys.readouterr().out


@pytest.mark.timeout(180)
def test_storage_outage_reaches_mail_slack_and_chat_then_resolves(site, smtp_sink, http_sink, tmp_path, capsys):
    t0 = time.monotonic()
    am = Alertmanager(tmp_path / "alertmanager", yaml.safe_load(
        ops(capsys, "alertmanager", "--config", str(site.portal.config_path), "--url", site.portal.url)))
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(hold="1s"))  # a drill: every rule fires on its first evaluation
    (tmp_path / "metrics-token").write_text(site.metrics_token)
    scrape = yaml.safe_load(ops(capsys, "prometheus", "--url", site.portal.url, "--token-file",
                                str(tmp_path / "metrics-token"), "--interval", "4s", "--rules", str(rules),
                                "--alertmanager", f"127.0.0.1:{am.port}"))
    with am, Prometheus(tmp_path / "prometheus", scrape) as prom:
        # the one token scrapes both: the hub knows it as its `prometheus` service (read:metrics)
        prom.wait_for('up{job="aiportal-hub"} == 1 and on() jupyterhub_active_users{period="24h"} >= 0')
        prom.wait_for('up{job="aiportal-portal"} == 1 and on() aiportal_storage_up == 1')
        up_at = time.monotonic()

        def mail(state: str):
            return [s for s in smtp_sink.subjects() if s.startswith(f"[{state}] AiportalStorageDown")]

        def slack(state: str):
            return [a["title"] for b in http_sink.bodies("/slack/hook") for a in b.get("attachments", [])
                    if a.get("title", "").startswith(f"[{state}] AiportalStorageDown")]

        def chat(state: str):
            return [b["text"] for b in http_sink.bodies("/chat/space") if b["text"].startswith(
                f"*[{state}] AiportalStorageDown* (critical)") and "The S3 storage server" in b["text"]]

        site.portal.storage.stop()
        try:
            for find, where in ((mail, "mail"), (slack, "Slack post"), (chat, "Google Chat post")):
                wait_until(functools.partial(find, "FIRING:1"), 45, f"{where} of the firing alert")
            fired_at = time.monotonic()
        finally:
            site.portal.storage.launch(tied=True)
            site.portal.storage.wait_ready()
        for find, where in ((mail, "mail"), (slack, "Slack post"), (chat, "Google Chat post")):
            wait_until(functools.partial(find, "RESOLVED"), 45, f"{where} of the resolved alert")
        assert not prom.query("aiportal_storage_up == 0")["result"]
    print(f"scraping in {up_at - t0:.1f} s, fired after {fired_at - up_at:.1f} s, "
          f"resolved after {time.monotonic() - fired_at:.1f} s")
