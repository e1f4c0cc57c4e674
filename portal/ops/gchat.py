"""The Google Chat message for one Alertmanager webhook notification (the portal's adapter,
portal/handlers/alerts.py, posts it to the receiver's Chat webhook).

A notification's firing and resolved messages share a thread (keyed by Alertmanager's
groupKey), so a space reads as one conversation per problem.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode, urlsplit, urlunsplit

MAX_LISTED = 20  # alerts spelled out in one message; Chat caps a message at 4,096 characters
MAX_CHARS = 4000


def _object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: must be an object")
    return value


def _strings(value, where: str) -> dict[str, str]:
    value = _object(value, where)
    for key, item in value.items():
        if not isinstance(item, str):
            raise ValueError(f"{where}.{key}: must be a string")
    return value


def check(payload) -> dict:
    """The payload if it has the shape of Alertmanager's webhook (version 4); ValueError
    naming the first bad field otherwise."""
    payload = _object(payload, "body")
    if payload.get("status") not in ("firing", "resolved"):
        raise ValueError("status: must be 'firing' or 'resolved'")
    if not isinstance(payload.get("groupKey"), str):
        raise ValueError("groupKey: must be a string")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise ValueError("alerts: must be a non-empty list")
    for i, alert in enumerate(alerts):
        _object(alert, f"alerts[{i}]")
        if alert.get("status") not in ("firing", "resolved"):
            raise ValueError(f"alerts[{i}].status: must be 'firing' or 'resolved'")
        _strings(alert.get("labels"), f"alerts[{i}].labels")
        _strings(alert.get("annotations", {}), f"alerts[{i}].annotations")
    _strings(payload.get("commonLabels", {}), "commonLabels")
    return payload


def _line(alert: dict) -> str:
    labels, annotations = alert["labels"], alert.get("annotations", {})
    where = ", ".join(f"{k}={labels[k]}" for k in ("team", "gpu", "instance") if labels.get(k))
    icon = "🔴" if alert["status"] == "firing" else "✅"
    return f"{icon} {annotations.get('summary') or labels.get('alertname', 'alert')}" + (f" ({where})" if where else "")


def message(payload: dict) -> dict:
    """Chat's message body for a checked payload: a plain-text message with Chat's *bold*."""
    common = payload.get("commonLabels", {})
    alerts = payload["alerts"]
    firing = sum(a["status"] == "firing" for a in alerts)
    state = f"FIRING:{firing}" if payload["status"] == "firing" else "RESOLVED"
    title = common.get("alertname") or ", ".join(sorted({a["labels"].get("alertname", "?") for a in alerts}))
    head = f"*[{state}] {title}*" + (f" ({common['severity']})" if common.get("severity") else "")
    lines = [head, *map(_line, alerts[:MAX_LISTED])]
    if len(alerts) > MAX_LISTED:
        lines.append(f"… and {len(alerts) - MAX_LISTED} more")
    if isinstance(payload.get("externalURL"), str) and payload["externalURL"].startswith(("http://", "https://")):
        lines.append(f"<{payload['externalURL']}|Open Alertmanager>")
    text = "\n".join(lines)
    return {"text": text if len(text) <= MAX_CHARS else text[:MAX_CHARS - 1] + "…"}


def thread_url(webhook_url: str, payload: dict) -> str:
    """The Chat webhook URL that posts into the notification group's thread."""
    key = hashlib.sha256(payload["groupKey"].encode()).hexdigest()[:32]
    parts = urlsplit(webhook_url)
    query = "&".join(filter(None, [parts.query, urlencode({
        "threadKey": key, "messageReplyOption": "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"})]))
    return urlunsplit(parts._replace(query=query))
