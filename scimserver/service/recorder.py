"""Request activity, recorded off the request path: a buffer, and a thread that writes it.

:meth:`ActivityRecorder.record` only appends to an in-process buffer. A daemon thread,
started by the first record in each process (gunicorn forks its workers after the app
is built, so a thread started earlier would be left behind in the master), wakes every
``interval`` seconds, or as soon as ``batch`` records wait, and writes each batch in ONE
write transaction (a hundred records: on SQLite, requests' writes wait for it, and 500
held them up to 17 ms, once a second in each worker): one INSERT for all its rows into
``request_log`` (see :class:`~scimserver.store.batch.InsertMany`), and one upsert per
tenant and hour into ``request_hours``. It writes through the process's one
:class:`Database`: its thread holds no request connection, so each write checks one out
of the pool, which keeps a slot for it (``scimserver.wiring.SPARE_CONNECTIONS``).

Bounded everywhere: the buffer holds ``capacity`` records and drops the oldest when
full; a batch the database refuses is tried again with the next flush, ``attempts``
times in all, then dropped; both are counted in :attr:`ActivityRecorder.dropped` and
logged as warnings, never raised. Retention runs in the same thread at most once a
minute and deletes in chunks. ``atexit`` flushes what waits on a normal shutdown; a
SIGKILL loses what waited, up to about ``interval`` seconds of activity: this is a
console's view of recent requests, not the change log.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scimserver.scim.versions import now
from scimserver.store import activity as store
from scimserver.store.db import Database

log = logging.getLogger(__name__)
HOUR = 3600
MAX_IGNORED = 20
"""Ignored attribute names a record keeps (the client chose them: bounded)."""
MAX_NAME = 100


@dataclass(slots=True)
class Activity:
    """One answered SCIM request of a tenant, as the web layer saw it; without a tenant,
    a request refused with 401 (written to refused_requests, see :meth:`refused_row`).

    Plain (not frozen) and timed by ``time.time()``: a frozen dataclass and a datetime
    cost several microseconds per request; converting happens in the writer thread.
    """

    tenant_id: int | None
    at: float
    """Seconds since the epoch."""
    request_id: str
    client: str
    method: str
    path: str
    status: int
    duration_ms: float
    resource_type: str | None = None
    resource_id: str | None = None
    subject: str | None = None
    user_agent: str | None = None
    normalisations: tuple[str, ...] = ()
    scim_type: str | None = None
    detail: str | None = None
    ignored: tuple[str, ...] = ()
    """Attributes the request carried that no schema declares."""
    address: str | None = None
    """The client's address: kept for refused requests only."""
    token_prefix: str | None = None
    """The public prefix of the token a refused request tried, never more of it."""

    def row(self) -> dict[str, Any]:
        """The request_log row, each text cut to its column's length."""
        subject = _cut(self.subject, 256)
        return {
            "tenant_id": self.tenant_id,
            "at": moment(self.at),
            "request_id": self.request_id[:64],
            "client": self.client[:100],
            "method": self.method[:10],
            "path": self.path[:512],
            "status": self.status,
            "duration_ms": self.duration_ms,
            "resource_type": _cut(self.resource_type, 64),
            "resource_id": _cut(self.resource_id, 64),
            "subject": subject,
            "subject_key": _cut(subject.casefold(), 256) if subject else None,
            "user_agent": _cut(self.user_agent, 64),
            "normalisations": list(self.normalisations),
            "scim_type": _cut(self.scim_type, 32),
            "detail": _cut(self.detail, 2000),
            "ignored": [name[:MAX_NAME] for name in self.ignored[:MAX_IGNORED]] or None,
        }

    def refused_row(self) -> dict[str, Any]:
        """The refused_requests row, each text cut to its column's length."""
        return {
            "at": moment(self.at),
            "request_id": self.request_id[:64],
            "address": _cut(self.address, 64),
            "user_agent": _cut(self.user_agent, 64),
            "method": self.method[:10],
            "path": self.path[:512],
            "token_prefix": _cut(self.token_prefix, 16),
            "detail": _cut(self.detail, 200),
        }


@dataclass(frozen=True)
class Retention:
    """How long records and hourly counts are kept, and how many records per tenant."""

    age: timedelta
    max_rows: int
    chunk: int = 1000
    """Rows one DELETE removes: each chunk is its own short transaction."""
    max_chunks: int = 50
    """Chunks one pruning round may delete per rule; the rest waits for the next round."""
    every: float = 60.0
    """Seconds between pruning rounds."""


class ActivityRecorder:
    """Buffers request records and writes them in batches from a thread of its own."""

    def __init__(
        self,
        db: Database,
        retention: Retention,
        *,
        interval: float = 1.0,
        batch: int = 100,
        capacity: int = 10_000,
        attempts: int = 3,
    ) -> None:
        self.db = db
        self.retention = retention
        self.interval = interval
        self.batch = batch
        self.capacity = capacity
        self.attempts = attempts
        self.dropped = 0
        """Records lost: pushed out of a full buffer, or refused ``attempts`` times."""
        self._pid = 0
        self._starting = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        """Fresh state for this process (a forked child must not share the parent's)."""
        self._buffer: deque[Activity] = deque()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._held: list[Activity] = []
        """The batch being written, or refused last time: written before anything newer."""
        self._failures = 0
        self._overflowed = 0
        """Records pushed out of the full buffer since the writer last said so."""
        self._thread: threading.Thread | None = None
        self._tenants: set[int] = set()
        self._pruned_at = float("-inf")

    # -- the request path ---------------------------------------------------------------

    def record(self, activity: Activity) -> None:
        """Queue one record; the cost of an append (starts the thread once per process)."""
        if self._pid != os.getpid():
            self._start()
        with self._lock:
            if len(self._buffer) >= self.capacity:
                self._buffer.popleft()
                self.dropped += 1
                self._overflowed += 1
            self._buffer.append(activity)
            waiting = len(self._buffer)
        if waiting >= self.batch:
            self._wake.set()

    def _start(self) -> None:
        with self._starting:
            if self._pid == os.getpid():
                return
            self._reset()
            self._thread = threading.Thread(
                target=self._run, name="scimserver-activity", daemon=True
            )
            self._thread.start()
            atexit.register(self.close)
            self._pid = os.getpid()

    # -- the writer thread --------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping.is_set():
                return  # close() writes what waits
            try:
                self.flush()
                if time.monotonic() - self._pruned_at >= self.retention.every:
                    self.prune()
            except Exception:  # the thread must outlive any bug: requests keep recording
                log.exception("Request activity: the writer thread hit an unexpected error")

    def _report_overflow(self) -> None:
        """One warning per flush after the buffer overflowed, not one per record."""
        with self._lock:
            lost, self._overflowed = self._overflowed, 0
        if lost:
            log.warning("Request activity: the buffer was full; dropped the %d oldest", lost)

    def flush(self) -> int:
        """Write every record waiting now, in batches; how many were written."""
        written = 0
        self._report_overflow()
        with self._flushing:
            while True:
                batch = self._next_batch()
                if not batch:
                    return written
                done = self._write(batch)
                if done is None:
                    return written
                written += done

    def _next_batch(self) -> list[Activity]:
        """The batch held for a retry, else the next one from the buffer (held until written)."""
        if not self._held:
            with self._lock:
                count = min(self.batch, len(self._buffer))
                self._held = [self._buffer.popleft() for _ in range(count)]
        return self._held

    def _write(self, batch: list[Activity]) -> int | None:
        """One transaction for the batch: how many were written, None to stop for now."""
        # Rows are built before taking the write lock.
        rows = [a.row() for a in batch if a.tenant_id is not None]
        refused = [a.refused_row() for a in batch if a.tenant_id is None]
        hours = _hours(batch)
        try:
            with self.db.write() as session:
                if rows:
                    store.append(session, rows)
                    store.add_hours(session, hours)
                if refused:
                    store.append_refused(session, refused)
        except IntegrityError:  # a tenant deleted since: its records go, the others stay
            return self._without_deleted_tenants(batch)
        except Exception as exc:  # a database error (or a bug) must never reach a request
            self._failed(batch, exc)
            return None
        self._held, self._failures = [], 0
        with self._lock:
            self._tenants.update(a.tenant_id for a in batch if a.tenant_id is not None)
        return len(batch)

    def _without_deleted_tenants(self, batch: list[Activity]) -> int | None:
        """Keep only the batch's records of tenants that still exist (0 written so far)."""
        try:
            with self.db.read() as session:
                live = store.live_tenants(
                    session, (a.tenant_id for a in batch if a.tenant_id is not None)
                )
        except Exception as exc:  # as in _write
            self._failed(batch, exc)
            return None
        kept = [a for a in batch if a.tenant_id is None or a.tenant_id in live]
        if len(kept) == len(batch):
            self._failed(batch, RuntimeError("integrity error, yet every tenant exists"))
            return None
        with self._lock:
            self.dropped += len(batch) - len(kept)
        self._held = kept
        return 0

    def _failed(self, batch: list[Activity], exc: Exception) -> None:
        """Keep the batch for the next flush, or drop it after ``attempts`` failures."""
        self._failures += 1
        if self._failures >= self.attempts:
            with self._lock:
                self.dropped += len(batch)
            self._held, self._failures = [], 0
            outcome = f"dropped {len(batch)} records"
        else:
            outcome = f"will retry (attempt {self._failures} of {self.attempts})"
        reason = getattr(exc, "orig", None) or exc
        log.warning(
            "Request activity not written: %s: %s; %s",
            type(exc).__name__,
            str(reason).splitlines()[0] if str(reason) else "",
            outcome,
        )

    def prune(self) -> int:
        """Apply retention now: records past their age, then each tenant's excess."""
        self._pruned_at = time.monotonic()
        rules = self.retention
        cutoff = now() - rules.age
        db = self.db
        try:
            gone = self._chunks(db, partial(store.prune_before, cutoff=cutoff, chunk=rules.chunk))
            old = partial(store.prune_refused_before, cutoff=cutoff, chunk=rules.chunk)
            excess = partial(store.prune_refused_beyond, keep=rules.max_rows, chunk=rules.chunk)
            gone += self._chunks(db, old) + self._chunks(db, excess)
            with self._lock:
                tenants = sorted(self._tenants)
            for tenant in tenants:
                beyond = partial(
                    store.prune_beyond, tenant_id=tenant, keep=rules.max_rows, chunk=rules.chunk
                )
                gone += self._chunks(db, beyond)
                with self._lock:
                    self._tenants.discard(tenant)
            with db.write() as session:
                store.forget_hours_before(session, hour_of(cutoff))
        except Exception as exc:  # retention runs again next round
            log.warning("Request activity retention failed: %s", type(exc).__name__)
            return 0
        return gone

    def _chunks(self, db: Database, delete: Callable[[Session], int]) -> int:
        """Run ``delete(session)`` in its own transactions until it deletes a short chunk."""
        gone = 0
        for _ in range(self.retention.max_chunks):
            with db.write() as session:
                count = delete(session)
            gone += count
            if count < self.retention.chunk:
                break
        return gone

    # -- shutdown -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the thread and write what waits (registered with ``atexit``)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.flush()

    @property
    def waiting(self) -> int:
        """Records not yet written (buffered, or held for a retry)."""
        return len(self._buffer) + len(self._held)


def _hours(batch: Iterable[Activity]) -> list[dict[str, Any]]:
    """The batch's counts per tenant and clock hour, for request_hours."""
    counts: dict[tuple[int, int], dict[str, Any]] = {}
    for a in batch:
        if a.tenant_id is None:
            continue
        key = (a.tenant_id, int(a.at) // HOUR * HOUR)
        row = counts.get(key)
        if row is None:
            row = {"tenant_id": key[0], "hour": key[1], "requests": 0, "errors": 0, "at": a.at}
            counts[key] = row
        row["requests"] += 1
        row["errors"] += a.status >= 400
        row["at"] = max(row["at"], a.at)
    rows = [counts[k] for k in sorted(counts)]
    for row in rows:
        row["last_at"] = moment(row.pop("at"))
    return rows


def moment(epoch: float) -> datetime:
    """Seconds since the epoch as the naive UTC datetime the tables store."""
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def hour_of(moment: datetime) -> int:
    """The start of ``moment``'s clock hour (naive UTC), in seconds since the epoch."""
    return int(moment.replace(tzinfo=UTC).timestamp()) // HOUR * HOUR


def _cut(text: str | None, length: int) -> str | None:
    return text[:length] if text else None
