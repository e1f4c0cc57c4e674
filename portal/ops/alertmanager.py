"""Alertmanager's configuration from portal.yaml's `alerts:` section (`aiportal ops alertmanager`).

Receivers send mail (SMTP), post to Slack, or to Google Chat through the portal's adapter
(portal/handlers/alerts.py): Alertmanager has no Google Chat receiver, so it posts its
webhook to the portal, which forwards a Chat message. Routes pick receivers by the alerts'
`severity` and `team` labels (portal/ops/rules.py). Secrets stay in files the config names
(SMTP password, Slack URL, the adapter's bearer secret): the generated file holds none.
"""

from __future__ import annotations

import yaml

ADAPTER_PATH = "services/portal/alerts/google-chat/"


def alert_problems(data: dict) -> list[str]:
    """Cross-references of a schema-valid `alerts:` section, as 'path: reason' lines."""
    alerts = data.get("alerts") if isinstance(data.get("alerts"), dict) else {}
    receivers = [r for r in alerts.get("receivers") or [] if isinstance(r, dict)]
    problems, names = [], {}
    for i, receiver in enumerate(receivers):
        name = receiver.get("name")
        if name in names:
            problems.append(f"alerts.receivers[{i}].name: duplicate receiver {name!r} "
                            f"(first at alerts.receivers[{names[name]}])")
        names.setdefault(name, i)
        if "email" in receiver and "smtp" not in alerts:
            problems.append(f"alerts.receivers[{i}].email: mail needs alerts.smtp (smarthost and from)")
        if "google_chat" in receiver and not alerts.get("google_chat_token_file"):
            problems.append(f"alerts.receivers[{i}].google_chat: needs alerts.google_chat_token_file, the "
                            "secret Alertmanager sends to the portal's Google Chat adapter")
    refs = [("alerts.default_receiver", alerts.get("default_receiver"))]
    refs += [(f"alerts.routes[{i}].receiver", r.get("receiver")) for i, r in enumerate(alerts.get("routes") or [])
             if isinstance(r, dict)]
    problems += [f"{where}: no receiver {name!r} under alerts.receivers" for where, name in refs
                 if isinstance(name, str) and name not in names]
    return problems


def _matchers(route: dict) -> list[str]:
    return [f'{label}=~"{"|".join(route[key])}"' for key, label in (("severities", "severity"), ("teams", "team"))
            if route.get(key)]


def _receiver(receiver: dict, alerts: dict, portal_url: str) -> dict:
    out: dict = {"name": receiver["name"]}
    if "email" in receiver:
        out["email_configs"] = [{"to": ", ".join(receiver["email"]["to"]), "send_resolved": True}]
    if "slack" in receiver:
        slack = receiver["slack"]
        out["slack_configs"] = [{"api_url_file": slack["url_file"], "send_resolved": True,
                                 **({"channel": slack["channel"]} if slack.get("channel") else {}),
                                 "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}"}]
    if "google_chat" in receiver:
        out["webhook_configs"] = [{
            "url": portal_url.rstrip("/") + "/" + ADAPTER_PATH + receiver["name"], "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer",
                                              "credentials_file": alerts["google_chat_token_file"]}}}]
    return out


def config(alerts: dict, portal_url: str) -> dict:
    """Alertmanager's config for a validated `alerts:` section (defaults filled in); the
    Google Chat adapter is reached at `portal_url` (the portal's public URL)."""
    receivers = alerts["receivers"]
    if not receivers:
        raise ValueError("alerts.receivers: no receiver is configured")
    smtp = alerts.get("smtp")
    glob = {}
    if smtp:
        glob = {"smtp_smarthost": smtp["smarthost"], "smtp_from": smtp["from"],
                "smtp_require_tls": smtp["require_tls"]}
        if smtp.get("username"):
            glob["smtp_auth_username"] = smtp["username"]
        if smtp.get("password_file"):
            glob["smtp_auth_password_file"] = smtp["password_file"]
    route = {"receiver": alerts["default_receiver"] or receivers[0]["name"], "group_by": ["alertname", "team"],
             **{key: alerts[key] for key in ("group_wait", "group_interval", "repeat_interval")}}
    if alerts["routes"]:
        route["routes"] = [{"receiver": r["receiver"], "matchers": _matchers(r), "continue": r["continue"]}
                           for r in alerts["routes"]]
    return {**({"global": glob} if glob else {}), "route": route,
            "receivers": [_receiver(r, alerts, portal_url) for r in receivers]}


def render(alerts: dict, portal_url: str) -> str:
    return yaml.safe_dump(config(alerts, portal_url), sort_keys=False, width=1000)
