"""Asynchronous SCIM requests (RFC 9967 §2.5.1): accepted now, run later, completed by a
``misc:asyncresp`` SET.

Accepting stores the request as a job (``async_jobs``) in one transaction and answers
202 with its ``Set-Txn``. A runner thread in each server process (started with the
first request the process serves, after gunicorn's fork) claims due jobs under a lease
and runs them through the same use cases as a synchronous request
(``ResourceService.create/replace/patch/delete``, ``BulkService.run``), acting as the
accepting token (its tenant and name). The job's completion and its ``misc:asyncresp``
changes are written in one transaction, fenced by the lease, so poll and push deliver
them as they deliver every other SET of the tenant, once.

A process killed while it runs a job leaves the job pending; once the lease has passed,
a runner (the restarted one, or another process) takes it again. Every write made for a
job carries a request id derived from the job and the write (``journal_key``), logged
in the change log in the write's own transaction; a job run again looks for those
first and reports a write that committed instead of making it twice. So a request is
written once and completed once. (A run that outlives its lease can still be overtaken:
the lease, ``SCIMSERVER_ASYNC_LEASE_SECONDS``, is far longer than any write.)

``Prefer: wait=N`` runs the job at once, in a thread of its own: when it ends within N
seconds the request is answered as a synchronous one would be (no SET is sent: no
client knows its txn), else 202 and the job completes as any other.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from scimserver.errors import NotFound, ScimError, Unavailable
from scimserver.pacing import paused
from scimserver.schema import Registry, ResourceType
from scimserver.scim.asyncresp import (
    Completion,
    bulk_operations,
    by_index,
    journal_key,
    operation_txn,
    relative,
    status_uri,
)
from scimserver.scim.bulk import BulkLimits
from scimserver.scim.projection import Projection
from scimserver.scim.sets import units
from scimserver.scim.versions import etag, now
from scimserver.service.bulk import BulkService
from scimserver.service.reading import EVERYTHING
from scimserver.service.resources import ResourceService, Written
from scimserver.service.sets import SetIssuer
from scimserver.store.db import Database
from scimserver.store.jobs import PENDING, JobRepository
from scimserver.store.models import AsyncJob, Change

log = logging.getLogger(__name__)

RETRY = timedelta(seconds=1)
"""How soon a job whose run failed before it could complete is taken again."""
BULK = "BULK"
_ID_ONLY = Projection(attributes=frozenset({"id"}))
_STATUS = {"POST": 201, "PUT": 200, "PATCH": 200, "DELETE": 204}

ServiceFactory = Callable[..., ResourceService]
"""``Server.resources``: (type, tenant id, base URL, client, request id, kind=…)."""


@dataclass(frozen=True)
class Submitted:
    """What a client asked for, to run later."""

    method: str
    resource_type: ResourceType | None
    resource_id: str | None
    body: Any
    if_match: str | None = None


@dataclass(frozen=True)
class Accepted:
    """The request is stored and will run: answer 202 with this ``Set-Txn``."""

    txn: str


@dataclass
class Ran:
    """What running a job gave: the written resource (None after a delete) or the Bulk
    response, or the error; and its completions."""

    value: Written | dict[str, Any] | None
    error: ScimError | None
    completions: list[Completion] = field(default_factory=list)


@dataclass(frozen=True)
class JobStatus:
    txn: str
    done: bool
    sets: dict[str, str]


class AsyncService:
    """Accepts asynchronous requests, runs them, and answers their status."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        resources: ServiceFactory,
        limits: BulkLimits,
        issuers: Callable[[int], SetIssuer],
        poll: float = 1.0,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self.db = db
        self.registry = registry
        self.resources = resources
        self.limits = limits
        self.issuers = issuers
        self.poll = poll
        self.lease = lease
        """How long a runner owns a job it claimed; a job whose runner died runs again
        after it."""
        self._cond = threading.Condition()
        self._pid = 0
        self._owner = ""
        self._stopped = False
        self._thread: threading.Thread | None = None

    # -- accepting and answering --------------------------------------------------------

    def submit(
        self,
        tenant_id: int,
        actor: str,
        request_id: str,
        base_url: str,
        submitted: Submitted,
        wait: int | None = None,
        projection: Projection | None = EVERYTHING,
    ) -> Accepted | Ran:
        """Store the request; with ``wait``, run it now and return what it gave if that
        takes less than ``wait`` seconds. ``projection`` shapes that answer."""
        moment = now()
        job = AsyncJob(
            txn=uuid.uuid4().hex[:24],  # with ":<index>" it fits a change's txn column
            tenant_id=tenant_id,
            actor=actor[:100],
            request_id=request_id[:64],
            method=submitted.method,
            resource_type=submitted.resource_type.id if submitted.resource_type else None,
            resource_id=submitted.resource_id,
            body=submitted.body,
            if_match=submitted.if_match,
            base_url=base_url,
            accepted=moment,
            lease_owner=self.owner if wait else None,
            lease_until=moment + self.lease if wait else moment,
        )
        with self.db.write() as session:
            JobRepository(session).add(job)
        if not wait:
            self.ensure_running()
            with self._cond:
                self._cond.notify_all()
            return Accepted(job.txn)
        handoff = _Handoff(self.lease.total_seconds())
        thread = threading.Thread(
            target=self._run_for, args=(job, projection, handoff), name="scimserver-async-wait"
        )
        thread.start()
        self.db.release()  # waiting for the runner, not for the database
        return handoff.wait(wait) or Accepted(job.txn)

    def status(self, tenant_id: int, txn: str) -> JobStatus:
        """A job of the tenant: pending, or done with its completion SETs (addressed to
        its status URI); another tenant's job is not found."""
        with self.db.read() as session:
            repo = JobRepository(session)
            job = repo.find(tenant_id, txn)
            if job is None:
                raise NotFound(f"No asynchronous request {txn}.")
            if job.state == PENDING:
                return JobStatus(txn, False, {})
            changes = repo.completions(job, len(job.outcome or []))
        issuer = self.issuers(tenant_id)
        audience = status_uri(issuer.base_url, txn)
        sets = dict(issuer.encode(unit, audience, False, f"async:{txn}") for unit in units(changes))
        return JobStatus(txn, True, sets)

    # -- running ------------------------------------------------------------------------

    @property
    def owner(self) -> str:
        """This process's name as a lease holder."""
        if self._pid != os.getpid() or not self._owner:
            self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:64]
        return self._owner

    def ensure_running(self) -> None:
        """Start this process's runner thread, once per process (after a fork too)."""
        if self._pid == os.getpid() or self._stopped:
            return
        with self._cond:
            if self._pid == os.getpid():
                return
            self._owner = ""
            owner = self.owner
            self._pid = os.getpid()
        self._thread = threading.Thread(
            target=self._loop, args=(owner,), name="scimserver-async", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End the runner thread after the job it runs (for tests and shutdown), waiting
        at most ``timeout`` seconds for it."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def run_due(self, owner: str) -> bool:
        """Claim one due job and run it; False when none is due."""
        moment = now()
        with self.db.write() as session:
            job = JobRepository(session).claim(owner, moment, moment + self.lease)
        if job is None:
            return False
        self._run(job, owner, None)
        return True

    def _loop(self, owner: str) -> None:
        while not self._stopped:
            try:
                worked = self.run_due(owner)
            except Exception:
                log.warning("async runner: could not claim or run a job", exc_info=True)
                worked = False
            finally:
                self.db.release()
            if not worked:
                with self._cond:
                    if not self._stopped:
                        self._cond.wait(self.poll)

    def _run_for(self, job: AsyncJob, projection: Projection | None, handoff: _Handoff) -> None:
        """A waited-for job: hand what it gave to the waiting request if it still waits."""
        try:
            self._run(job, job.lease_owner or self.owner, projection, handoff)
        finally:
            handoff.deliver()
            self.db.release()

    def _run(
        self,
        job: AsyncJob,
        owner: str,
        projection: Projection | None,
        handoff: _Handoff | None = None,
    ) -> None:
        try:
            ran = self._execute(job, projection)
        except Unavailable:  # the database went away: whether a write landed is unknown
            log.warning("async request %s: database unavailable; runs again", job.txn)
            self._retry_later(job, owner)
            return
        answered = handoff is not None and handoff.offer(ran)
        completions = [] if answered else ran.completions
        events = [(c.record(), c.version, operation_txn(job.txn, c.index)) for c in completions]
        outcome = [c.payload for c in ran.completions]
        with self.db.write() as session:
            done = JobRepository(session).complete(job, owner, now(), outcome, events)
        if not done:
            log.warning("async request %s: its lease was taken over; not completed here", job.txn)

    def _retry_later(self, job: AsyncJob, owner: str) -> None:
        with self.db.write() as session:
            JobRepository(session).release(job, owner, now() + RETRY)

    # -- executing ----------------------------------------------------------------------

    def _execute(self, job: AsyncJob, projection: Projection | None) -> Ran:
        journal = _Journal(self.db, job)
        if job.method == BULK:
            return self._bulk(job, journal)
        resource_type = self.registry.resource_type(job.resource_type or "")
        if resource_type is None:
            raise NotFound(f"No resource type {job.resource_type!r}.")
        service = self._service(job, journal, resource_type)
        endpoint = resource_type.endpoint
        uri = endpoint if job.resource_id is None else f"{endpoint}/{job.resource_id}"
        try:
            written = self._call(service, job, projection)
        except Unavailable:
            raise
        except ScimError as error:
            return Ran(None, error, [_failed(job, resource_type, uri, error)])
        except Exception as exc:  # a bug must still complete the request, as a 500
            internal = _internal(job, exc)
            return Ran(None, internal, [_failed(job, resource_type, uri, internal)])
        return Ran(written, None, [_succeeded(job, resource_type, service, written)])

    def _call(
        self, service: ResourceService, job: AsyncJob, projection: Projection | None
    ) -> Written | None:
        shown = projection if projection is not None else _ID_ONLY
        if job.method == "POST":
            return service.create(job.body, shown)
        resource_id = job.resource_id or ""
        if job.method == "PUT":
            return service.replace(resource_id, job.body, job.if_match, shown)
        if job.method == "PATCH":
            return service.patch(resource_id, job.body, job.if_match, projection)
        service.delete(resource_id, job.if_match)
        return None

    def _bulk(self, job: AsyncJob, journal: _Journal) -> Ran:
        def service_for(resource_type: ResourceType) -> ResourceService:
            return self._service(job, journal, resource_type)

        try:
            result = BulkService(self.registry, service_for, self.limits).run(job.body)
        except Unavailable:
            raise
        except ScimError as error:
            payload = {"method": "POST", "status": str(error.status), "response": error.to_json()}
            return Ran(None, error, [Completion(None, payload, "/Bulk", "Bulk")])
        requested = bulk_operations(job.body)
        responses = by_index(requested, result["Operations"])
        completions = [
            self._bulk_completion(job, i, path, response)
            for i, ((_, _, path), response) in enumerate(zip(requested, responses, strict=True))
        ]
        return Ran(result, None, completions)

    def _bulk_completion(
        self, job: AsyncJob, index: int, path: str, response: dict[str, Any]
    ) -> Completion:
        uri = relative(response.get("location"), job.base_url, path)
        parts = [p for p in uri.split("/") if p]
        found = self.registry.by_endpoint(parts[0]) if parts else None
        resource_id = parts[1] if len(parts) == 2 and found is not None else ""
        return Completion(index, response, uri, found.id if found else "Bulk", resource_id)

    def _service(
        self, job: AsyncJob, journal: _Journal, resource_type: ResourceType
    ) -> ResourceService:
        service = self.resources(
            resource_type, job.tenant_id, job.base_url, job.actor, job.request_id, kind=Journaled
        )
        assert isinstance(service, Journaled)
        service.journal = journal
        return service


class _Journal:
    """The request ids of a job's writes, and the writes of an earlier run that committed."""

    def __init__(self, db: Database, job: AsyncJob) -> None:
        self.db = db
        self.job = job
        self.again = job.attempts > 1
        """Only a job run before can have committed writes already."""
        self._seen: Counter[str] = Counter()

    def key(self, *parts: Any) -> str:
        first = journal_key(self.job.txn, 0, *parts)
        occurrence = self._seen[first]
        self._seen[first] += 1
        return first if occurrence == 0 else journal_key(self.job.txn, occurrence, *parts)

    def committed(self, key: str) -> list[Change]:
        if not self.again:
            return []
        with self.db.read() as session:
            return JobRepository(session).witnesses(self.job, key)


class Journaled(ResourceService):
    """The resource use cases, each write tagged with its journal key; a write an
    earlier run of the job committed is reported from the change log, not made again."""

    journal: _Journal

    def create(self, body: Any, projection: Projection = EVERYTHING) -> Written:
        key = self.journal.key("POST", self.type.id, None, body, None)
        found = self._committed(key, None)
        if found is not None:
            return found
        self.request_id = key
        return super().create(body, projection)

    def replace(
        self, resource_id: str, body: Any, if_match: str | None, projection: Projection
    ) -> Written:
        key = self.journal.key("PUT", self.type.id, resource_id, body, if_match)
        found = self._committed(key, resource_id)
        if found is not None:
            return found
        self.request_id = key
        return super().replace(resource_id, body, if_match, projection)

    def patch(
        self, resource_id: str, body: Any, if_match: str | None, projection: Projection | None
    ) -> Written:
        key = self.journal.key("PATCH", self.type.id, resource_id, body, if_match)
        found = self._committed(key, resource_id)
        if found is not None:
            return found
        self.request_id = key
        return super().patch(resource_id, body, if_match, projection)

    def delete(self, resource_id: str, if_match: str | None) -> None:
        key = self.journal.key("DELETE", self.type.id, resource_id, None, if_match)
        if self._committed(key, resource_id) is not None:
            return
        self.request_id = key
        super().delete(resource_id, if_match)

    def _committed(self, key: str, resource_id: str | None) -> Written | None:
        changes = self.journal.committed(key)
        if not changes:
            return None
        own = [
            c
            for c in changes
            if c.resource_type == self.type.id
            and c.member_id is None
            and resource_id in (None, c.resource_id)
        ]
        change = (own or changes)[-1]
        location = self.reader.location(change.resource_id)
        return Written(None, change.version or 0, location)


class _Handoff:
    """Between a request that waits (``Prefer: wait``) and the thread running its job:
    the result goes to the request only if it still waits when the job ends."""

    def __init__(self, longest: float) -> None:
        self.longest = longest
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._abandoned = False
        self._ran: Ran | None = None

    def offer(self, ran: Ran) -> bool:
        """The runner's result: True when the waiting request will answer with it."""
        with self._lock:
            if self._abandoned:
                return False
            self._ran = ran
            return True

    def deliver(self) -> None:
        self._ready.set()

    def wait(self, timeout: float) -> Ran | None:
        """The result, or None (answer 202) when the job has not ended within ``timeout``."""
        with paused():
            ready = self._ready.wait(timeout)
        if ready:
            return self._ran
        with self._lock:
            if self._ran is None:
                self._abandoned = True
                return None
        self._ready.wait(self.longest)  # taken: its completion is being written
        return self._ran


def _succeeded(
    job: AsyncJob, resource_type: ResourceType, service: ResourceService, written: Written | None
) -> Completion:
    status = _STATUS[job.method]
    if job.method == "PATCH" and service.has_members:
        status = 204  # as a synchronous PATCH of a group answers
    payload: dict[str, Any] = {"method": job.method}
    resource_id = job.resource_id or ""
    version = None
    if written is not None:
        payload["location"] = written.location
        payload["version"] = etag(written.version)
        resource_id = written.location.rsplit("/", 1)[-1]
        version = written.version
    payload["status"] = str(status)
    uri = f"{resource_type.endpoint}/{resource_id}"
    return Completion(None, payload, uri, resource_type.id, resource_id, version)


def _failed(job: AsyncJob, resource_type: ResourceType, uri: str, error: ScimError) -> Completion:
    payload: dict[str, Any] = {"method": job.method}
    if job.resource_id is not None:
        payload["location"] = f"{job.base_url.rstrip('/')}{uri}"
    payload["status"] = str(error.status)
    payload["response"] = error.to_json()
    return Completion(None, payload, uri, resource_type.id, job.resource_id or "")


def _internal(job: AsyncJob, exc: Exception) -> ScimError:
    log.error("unhandled error in asynchronous request %s", job.txn, exc_info=exc)
    return ScimError(f"Internal server error (asynchronous request {job.txn}).")
