"""The portal's reader of Prometheus' HTTP API (`/api/v1/query_range`), for the usage charts.

Only the portal's own fixed queries are sent (portal/usage_charts.py): nothing a browser
sends becomes PromQL. Every failure is a ``PrometheusError`` whose status is what the
portal answers (503: Prometheus unreachable, too slow or unavailable; 502: it answered,
but refused or failed) and whose message names the cause without the token.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

TOKEN_ENV = "AIPORTAL_PROMETHEUS_TOKEN"


class PrometheusError(Exception):
    """Reading Prometheus failed; `status` is what the portal answers, `message` says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Prometheus:
    """Where Prometheus' API is and how to reach it; the token stays out of repr (and logs)."""

    url: str
    ca_bundle: str | None = None
    timeout: float = 10
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, config, environ) -> Prometheus | None:
        """The `monitoring:` section and the token from the environment; None: no Prometheus."""
        section = config.raw["monitoring"]
        if not section["prometheus_url"]:
            return None
        return cls(section["prometheus_url"].rstrip("/"), section["ca_bundle"], section["timeout"],
                   environ.get(TOKEN_ENV) or None)

    async def query_range(self, query: str, start: int, end: int, step: int) -> list[dict]:
        """The result matrix of `query` from `start` to `end` (Unix seconds) every `step` seconds:
        ``[{"metric": {labels}, "values": [[t, value], …]}, …]``, values as floats or None."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        request = HTTPRequest(f"{self.url}/api/v1/query_range?" + urlencode(
            {"query": query, "start": start, "end": end, "step": step}), headers=headers,
            connect_timeout=self.timeout, request_timeout=self.timeout, ca_certs=self.ca_bundle)
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except HTTPClientError as e:  # 599: the timeout, or the connection closed early
            raise PrometheusError(503, f"Prometheus did not answer within {self.timeout:g} s ({e.message})") from None
        except OSError as e:  # refused, unknown host, TLS
            raise PrometheusError(503, f"Prometheus is unreachable: {e.strerror or e}") from None
        return _matrix(response.code, response.body)


def _matrix(code: int, body: bytes) -> list[dict]:
    if code in (401, 403):  # Prometheus has no login of its own: a proxy before it refused
        raise PrometheusError(502, f"Prometheus refused the portal's credentials ({code}): check {TOKEN_ENV}")
    try:
        answer = json.loads(body)
        if not isinstance(answer, dict):
            raise ValueError
    except ValueError:
        raise PrometheusError(502 if code < 500 else 503, f"Prometheus answered {code} without its API's JSON: "
                              "is monitoring.prometheus_url the base URL of Prometheus?") from None
    if answer.get("status") != "success" or code != 200:
        said = f"{answer.get('errorType', 'error')}: {answer.get('error', '')}"[:300]
        raise PrometheusError(503 if code >= 500 or code == 429 else 502, f"Prometheus answered {code}: {said}")
    try:
        if answer["data"]["resultType"] != "matrix":
            raise ValueError
        return [{"metric": dict(s["metric"]), "values": [(int(t), _number(v)) for t, v in s["values"]]}
                for s in answer["data"]["result"]]
    except (KeyError, TypeError, ValueError):
        raise PrometheusError(502, "Prometheus answered something other than a range query's result") from None


def _number(text: str) -> float | None:
    """A sample value as JSON can carry it: NaN and ±Inf (valid in Prometheus) become None."""
    value = float(text)
    return value if math.isfinite(value) else None
