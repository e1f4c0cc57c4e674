"""What Prometheus scrapes from the portal: team quotas and use, storage, promotions, failed
spawns, GPUs, request latencies and counters of what happens in the service, in one private
registry per app (never the process-wide default one, so two apps in one process, as in
tests, do not mix).

Figures are computed at scrape time from what the portal already knows: the hub's groups
and active users (the operators' overview, portal/overview.py; a server's spawner state
says which GPUs it holds), the usage cache, the promotion and spawn-failure records, and
nvidia-smi where the machine has it. `Metrics.scrape` gathers that asynchronously into a
`Snapshot`, then renders it with the counters in one synchronous step. Label values are
bounded: teams, declared profiles, modes, statuses, reasons, GPU indexes, handler classes;
never user names, paths or object keys.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections import Counter as Tally
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from tornado.web import RequestHandler

from spawners.gpus import Reading, read_gpus

from .config import PortalConfig
from .db import Database, Promotion, SpawnFailure
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
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # others: "other"


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
    spawn_failures: Mapping[tuple[str, str], int] | None = None  # (team, reason); None: unreadable
    gpu_readings: list[Reading] | None = None  # None: no nvidia-smi, or it failed
    gpu_holders: Mapping[str, str] = field(default_factory=dict)  # GPU id (index or UUID): team


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


def gpu_holders(users: list[dict]) -> dict[str, str]:
    """GPU id → the team whose active server holds it, from the spawners' state (`holding`),
    which the hub shows the portal (its `admin:servers` scope includes server state)."""
    held = {}
    for user in users:
        for server in (user.get("servers") or {}).values():
            holding = ((server or {}).get("state") or {}).get("holding") or {}
            for gpu in holding.get("gpus") or ():
                held[str(gpu)] = str(holding.get("team") or "")
    return held


def gpu_families(readings: list[Reading], holders: Mapping[str, str]) -> Iterator[Metric]:
    """Utilisation and memory per GPU, labelled with the team holding it ("" when free);
    the configured inventory may name GPUs by index or by UUID."""
    utilization = GaugeMetricFamily("aiportal_gpu_utilization_ratio", "Fraction of the last sample period "
                                    "the GPU was busy (nvidia-smi utilization.gpu)", labels=["gpu", "team"])
    used = GaugeMetricFamily("aiportal_gpu_memory_used_bytes", "GPU memory in use", labels=["gpu", "team"])
    total = GaugeMetricFamily("aiportal_gpu_memory_total_bytes", "GPU memory", labels=["gpu"])
    for r in readings:
        team = holders.get(r.index) or holders.get(r.uuid) or ""
        if r.utilization is not None:
            utilization.add_metric([r.index, team], r.utilization)
        if r.memory_used is not None:
            used.add_metric([r.index, team], r.memory_used)
        if r.memory_total is not None:
            total.add_metric([r.index], r.memory_total)
    yield from (utilization, used, total)


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
        if s.spawn_failures is not None:
            failures = CounterMetricFamily("aiportal_team_spawn_failures", "Servers of the team that failed to "
                                           "start, by reason: quota, image, timeout or error",
                                           labels=["team", "reason"])
            for (team, reason), count in sorted(s.spawn_failures.items()):
                failures.add_metric([team, reason], count)
            yield failures
        if s.gpu_readings is not None:
            yield from gpu_families(s.gpu_readings, s.gpu_holders)


class Metrics:
    """The app's registry: the scrape-time collector, the service's counters and its request
    latencies. When not `enabled` (portal.yaml `monitoring.metrics: false`) nothing is
    observed and the metrics page answers 404."""

    def __init__(self, db: Database | None = None, *, enabled: bool = True, probe_timeout: float = 3.0):
        self.db, self.enabled = db, enabled
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
        self.requests = Histogram("aiportal_request_duration_seconds", "Time the portal took to answer a "
                                  "request, by handler class, method and status code",
                                  ["handler", "method", "code"], registry=self.registry)

    @classmethod
    def from_config(cls, config: PortalConfig, db: Database | None = None) -> Metrics:
        return cls(db, enabled=config.raw["monitoring"]["metrics"])

    def uploaded(self, team: str, result: dict) -> dict:
        """Count a completed upload (`Uploads.complete`'s result, returned as is)."""
        if self.enabled:
            self.uploads.labels(team).inc()
            self.upload_bytes.labels(team).inc(result["size"])
        return result

    def shared(self, team: str, share: dict) -> dict:
        """Count a created share link (returned as is)."""
        if self.enabled:
            self.shares.labels(team).inc()
        return share

    def answered(self, handler: RequestHandler) -> None:
        """Observe a finished request's latency (the application's log_request calls this)."""
        if self.enabled:
            method = handler.request.method if handler.request.method in METHODS else "other"
            self.requests.labels(type(handler).__name__, method, str(handler.get_status())).observe(
                handler.request.request_time())

    async def _probe(self, what: str, call) -> bool:
        try:
            await asyncio.wait_for(call, self.probe_timeout)
            return True
        except Exception as e:
            log.warning("metrics: %s did not answer: %s", what, e)
            return False

    async def _read(self, what: str, call, *args):
        """A blocking read in a thread; None (and the cause logged) when it fails."""
        try:
            return await asyncio.to_thread(call, *args)
        except Exception as e:
            log.warning("metrics: no %s: %s", what, e)
            return None

    async def gpu_readings(self) -> list[Reading] | None:
        if not shutil.which("nvidia-smi"):
            return None
        return await self._read("GPU readings from nvidia-smi", read_gpus, self.probe_timeout)

    async def failure_counts(self) -> dict[tuple[str, str], int] | None:
        if self.db is None:
            return None
        return await self._read("spawn failure counts", spawn_failure_counts, self.db)

    async def snapshot(self, settings: Mapping, gpus: int) -> Snapshot:
        hub, store = settings["hub"], settings.get("store")
        hub_up, storage_up, readings, failures = await asyncio.gather(
            self._probe("the hub API", hub.request("GET", "/")),
            self._probe("the storage server", asyncio.to_thread(store.client().list_buckets))
            if store is not None else asyncio.sleep(0, False),
            self.gpu_readings(), self.failure_counts())
        snap = Snapshot(hub_up, storage_up, gpus, spawn_failures=failures, gpu_readings=readings)
        if not hub_up:
            return snap
        try:
            groups, users = await asyncio.gather(hub.groups(), hub.active_users())
        except Exception as e:
            log.warning("metrics: could not read the hub's teams and servers: %s", e)
            snap.hub_up = False
            return snap
        snap.gpu_holders = gpu_holders(users)
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


def counts_by(db: Database, first, second) -> dict[tuple[str, str], int]:
    """Rows of a portal database table counted by two of its columns, e.g. team and status."""
    with db.session() as s:
        return {(a, b): n for a, b, n in s.execute(select(first, second, func.count()).group_by(first, second))}


def promotion_counts(db: Database) -> dict[tuple[str, str], int]:
    """How many promotions each team has in each status."""
    return counts_by(db, Promotion.team, Promotion.status)


def spawn_failure_counts(db: Database) -> dict[tuple[str, str], int]:
    """How many spawns of each team failed for each reason (rows the hub's spawner wrote)."""
    return counts_by(db, SpawnFailure.team, SpawnFailure.reason)
