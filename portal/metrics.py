"""What Prometheus scrapes from the portal: team quotas and use, storage, promotions, and
counters of what happens in the service, in one private registry per app (never the
process-wide default one, so two apps in one process, as in tests, do not mix).

Gauges are computed at scrape time from what the portal already knows: the hub's groups
and active users (the operators' overview, portal/overview.py), the usage cache, the
promotion records. `Metrics.scrape` gathers that asynchronously into a `Snapshot`, then
renders it with the counters in one synchronous step. Label values are bounded: teams,
declared profiles, modes, statuses; never user names or object keys.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter as Tally
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from .db import Promotion
from .overview import TeamUse, overview
from .teams import Team, portal_groups

log = logging.getLogger(__name__)

UNKNOWN = "unknown"  # the profile label of a server whose profile is no longer declared
QUOTAS = {  # quota key: metric name suffix, HELP text
    "gpus": ("gpus_quota", "GPUs the team's servers may hold at once"),
    "cpu": ("cpu_quota", "CPUs the team's servers may hold at once"),
    "memory": ("memory_quota_bytes", "Memory the team's servers may hold at once, in bytes"),
    "storage": ("storage_quota_bytes", "Bytes the team's bucket may store"),
}


@dataclass
class Snapshot:
    """What the portal knows at one scrape; team figures are empty when the hub is down."""

    hub_up: bool
    storage_up: bool
    gpus: int
    uses: list[TeamUse] = field(default_factory=list)
    servers: Mapping[tuple[str, str, str], int] = field(default_factory=dict)  # (team, profile, mode)
    storage: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # team: (bytes, objects)
    promotions: Mapping[tuple[str, str], int] | None = None  # (team, status); None: not configured


def servers_by_profile(teams: list[Team], users: list[dict], profiles: Mapping) -> Tally:
    """Active servers per (team, profile, mode); an undeclared profile is UNKNOWN."""
    names = {t.name for t in teams}
    tally = Tally()
    for user in users:
        for server in (user.get("servers") or {}).values():
            options = (server or {}).get("user_options") or {}
            if options.get("team") in names:
                profile = profiles.get(options.get("profile"))
                tally[options["team"], profile.name if profile else UNKNOWN, profile.mode if profile else UNKNOWN] += 1
    return tally


class PortalCollector(Collector):
    """Renders the snapshot set by `Metrics.scrape` (nothing outside a scrape)."""

    def __init__(self):
        self.snapshot: Snapshot | None = None

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        if s is None:
            return
        yield GaugeMetricFamily("aiportal_hub_up", "Whether the hub API answered this scrape", int(s.hub_up))
        yield GaugeMetricFamily("aiportal_storage_up", "Whether the storage server answered this scrape",
                                int(s.storage_up))
        yield GaugeMetricFamily("aiportal_gpus", "GPUs of the machine's inventory", s.gpus)
        quotas = {key: GaugeMetricFamily(f"aiportal_team_{name}", help_, labels=["team"])
                  for key, (name, help_) in QUOTAS.items()}
        held = {key: GaugeMetricFamily(f"aiportal_team_{name}", help_, labels=["team"]) for key, name, help_ in (
            ("gpus", "gpus_held", "GPUs held by the team's active servers"),
            ("cpu", "cpu_held", "CPUs held by the team's active servers"),
            ("memory", "memory_held_bytes", "Memory held by the team's active servers, in bytes"))}
        for use in s.uses:
            for key, value in use.team.quota.items():
                if key in quotas and value is not None:
                    quotas[key].add_metric([use.team.name], value)
            for key, family in held.items():
                family.add_metric([use.team.name], getattr(use, key))
        yield from quotas.values()
        yield from held.values()
        servers = GaugeMetricFamily("aiportal_team_servers", "Active servers of the team (starting, running "
                                    "or stopping) by profile and mode", labels=["team", "profile", "mode"])
        for labels, count in sorted(s.servers.items()):
            servers.add_metric(list(labels), count)
        yield servers
        stored = GaugeMetricFamily("aiportal_team_storage_bytes", "Bytes in the team's bucket at the last count",
                                   labels=["team"])
        objects = GaugeMetricFamily("aiportal_team_storage_objects", "Objects in the team's bucket at the last "
                                    "count", labels=["team"])
        for team, (nbytes, nobjects) in sorted(s.storage.items()):
            stored.add_metric([team], nbytes)
            objects.add_metric([team], nobjects)
        yield stored
        yield objects
        if s.promotions is not None:
            promotions = GaugeMetricFamily("aiportal_team_promotions", "Promotions of the team by status",
                                           labels=["team", "status"])
            for (team, status), count in sorted(s.promotions.items()):
                promotions.add_metric([team, status], count)
            yield promotions


class Metrics:
    """The app's registry: the scrape-time collector and the service's counters."""

    def __init__(self, probe_timeout: float = 3.0):
        self.registry = CollectorRegistry()
        self.probe_timeout = probe_timeout
        self.collector = PortalCollector()
        self.registry.register(self.collector)
        self.uploads = Counter("aiportal_uploads_completed", "Uploads completed through the portal",
                               ["team"], registry=self.registry)
        self.upload_bytes = Counter("aiportal_upload_bytes", "Bytes of uploads completed through the portal",
                                    ["team"], registry=self.registry)
        self.shares = Counter("aiportal_share_links_created", "Share links created", ["team"],
                              registry=self.registry)

    def uploaded(self, team: str, result: dict) -> dict:
        """Count a completed upload (`Uploads.complete`'s result, returned as is)."""
        self.uploads.labels(team).inc()
        self.upload_bytes.labels(team).inc(result["size"])
        return result

    def shared(self, team: str, share: dict) -> dict:
        """Count a created share link (returned as is)."""
        self.shares.labels(team).inc()
        return share

    async def _probe(self, what: str, call) -> bool:
        try:
            await asyncio.wait_for(call, self.probe_timeout)
            return True
        except Exception as e:
            log.warning("metrics: %s did not answer: %s", what, e)
            return False

    async def snapshot(self, settings: Mapping, gpus: int) -> Snapshot:
        hub, store = settings["hub"], settings.get("store")
        hub_up, storage_up = await asyncio.gather(
            self._probe("the hub API", hub.request("GET", "/")),
            self._probe("the storage server", asyncio.to_thread(store.client().list_buckets))
            if store is not None else asyncio.sleep(0, False))
        snap = Snapshot(hub_up, storage_up, gpus)
        if not hub_up:
            return snap
        try:
            groups, users = await asyncio.gather(hub.groups(), hub.active_users())
        except Exception as e:
            log.warning("metrics: could not read the hub's teams and servers: %s", e)
            snap.hub_up = False
            return snap
        teams = sorted((Team.from_group(g) for g in portal_groups(groups)), key=lambda t: t.name)
        profiles = settings["portal_config"].profiles
        usage = settings.get("usage")
        counted = {t.name: u for t in teams if usage is not None and (u := usage.get(t.name))}
        snap.uses = overview(teams, users, profiles, {name: u.bytes for name, u in counted.items()})
        snap.servers = servers_by_profile(teams, users, profiles)
        snap.storage = {name: (u.bytes, u.objects) for name, u in counted.items()}
        desk = settings.get("promotion")
        if desk is not None:
            snap.promotions = await asyncio.to_thread(promotion_counts, desk.promotions.db)
        return snap

    async def scrape(self, settings: Mapping, gpus: int) -> bytes:
        """The exposition text. The snapshot is set and rendered with no await between,
        so concurrent scrapes in the one event loop cannot see each other's."""
        snap = await self.snapshot(settings, gpus)
        self.collector.snapshot = snap
        try:
            return generate_latest(self.registry)
        finally:
            self.collector.snapshot = None


def promotion_counts(db) -> dict[tuple[str, str], int]:
    """How many promotions each team has in each status."""
    with db.session() as s:
        rows = s.execute(select(Promotion.team, Promotion.status, func.count())
                         .group_by(Promotion.team, Promotion.status))
        return {(team, status): count for team, status, count in rows}
