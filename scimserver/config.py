"""Settings, read from ``SCIMSERVER_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from scimserver.schema import default_schema_dir

DEFAULT_DATABASE_URL = "sqlite:///scimserver.db"


@dataclass(frozen=True)
class Settings:
    """Everything an operator can set; each field maps to ``SCIMSERVER_<NAME>``."""

    database_url: str = DEFAULT_DATABASE_URL
    schema_dirs: tuple[Path, ...] = field(default_factory=lambda: (default_schema_dir(),))
    base_url: str = ""
    trusted_proxies: str = ""
    """Addresses or networks (comma-separated) whose X-Forwarded-* headers are believed."""
    default_page_size: int = 100
    max_page_size: int = 1000
    max_body_bytes: int = 1024 * 1024
    auto_migrate: bool = True
    log_level: str = "INFO"
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    default_tenant: str = "default"
    bulk_max_operations: int = 1000
    bulk_max_payload_bytes: int = 1_048_576
    """The body limit of ``POST /Bulk``, which replaces ``max_body_bytes`` for that route."""
    threads: int = 32
    """Threads per gunicorn worker (gthread): a long-polling feed reader holds one. Each
    worker's database pool has a connection per thread, and two more."""
    waits_per_worker: int = 0
    """Long polls (feed ``wait``, RFC 8936 polls) one worker holds at once; 0: half of
    ``threads``, so the other half always serves SCIM requests."""
    waits_per_token: int = 4
    """Long polls one token holds at once in one worker; beyond, 429 or an early answer."""
    active_requests: int = 1
    """Requests of one worker process that run at once; the rest queue in order (a
    long-poll gives its place back while it waits). 0: no limit, every thread at once.
    One measured best on both databases (docs/performance.md): threads that run at once
    share one interpreter lock, and each finishes later for the others' Python."""
    pool_wait_ms: int = 5000
    """How long a request waits for a free database connection before it is answered 503
    (with Retry-After): only more threads than connections can make it wait."""
    rate_limit: int = 0
    """Requests one token may make per window, over all workers and instances (0: none)."""
    rate_limit_window_seconds: int = 60
    change_retention_days: int = 30
    """How long the change log keeps a change; an older feed cursor answers 410."""
    webhook_max_attempts: int = 8
    """Failed attempts at one change before a new subscription parks it (dead letter)."""
    webhook_backoff_base_ms: int = 1000
    """Retry n waits a random time up to min(cap, base * 2**(n-1)) (full jitter)."""
    webhook_backoff_cap_ms: int = 300_000
    webhook_timeout_ms: int = 10_000
    """Wall-clock deadline of one webhook attempt (resolve, connect, send, read the answer)."""
    webhook_lease_seconds: int = 60
    """How long a worker owns a subscription without progress; must exceed the timeout."""
    async_lease_seconds: int = 60
    """How long a process owns an asynchronous request it runs; one whose process died
    runs again after it. Must exceed the longest write."""
    webhook_concurrency: int = 4
    """Subscriptions one worker delivers at once: a slow receiver holds only its own."""
    worker_poll_ms: int = 1000
    """How long an idle worker sleeps before looking for due webhooks again."""
    poll_full_events: bool = False
    """RFC 8936 poll SETs carry ``data`` (full) instead of changed attribute names (notice)."""
    log_format: str = "json"
    """``json``: one JSON object per log line; ``text``: human-readable, for development."""
    metrics_token: str = ""
    """When set, ``GET /metrics`` requires ``Authorization: Bearer <this value>``."""
    metrics_tenant_labels: bool = False
    """Label request counts and change-feed heads by tenant id (one series per tenant)."""
    activity_log: bool = True
    """Keep each tenant's recent SCIM requests (request_log) for the admin console."""
    activity_retention_days: int = 7
    """How long a recorded request and its hourly counts are kept."""
    activity_max_rows: int = 100_000
    """Recorded requests kept per tenant at most; the oldest go first."""
    secret_key: str = field(default="", repr=False)
    """Fernet keys, comma-separated: the first encrypts the signing keys, webhook secrets
    and HMAC keys stored in the database, each decrypts; empty: they are stored in clear."""
    unique_email: bool = False
    """A user's email (the identity view's: primary, else work, else first, else an
    address userName) is unique among a tenant's users: a write duplicating it is 409."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment, then ``overrides`` on top."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"SCIMSERVER_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, raw)
        return replace(cls(**values), **overrides)


def _convert(name: str, raw: str) -> Any:
    defaults = Settings.__dataclass_fields__
    default = defaults[name].default
    if name == "schema_dirs":
        extra = tuple(Path(p) for p in raw.split(os.pathsep) if p)
        return (default_schema_dir(), *extra)
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise ValueError(f"SCIMSERVER_{name.upper()} must be an integer") from exc
    return raw
