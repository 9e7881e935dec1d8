"""The long-lived parts of one server process, as ``scimserver.wiring`` built them.

Immutable: every part is built once, eagerly, by :func:`scimserver.wiring.build` (the
asynchronous requests' service by this record itself, from its own factories); the
methods here only make per-request and per-tenant services out of those parts. The one
thing that changes after start-up is what readiness has learnt (:class:`Readiness`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from scimserver.config import Settings
from scimserver.schema import Registry, ResourceType
from scimserver.schema.marshal import Marshaller
from scimserver.scim.bulk import BulkLimits
from scimserver.scim.cursors import CursorCodec
from scimserver.scim.render import Links
from scimserver.service.access import AccessService, IdentityService, run_all_jobs
from scimserver.service.activity import ActivityService
from scimserver.service.admins import AdminService
from scimserver.service.audit import AuditService
from scimserver.service.changes import ChangeFeed
from scimserver.service.delivery import Formatter, JsonFormatter, Sender
from scimserver.service.discovery import DiscoveryService, EventModes
from scimserver.service.jobs import AsyncService
from scimserver.service.poll import SetPoller
from scimserver.service.ratelimit import RateLimiter
from scimserver.service.reading import ResourceReader
from scimserver.service.recorder import ActivityRecorder
from scimserver.service.resources import ResourceService
from scimserver.service.set_push import SetFormatter
from scimserver.service.sets import SetIssuer, SigningKeys
from scimserver.service.stats import StatsService
from scimserver.service.tokens import Principal, TenantService, TokenService
from scimserver.service.waits import Waits
from scimserver.service.webhooks import WebhookService
from scimserver.service.worker import Policy, Worker
from scimserver.store import migrate, sealed
from scimserver.store.db import Database
from scimserver.store.keys import reseal
from scimserver.store.set_streams import configured_modes

log = logging.getLogger(__name__)

WORKER_ACCESS_BATCHES = 20
"""Batches of a rules edit's settling a worker runs between webhook claims (10,000 people
at 500 a batch): a large group's edit shares the worker with deliveries."""


class Readiness:
    """What readiness probes have learnt: the one mutable part of a :class:`Server`.

    ``migrated`` turns True once the schema was found at the newest revision, and stays
    so (migrations only move it forward). A plain bool, read and set without a lock: two
    probes racing at worst both ask for the revision once.
    """

    __slots__ = ("migrated",)

    def __init__(self, migrated: bool = False) -> None:
        self.migrated = migrated


@dataclass(frozen=True)
class Server:
    """Settings, the process's one database, schemas, and the services every request shares."""

    settings: Settings
    db: Database
    registry: Registry
    tokens: TokenService
    default_tenant_id: int
    cursors: CursorCodec
    marshallers: dict[str, Marshaller]
    waits: Waits
    """Feed long-polls and SET polls, capped per worker and per token."""
    keys: SigningKeys
    """Every tenant's SET signing keys (one per process: it caches the keys it loads)."""
    limiter: RateLimiter
    admins: AdminService
    """Console admins and their sessions (one per process: it hashes a dummy password)."""
    recorder: ActivityRecorder | None
    """None when ``SCIMSERVER_ACTIVITY_LOG`` is off."""
    stats: StatsService
    readiness: Readiness
    """Whether the schema was found current (True from the start after auto-migrate)."""
    jobs: AsyncService = field(init=False)
    """Asynchronous requests (one per process: it owns the process's runner thread)."""

    def __post_init__(self) -> None:
        # Built here, not by the wiring: it makes its services with this record's factories.
        settings = self.settings
        jobs = AsyncService(
            self.db,
            self.registry,
            self.resources,
            BulkLimits(settings.bulk_max_operations, settings.bulk_max_payload_bytes),
            self.set_issuer,
            settings.worker_poll_ms / 1000,
            timedelta(seconds=settings.async_lease_seconds),
        )
        object.__setattr__(self, "jobs", jobs)

    def reader(self, resource_type: ResourceType, tenant_id: int, base_url: str) -> ResourceReader:
        """The reads and listings of one type in one tenant."""
        return ResourceReader(
            self.db,
            resource_type,
            tenant_id,
            Links(base_url, self.registry.endpoints),
            self.cursors,
            (self.settings.default_page_size, self.settings.max_page_size),
        )

    def resources(
        self,
        resource_type: ResourceType,
        tenant_id: int,
        base_url: str,
        client: str = "",
        request_id: str = "",
        kind: type[ResourceService] = ResourceService,
    ) -> ResourceService:
        """``kind``: the class to build, ``ResourceService`` or a subclass of it."""
        return kind(
            self.db,
            resource_type,
            self.marshallers[resource_type.id],
            tenant_id,
            Links(base_url, self.registry.endpoints),
            self.cursors,
            (self.settings.default_page_size, self.settings.max_page_size),
            client,
            request_id,
            self.settings.unique_email,
        )

    def user_type(self) -> ResourceType:
        """The type whose resources are people: members of groups (``has_groups``)."""
        return next(rt for rt in self.registry.resource_types if rt.has_groups)

    def group_type(self) -> ResourceType:
        return next(rt for rt in self.registry.resource_types if rt.has_members)

    def identities(self, tenant_id: int) -> IdentityService:
        """The identity view of a tenant's users (``/api/v1/identities``)."""
        return IdentityService(self.db, self.user_type(), tenant_id)

    def access(self, tenant_id: int, actor: str = "admin") -> AccessService:
        """A tenant's access rules, edited by ``actor``."""
        return AccessService(self.db, self.user_type(), self.group_type(), tenant_id, actor)

    def admit(self, principal: Principal) -> int | None:
        """Count a request of ``principal``: None to go ahead, else seconds to wait."""
        return self.limiter.admit(principal.token_id)

    def tenants(self) -> TenantService:
        return TenantService(self.db, self.settings.default_tenant)

    def ready(self) -> bool:
        """Whether requests can be served: the database answers, its schema is current.

        Once current, the schema is taken to stay so (migrations only move it forward):
        later probes only ask the database to answer.
        """
        readiness = self.readiness
        if readiness.migrated:
            return migrate.answers(self.db)
        readiness.migrated = migrate.is_current(self.db)
        return readiness.migrated

    def feed(self, tenant_id: int) -> ChangeFeed:
        return ChangeFeed(self.db, self.waits, tenant_id, self.registry.namings)

    def set_issuer(self, tenant_id: int) -> SetIssuer:
        """Signs a tenant's change-log rows as SETs (see service/sets.py); raises
        :class:`IssuerMissing` (503) while ``SCIMSERVER_BASE_URL`` is unset."""
        links = Links(self.settings.base_url, self.registry.endpoints)
        issuer = SetIssuer(self.keys, links, tenant_id)
        # Load (or create) the key now, outside any transaction that will sign: made
        # inside one, its own write would wait on that transaction's lock (SQLite).
        issuer.keys.current(tenant_id)
        return issuer

    def set_poller(self, receiver: Principal) -> SetPoller:
        """The RFC 8936 poll stream of one bearer token."""
        issuing = self.set_issuer(receiver.tenant_id)
        full = self.settings.poll_full_events
        return SetPoller(self.db, self.waits, issuing, receiver, full)

    def discovery(self, base_url: str, tenant_id: int | None = None) -> DiscoveryService:
        """Discovery as ``tenant_id`` sees it: ``securityEvents`` only once the tenant
        has SET delivery configured."""
        events = None
        if tenant_id is not None:
            with self.db.read() as session:
                polled, notices, full = configured_modes(session, tenant_id)
            poll_full = self.settings.poll_full_events
            if polled or notices or full:
                events = EventModes(
                    notices or (polled and not poll_full), full or (polled and poll_full)
                )
        return DiscoveryService(
            self.registry,
            base_url,
            (self.settings.default_page_size, self.settings.max_page_size),
            self.cursors.timeout,
            bulk=(self.settings.bulk_max_operations, self.settings.bulk_max_payload_bytes),
            events=events,
        )

    def formatters(self) -> dict[str, Formatter]:
        """The webhook formats by name: what ``webhook add --format`` accepts."""
        return {"json": JsonFormatter(self.registry.namings), "set": SetFormatter(self.set_issuer)}

    def webhooks(self) -> WebhookService:
        settings = self.settings
        return WebhookService(
            self.db,
            self.formatters(),
            settings.webhook_max_attempts,
            settings.webhook_timeout_ms / 1000,
        )

    def worker(self) -> Worker:
        """The delivery worker; ``ValueError`` when its timing settings contradict."""
        settings = self.settings
        if settings.webhook_timeout_ms >= settings.webhook_lease_seconds * 1000:
            raise ValueError(
                "SCIMSERVER_WEBHOOK_TIMEOUT_MS must be shorter than "
                "SCIMSERVER_WEBHOOK_LEASE_SECONDS: an attempt must end before its lease."
            )
        if settings.webhook_concurrency < 1:
            raise ValueError("SCIMSERVER_WEBHOOK_CONCURRENCY must be at least 1.")
        policy = Policy(
            backoff_base=settings.webhook_backoff_base_ms / 1000,
            backoff_cap=settings.webhook_backoff_cap_ms / 1000,
            lease=timedelta(seconds=settings.webhook_lease_seconds),
            poll=settings.worker_poll_ms / 1000,
            retention=timedelta(days=settings.change_retention_days),
            concurrency=settings.webhook_concurrency,
        )
        sender = Sender(settings.webhook_timeout_ms / 1000)
        if not settings.base_url:
            log.error(
                "SCIMSERVER_BASE_URL is not set: this worker signs no SET, so `--format set` "
                "webhooks get nothing and their changes wait until it is set (json webhooks "
                "are delivered)"
            )
        users, groups = self.user_type(), self.group_type()

        def settle_access() -> int:
            return run_all_jobs(self.db, users, groups, WORKER_ACCESS_BATCHES)

        return Worker(self.db, self.formatters(), sender, policy, settle_access)

    def reseal_secrets(self) -> int:
        """Encrypt every stored secret with the first key of ``SCIMSERVER_SECRET_KEY``
        (those in clear too); the rows rewritten."""
        sealer = sealed.sealer_of(self.db.engine.dialect)
        if sealer is None:
            raise sealed.SecretKeyError("SCIMSERVER_SECRET_KEY is not set: no key to encrypt with.")
        return reseal(self.db, sealer)

    def audit(self, tenant_id: int) -> AuditService:
        return AuditService(self.db, tenant_id, self.registry.namings)

    def activity(self) -> ActivityService:
        """The recorded SCIM requests of every tenant (see service/recorder.py)."""
        return ActivityService(self.db)
