"""`aiportal ops alertmanager` and `aiportal ops prometheus`: configs that amtool and promtool
accept, routing by severity and team (amtool's own route tester), and clear refusals."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from portal import config as portal_config
from portal.cli import main
from tests.conftest import TEST_CONFIG

SECRET = "hooks-secret-a1b2c3"


def alerts_section(tmp: Path) -> dict:
    for name in ("smtp-password", "slack-url", "chat-url", "adapter-token"):
        (tmp / name).write_text(f"{SECRET}-{name}\n")
    return {
        "smtp": {"smarthost": "mail.example.org:587", "from": "alerts@example.org", "username": "alerts",
                 "password_file": str(tmp / "smtp-password")},
        "google_chat_token_file": str(tmp / "adapter-token"),
        "receivers": [
            {"name": "oncall", "email": {"to": ["oncall@example.org"]}, "slack": {"url_file": str(tmp / "slack-url")}},
            {"name": "team-a-chat", "google_chat": {"url_file": str(tmp / "chat-url")}},
            {"name": "ops-mail", "email": {"to": ["ops@example.org", "lead@example.org"]}},
        ],
        "default_receiver": "ops-mail",
        "routes": [
            {"receiver": "oncall", "severities": ["critical"], "continue": True},
            {"receiver": "team-a-chat", "teams": ["team-a"]},
        ],
        "group_wait": "10s",
    }


def ops(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["ops", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def generated_alertmanager(tmp_path, capsys, alerts: dict) -> tuple[int, str, str]:
    path = tmp_path / "portal.yaml"
    path.write_text(yaml.safe_dump(dict(TEST_CONFIG, alerts=alerts)))
    return ops(capsys, "alertmanager", "--config", str(path), "--url", "https://portal.example.org/")


@pytest.fixture
def am_config(tmp_path, capsys) -> Path:
    rc, out, err = generated_alertmanager(tmp_path, capsys, alerts_section(tmp_path))
    assert rc == 0, err
    assert SECRET not in out  # secrets stay in their files
    path = tmp_path / "alertmanager.yml"
    path.write_text(out)
    return path


def amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["amtool", *args], capture_output=True, text=True, timeout=30)


def test_amtool_accepts_the_generated_config(am_config):
    result = amtool("check-config", str(am_config))
    assert result.returncode == 0, result.stdout + result.stderr
    generated = yaml.safe_load(am_config.read_text())
    hook = generated["receivers"][1]["webhook_configs"][0]
    assert hook["url"] == "https://portal.example.org/services/portal/alerts/google-chat/team-a-chat"
    assert hook["http_config"]["authorization"]["credentials_file"].endswith("adapter-token")
    assert generated["global"]["smtp_auth_password_file"].endswith("smtp-password")
    assert generated["route"]["group_wait"] == "10s" and generated["route"]["repeat_interval"] == "4h"


@pytest.mark.parametrize(("labels", "receivers"), [
    (["severity=critical", "team=team-a"], "oncall,team-a-chat"),  # continue: on to the team's route
    (["severity=critical", "alertname=AiportalStorageDown"], "oncall"),
    (["severity=warning", "team=team-a"], "team-a-chat"),
    (["severity=warning", "team=team-b"], "ops-mail"),
    (["severity=info"], "ops-mail"),
])
def test_alerts_are_routed_by_severity_and_team(am_config, labels, receivers):
    result = amtool("config", "routes", "test", f"--config.file={am_config}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


@pytest.mark.parametrize(("change", "field"), [
    (lambda a: a["routes"].append({"receiver": "nobody"}), "alerts.routes[2].receiver: no receiver 'nobody'"),
    (lambda a: a.pop("smtp"), "alerts.receivers[0].email: mail needs alerts.smtp"),
    (lambda a: a.pop("google_chat_token_file"), "alerts.receivers[1].google_chat: needs alerts.google_chat_token_file"),
    (lambda a: a["receivers"].append({"name": "oncall"}), "alerts.receivers[3].name: duplicate receiver 'oncall'"),
    (lambda a: a["receivers"][1]["google_chat"].update(url_file="chat-url"),
     "alerts.receivers[1].google_chat.url_file: 'chat-url' is not an absolute path"),
    (lambda a: a["routes"][0].update(severities=["urgent"]), "alerts.routes[0].severities[0]"),
    (lambda a: a.update(group_wait="soon"), "alerts.group_wait: 'soon' is not a duration"),
])
def test_a_bad_alerts_section_is_refused_naming_the_field(tmp_path, capsys, change, field):
    alerts = alerts_section(tmp_path)
    change(alerts)
    rc, out, err = generated_alertmanager(tmp_path, capsys, alerts)
    assert rc == 1 and out == ""
    assert field in err and "Traceback" not in err


def test_no_receiver_is_refused(tmp_path, capsys):
    rc, _, err = generated_alertmanager(tmp_path, capsys, {})
    assert rc == 1 and "alerts.receivers: no receiver is configured" in err
    portal_config.validate(dict(TEST_CONFIG))  # a portal without alerts is still a valid portal


def test_prometheus_config_passes_promtool(tmp_path, capsys):
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    rc, out, err = ops(capsys, "prometheus", "--url", "https://portal.example.org/prefix/", "--token-file",
                       str(token), "--rules", str(tmp_path / "rules.yml"), "--alertmanager", "127.0.0.1:9093",
                       "--interval", "15s")
    assert rc == 0, err
    assert main(["ops", "rules"]) == 0
    (tmp_path / "rules.yml").write_text(capsys.readouterr().out)
    (tmp_path / "prometheus.yml").write_text(out)
    result = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"]: job for job in yaml.safe_load(out)["scrape_configs"]}
    assert jobs["aiportal-hub"]["metrics_path"] == "/prefix/hub/metrics"
    assert jobs["aiportal-portal"]["metrics_path"] == "/prefix/services/portal/metrics"
    assert all(job["scheme"] == "https" and job["authorization"]["credentials_file"] == str(token)
               for job in jobs.values())


@pytest.mark.parametrize(("args", "message"), [
    (["--url", "portal.example.org"], "--url: 'portal.example.org' is not the portal's public URL"),
    (["--url", "http://p:8000/", "--interval", "often"], "--interval: 'often' is not a duration"),
])
def test_bad_prometheus_arguments_are_refused(tmp_path, capsys, args, message):
    rc, out, err = ops(capsys, "prometheus", "--token-file", str(tmp_path / "t"), *args)
    assert rc == 1 and out == "" and message in err


def test_the_scrape_token_is_a_hub_service_that_may_only_read_metrics(tmp_path, monkeypatch):
    from tests.portal.test_hub_config import load_hub_config

    monkeypatch.setenv("AIPORTAL_METRICS_TOKEN", "scrape-token-123456")
    c = load_hub_config(tmp_path, monkeypatch, TEST_CONFIG)
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert services["prometheus"] == {"name": "prometheus", "api_token": "scrape-token-123456"}
    roles = [r for r in c.JupyterHub.load_roles if "prometheus" in r.get("services", [])]
    assert [r["scopes"] for r in roles] == [["read:metrics"]]
    monkeypatch.delenv("AIPORTAL_METRICS_TOKEN")
    c = load_hub_config(tmp_path, monkeypatch, TEST_CONFIG)
    assert [s["name"] for s in c.JupyterHub.services if s["name"] == "prometheus"] == []
