"""Prometheus metrics: requests counted as they are answered, database totals per scrape.

Under gunicorn each worker is its own process. ``scimserver serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory: every worker writes its samples to
files there (prometheus-client's multiprocess mode) and whichever worker answers a scrape
sums them all. The change-feed and webhook totals are aggregates read from the database
at scrape time, so they count what every process (web or webhook worker) committed.

Labels stay bounded: route templates (never paths), methods, status classes, token names
and IdP-dialect rule names; tenant ids only with SCIMSERVER_METRICS_TENANT_LABELS.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from flask import Blueprint, Response, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scimserver.errors import Unauthorized
from scimserver.service.stats import StatsService
from scimserver.store.db import DATABASE_ERRORS

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Seen:
    """One answered request, as the metrics and the request log see it."""

    method: str
    route: str
    path: str
    status: int
    seconds: float
    client: str
    tenant: int | None
    normalisations: Sequence[str]
    error: BaseException | None
    busy: bool = False
    """Answered 503 because no database connection came free in time (``errors.Busy``)."""


class RequestMetrics:
    """The per-request series of one process."""

    def __init__(self, registry: CollectorRegistry, tenant_labels: bool) -> None:
        self.tenant_labels = tenant_labels
        labels = ["route", "method", "status", "client"] + (["tenant"] if tenant_labels else [])
        self.requests = Counter(
            "scimserver_requests", "Requests answered, by status class.", labels, registry=registry
        )
        self.latency = Histogram(
            "scimserver_request_duration_seconds",
            "Time from routing to the response.",
            ["route", "method"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "scimserver_unexpected_errors",
            "Requests answered 500 by an unexpected error; kind is database or other.",
            ["kind"],
            registry=registry,
        )
        self.normalisations = Counter(
            "scimserver_normalisations",
            "IdP-dialect rewrites applied to request bodies, by rule and client.",
            ["rule", "client"],
            registry=registry,
        )
        self.busy = Counter(
            "scimserver_database_busy",
            "Requests answered 503 because no database connection came free in time.",
            registry=registry,
        )
        # labels() validates and locks on every call; a request's series are found here.
        self._children: dict[tuple[str, ...], tuple[Counter, Histogram]] = {}

    def observe(self, seen: Seen) -> None:
        tenant = ("" if seen.tenant is None else str(seen.tenant),) if self.tenant_labels else ()
        labels = (seen.route, seen.method, f"{seen.status // 100}xx", seen.client, *tenant)
        found = self._children.get(labels)
        if found is None:
            found = (self.requests.labels(*labels), self.latency.labels(seen.route, seen.method))
            self._children[labels] = found
        found[0].inc()
        found[1].observe(seen.seconds)
        for rule in seen.normalisations:
            self.normalisations.labels(rule, seen.client).inc()
        if seen.busy:
            self.busy.inc()
        if seen.error is not None:
            kind = "database" if isinstance(seen.error, DATABASE_ERRORS) else "other"
            self.errors.labels(kind).inc()


class StoreCollector(Collector):
    """Change-feed and webhook totals, read from the database when scraped."""

    def __init__(self, stats: StatsService, tenant_labels: bool) -> None:
        self.stats = stats
        self.tenant_labels = tenant_labels

    def collect(self) -> Iterator[Metric]:
        snapshot = self.stats.snapshot(self.tenant_labels)
        up = "Whether the database answered this scrape's queries."
        yield GaugeMetricFamily("scimserver_database_up", up, value=int(snapshot is not None))
        if snapshot is None:
            return
        heads = GaugeMetricFamily(
            "scimserver_changes_head",
            "Changes committed: the change-feed head seq, summed over tenants.",
            labels=["tenant"] if self.tenant_labels else [],
        )
        for tenant, seq in snapshot.change_heads.items():
            heads.add_metric([tenant] if self.tenant_labels else [], seq)
        yield heads
        attempts = GaugeMetricFamily(
            "scimserver_webhook_attempts",
            "Webhook delivery attempts on record, by outcome.",
            labels=["outcome"],
        )
        for outcome, count in sorted(snapshot.attempts.items()):
            attempts.add_metric([outcome], count)
        yield attempts
        yield GaugeMetricFamily(
            "scimserver_webhook_dead_letters",
            "Changes webhooks gave up on, not queued for redelivery.",
            value=snapshot.dead_letters,
        )
        yield GaugeMetricFamily(
            "scimserver_webhook_max_lag",
            "The most changes any webhook subscription is behind its tenant's head.",
            value=snapshot.max_webhook_lag,
        )


def scrape_registry(own: CollectorRegistry, store: Collector) -> CollectorRegistry:
    """What a scrape reads: every worker's samples in multiprocess mode, else this process's."""
    registry = own
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(store)
    return registry


def build_metrics_blueprint(registry: CollectorRegistry, token: str) -> Blueprint:
    """``GET /metrics`` in Prometheus text format; with ``token``, only for its bearer."""
    bp = Blueprint("metrics", __name__)

    @bp.get("/metrics")
    def metrics() -> Response:
        if token and not _bearer_is(token):
            raise Unauthorized("A bearer token is required (SCIMSERVER_METRICS_TOKEN).")
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return bp


def _bearer_is(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    matches = hmac.compare_digest(given.strip().encode(), token.encode())
    return scheme.lower() == "bearer" and matches
