"""Prometheus' config for one portal (`aiportal ops prometheus`): the hub's and the portal's
metrics through the public URL, both with the one Bearer token (AIPORTAL_METRICS_TOKEN,
which the hub also knows as its `prometheus` service), the rule file and Alertmanager."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import yaml

JOBS = {"aiportal-hub": "hub/metrics", "aiportal-portal": "services/portal/metrics"}
_DURATION = re.compile(r"^([0-9]+)(s|m|h)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> int:
    """Seconds of a duration such as 30s, 1m or 2h; ValueError otherwise."""
    match = _DURATION.match(duration)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{duration!r} is not a duration such as 30s, 1m or 2h")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def config(public_url: str, token_file: str, *, interval: str = "30s", rules: str | None = None,
           alertmanager: str | None = None) -> dict:
    """Raises ValueError naming the bad argument."""
    url = urlsplit(public_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"--url: {public_url!r} is not the portal's public URL (http[s]://host[:port]/)")
    try:
        timeout = min(seconds(interval), 10)  # a scrape may not outlast its interval
    except ValueError as e:
        raise ValueError(f"--interval: {e}") from None
    prefix = url.path.rstrip("/") + "/"
    out: dict = {"global": {"scrape_interval": interval, "scrape_timeout": f"{timeout}s",
                            "evaluation_interval": interval}}
    if rules:
        out["rule_files"] = [rules]
    if alertmanager:
        out["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    out["scrape_configs"] = [{"job_name": job, "scheme": url.scheme, "metrics_path": prefix + path,
                              "authorization": {"type": "Bearer", "credentials_file": token_file},
                              "static_configs": [{"targets": [url.netloc]}]} for job, path in JOBS.items()]
    return out


def render(public_url: str, token_file: str, **options) -> str:
    return yaml.safe_dump(config(public_url, token_file, **options), sort_keys=False)
