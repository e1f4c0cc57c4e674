"""Prometheus alert rules, as data: `aiportal ops rules` prints them as a rule file.

Each group has a promtool unit test in tests/ops/rules/<group>.test.yml that covers every
rule of the group (tests/ops/test_rules.py runs them and checks that none is missing).
Alerts carry `severity` (critical, warning, info) and, where the series has one, `team`:
Alertmanager routes on both (portal/ops/alertmanager.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml


@dataclass(frozen=True)
class Rule:
    alert: str
    expr: str
    hold: str  # the rule's `for`: how long the condition must last before the alert fires
    severity: str
    summary: str
    description: str

    def as_dict(self, hold: str | None = None) -> dict:
        return {"alert": self.alert, "expr": self.expr, "for": hold or self.hold,
                "labels": {"severity": self.severity},
                "annotations": {"summary": self.summary, "description": self.description}}


GROUPS: dict[str, tuple[Rule, ...]] = {
    "aiportal-availability": (
        Rule("AiportalHubDown", 'up{job="aiportal-hub"} == 0 or aiportal_hub_up == 0', "2m", "critical",
             "The hub does not answer ({{ $labels.job }} at {{ $labels.instance }})",
             "Logins, spawns and the portal's team pages fail while the hub is down."),
        Rule("AiportalPortalDown", 'up{job="aiportal-portal"} == 0', "2m", "critical",
             "The portal service does not answer its scrape at {{ $labels.instance }}",
             "Team pages, uploads and the REST API are unavailable."),
        Rule("AiportalStorageDown", "aiportal_storage_up == 0", "2m", "critical",
             "The S3 storage server does not answer the portal",
             "Datasets, uploads and share links fail; running servers cannot read or write their buckets."),
    ),
    "aiportal-spawns": (
        Rule("AiportalSpawnFailures",
             "sum by (team, reason) (increase(aiportal_team_spawn_failures_total[15m])) >= 3", "1m", "warning",
             "Team {{ $labels.team }}: {{ $value | humanize }} server starts failed ({{ $labels.reason }}) "
             "in 15 minutes",
             "reason quota: the team is at its limits; image: the image is missing or does not pull; "
             "timeout: servers do not come up in time; error: see the hub's log."),
    ),
    "aiportal-storage": (
        Rule("AiportalTeamStorageNearQuota",
             "aiportal_team_storage_bytes / aiportal_team_storage_quota_bytes > 0.9", "15m", "warning",
             "Team {{ $labels.team }} uses {{ $value | humanizePercentage }} of its storage quota",
             "Uploads are refused once the quota is reached: the team cleans up or an operator raises it."),
    ),
    "aiportal-gpus": (
        Rule("AiportalGpuHeldIdle",
             'avg_over_time(aiportal_gpu_utilization_ratio{team!=""}[15m]) < 0.05', "2h", "warning",
             "GPU {{ $labels.gpu }} held by team {{ $labels.team }} has been idle for 2 hours",
             "A server holds the GPU without using it; other teams may be waiting for one."),
    ),
}


def rule_file(hold: str | None = None) -> dict:
    """The rule file; `hold` replaces every rule's `for` (drills: see an alert through quickly)."""
    return {"groups": [{"name": name, "rules": [rule.as_dict(hold) for rule in rules]}
                       for name, rules in GROUPS.items()]}


def render(hold: str | None = None) -> str:
    return yaml.safe_dump(rule_file(hold), sort_keys=False, width=1000)
