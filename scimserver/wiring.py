"""The wiring: every long-lived part of one process, built once, eagerly, from the settings.

The one place the parts are put together. ``create_app`` (the WSGI factory) and the CLI
ask :func:`build` for a :class:`~scimserver.service.server.Server`, immutable after;
nothing below ``app`` and ``cli`` imports this module. One :class:`Database` per process:
requests, the feed watcher, the rate limiter, the asynchronous requests' runner and the
activity recorder's thread share its pool. Threads start lazily, in the process that
uses them (gunicorn forks its workers after the app is built): the feed watcher's, the
runner's and the recorder's.
"""

from __future__ import annotations

from datetime import timedelta

from scimserver.config import Settings
from scimserver.schema import load_registry
from scimserver.schema.marshal import Marshaller
from scimserver.scim.cursors import CursorCodec
from scimserver.service.admins import AdminService
from scimserver.service.ratelimit import RateLimiter
from scimserver.service.recorder import ActivityRecorder, Retention
from scimserver.service.server import Readiness, Server
from scimserver.service.sets import SigningKeys
from scimserver.service.stats import StatsService
from scimserver.service.tokens import TenantService, TokenService
from scimserver.service.waits import Waits
from scimserver.store import location, migrate, sealed
from scimserver.store.db import Database
from scimserver.store.keys import server_key
from scimserver.store.watch import HeadWatcher

SPARE_CONNECTIONS = 3
"""Connections a server process holds beyond one per request thread: the feed watcher's,
a second for a request after its streamed answer took its first (``Database.detach``),
and the activity recorder thread's (it holds no request connection, so each of its
writes checks one out of the same pool)."""


def build(settings: Settings) -> Server:
    """Every part of a process; migrates first when ``auto_migrate`` says so.

    A SQLite file that does not exist is created private to its owner; stored secrets are
    sealed with ``SCIMSERVER_SECRET_KEY`` when it is set (see store/sealed.py).
    """
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
    return Server(
        settings,
        db,
        registry,
        TokenService(db),
        tenant_id,
        cursors,
        marshallers,
        waits=Waits(HeadWatcher(db), *wait_caps(settings)),
        keys=SigningKeys(db),
        limiter=RateLimiter(db, settings.rate_limit, settings.rate_limit_window_seconds),
        admins=AdminService(db),
        recorder=_recorder(settings, db),
        stats=StatsService(db),
        readiness=Readiness(migrated=settings.auto_migrate),
    )


def wait_caps(settings: Settings) -> tuple[int, int]:
    """Waits (feed long-polls, SET polls) one worker process holds at most, in all and
    per token: by default half its threads, and 4 per token."""
    per_worker = settings.waits_per_worker or max(1, settings.threads // 2)
    return per_worker, settings.waits_per_token


def _recorder(settings: Settings, db: Database) -> ActivityRecorder | None:
    """The activity recorder (its thread starts with the first request a process serves)."""
    if not settings.activity_log:
        return None
    retention = Retention(
        timedelta(days=settings.activity_retention_days), settings.activity_max_rows
    )
    return ActivityRecorder(db, retention)


def upgrade_database(settings: Settings) -> None:
    """Apply every pending migration, whatever ``auto_migrate`` says.

    On a short-lived :class:`Database` of its own, not :func:`build`'s: ``scimserver db
    upgrade`` runs alone, and a server cannot be built on a schema not yet migrated.
    """
    location.create_private(settings.database_url)
    db = Database(settings.database_url)
    try:
        migrate.upgrade(db)
    finally:
        db.dispose()


def secrets_note(settings: Settings) -> str:
    """The start-up line saying how the database keeps its secrets."""
    if settings.secret_key:
        return "Secrets: encrypted with SCIMSERVER_SECRET_KEY."
    return (
        "Secrets: signing keys, webhook secrets and HMAC keys are stored in clear in the "
        "database; set SCIMSERVER_SECRET_KEY to encrypt them (docs/operations.md)."
    )
