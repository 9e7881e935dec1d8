"""The long-lived parts of one server process, built once from the settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from scimserver.config import Settings
from scimserver.schema import Registry, ResourceType, load_registry
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
from scimserver.service.resources import ResourceService
from scimserver.service.set_push import SetFormatter
from scimserver.service.sets import SetIssuer, SigningKeys
from scimserver.service.tokens import Principal, TenantService, TokenService
from scimserver.service.waits import Waits
from scimserver.service.webhooks import WebhookService
from scimserver.service.worker import Policy, Worker
from scimserver.store import location, migrate, sealed
from scimserver.store.db import Database
from scimserver.store.keys import reseal, server_key
from scimserver.store.set_streams import configured_modes
from scimserver.store.watch import HeadWatcher

log = logging.getLogger(__name__)

WORKER_ACCESS_BATCHES = 20
"""Batches of a rules edit's settling a worker runs between webhook claims (10,000 people
at 500 a batch): a large group's edit shares the worker with deliveries."""
SPARE_CONNECTIONS = 2
"""Connections a server process holds beyond one per request thread: the feed watcher's,
and a second for a request after its streamed answer took its first (``Database.detach``)."""


@dataclass
class Server:
    """Settings, database, schemas and token checks, shared by every request."""

    settings: Settings
    db: Database
    registry: Registry
    tokens: TokenService
    default_tenant_id: int
    cursors: CursorCodec
    marshallers: dict[str, Marshaller] = field(default_factory=dict)
    waits: Waits | None = None
    signing_keys: SigningKeys | None = None
    limiter: RateLimiter | None = None
    admin_service: AdminService | None = None
    migrated: bool = False
    """The schema was found at the newest revision: it is not asked again (readiness)."""
    async_service: AsyncService | None = None

    @classmethod
    def build(cls, settings: Settings) -> Server:
        registry = load_registry(settings.schema_dirs)
        location.create_private(settings.database_url)
        connections = settings.threads + SPARE_CONNECTIONS
        db = Database(settings.database_url, connections, settings.pool_wait_ms / 1000)
        sealed.attach(db.engine, sealed.Sealer.from_setting(settings.secret_key))
        if settings.auto_migrate:
            migrate.upgrade(db)
        tenant_id = TenantService(db).ensure(settings.default_tenant)
        marshallers = {rt.id: Marshaller(rt) for rt in registry.resource_types}
        cursors = CursorCodec(server_key(db, "cursor"))
        return cls(
            settings,
            db,
            registry,
            TokenService(db),
            tenant_id,
            cursors,
            marshallers,
            limiter=RateLimiter(db, settings.rate_limit, settings.rate_limit_window_seconds),
            migrated=settings.auto_migrate,
        )

    @property
    def endpoints(self) -> dict[str, str]:
        """Each resource type's endpoint, by type id (``$ref`` and ``location``)."""
        return self.registry.endpoints

    def reader(self, resource_type: ResourceType, tenant_id: int, base_url: str) -> ResourceReader:
        """The reads and listings of one type in one tenant."""
        return ResourceReader(
            self.db,
            resource_type,
            tenant_id,
            Links(base_url, self.endpoints),
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
            Links(base_url, self.endpoints),
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
        return self.limiter.admit(principal.token_id) if self.limiter else None

    def tenants(self) -> TenantService:
        return TenantService(self.db, self.settings.default_tenant)

    def ready(self) -> bool:
        """Whether requests can be served: the database answers, its schema is current.

        Once current, the schema is taken to stay so (migrations only move it forward):
        later probes only ask the database to answer.
        """
        if self.migrated:
            return migrate.answers(self.db)
        self.migrated = migrate.is_current(self.db)
        return self.migrated

    def _waits(self) -> Waits:
        waits = self.waits or Waits(HeadWatcher(self.db), *wait_caps(self.settings))
        self.waits = waits
        return waits

    def feed(self, tenant_id: int) -> ChangeFeed:
        return ChangeFeed(self.db, self._waits(), tenant_id)

    def keys(self) -> SigningKeys:
        """Every tenant's SET signing keys (built once: it caches the keys it loads)."""
        keys = self.signing_keys or SigningKeys(self.db)
        self.signing_keys = keys
        return keys

    def set_issuer(self, tenant_id: int) -> SetIssuer:
        """Signs a tenant's change-log rows as SETs (see service/sets.py); raises
        :class:`IssuerMissing` (503) while ``SCIMSERVER_BASE_URL`` is unset."""
        issuer = SetIssuer(self.keys(), self.settings.base_url, tenant_id)
        # Load (or create) the key now, outside any transaction that will sign: made
        # inside one, its own write would wait on that transaction's lock (SQLite).
        issuer.keys.current(tenant_id)
        return issuer

    def set_poller(self, receiver: Principal) -> SetPoller:
        """The RFC 8936 poll stream of one bearer token."""
        issuing = self.set_issuer(receiver.tenant_id)
        full = self.settings.poll_full_events
        return SetPoller(self.db, self._waits(), issuing, receiver, full)

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
        return {"json": JsonFormatter(), "set": SetFormatter(self.set_issuer)}

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

    def jobs(self) -> AsyncService:
        """Asynchronous requests (built once: it owns this process's runner thread)."""
        if self.async_service is None:
            settings = self.settings
            self.async_service = AsyncService(
                self.db,
                self.registry,
                self.resources,
                BulkLimits(settings.bulk_max_operations, settings.bulk_max_payload_bytes),
                self.set_issuer,
                settings.worker_poll_ms / 1000,
                timedelta(seconds=settings.async_lease_seconds),
            )
        return self.async_service

    def admins(self) -> AdminService:
        """Console admins and their sessions (built once: it hashes a dummy password)."""
        service = self.admin_service or AdminService(self.db)
        self.admin_service = service
        return service

    def reseal_secrets(self) -> int:
        """Encrypt every stored secret with the first key of ``SCIMSERVER_SECRET_KEY``
        (those in clear too); the rows rewritten."""
        sealer = sealed.sealer_of(self.db.engine.dialect)
        if sealer is None:
            raise sealed.SecretKeyError("SCIMSERVER_SECRET_KEY is not set: no key to encrypt with.")
        return reseal(self.db, sealer)

    def audit(self, tenant_id: int) -> AuditService:
        return AuditService(self.db, tenant_id)

    def activity(self) -> ActivityService:
        """The recorded SCIM requests of every tenant (see service/recorder.py)."""
        return ActivityService(self.db)


def secrets_note(settings: Settings) -> str:
    """The start-up line saying how the database keeps its secrets."""
    if settings.secret_key:
        return "Secrets: encrypted with SCIMSERVER_SECRET_KEY."
    return (
        "Secrets: signing keys, webhook secrets and HMAC keys are stored in clear in the "
        "database; set SCIMSERVER_SECRET_KEY to encrypt them (docs/operations.md)."
    )


def wait_caps(settings: Settings) -> tuple[int, int]:
    """Waits (feed long-polls, SET polls) one worker process holds at most, in all and
    per token: by default half its threads, and 4 per token."""
    per_worker = settings.waits_per_worker or max(1, settings.threads // 2)
    return per_worker, settings.waits_per_token


def upgrade_database(settings: Settings) -> None:
    """Apply every pending migration, whatever ``auto_migrate`` says."""
    location.create_private(settings.database_url)
    db = Database(settings.database_url)
    try:
        migrate.upgrade(db)
    finally:
        db.dispose()
