"""Bulk (RFC 7644 §3.7): the plan of ``scimserver.scim.bulk`` run against the resources.

Every operation runs through the same ``ResourceService`` method as its single-request
twin, in a transaction of its own; ``scimserver.scim.bulk`` parses the request, orders the
operations, resolves bulkIds, counts failures and assembles the response. What is left
here is calling the service, and deleting a group again when its circular members could
not be added.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scimserver.errors import Conflict, ScimError
from scimserver.schema import Registry, ResourceType
from scimserver.scim.bulk import (
    BulkLimits,
    Ledger,
    Operation,
    Outcome,
    Plan,
    address,
    created_id,
    parse_request,
    plan,
)
from scimserver.scim.projection import Projection
from scimserver.scim.versions import etag
from scimserver.service.resources import ResourceService

log = logging.getLogger(__name__)

_ID_ONLY = Projection(attributes=frozenset({"id"}))
"""Nothing but ``id`` is rendered: a bulk response carries no resource bodies."""

ServiceFor = Callable[[ResourceType], ResourceService]


@dataclass(frozen=True)
class _Target:
    service: ResourceService
    resource_id: str | None

    @property
    def location(self) -> str | None:
        if self.resource_id is None:
            return None
        return self.service.reader.location(self.resource_id)


class BulkService:
    """Runs one bulk request for one tenant; ``service_for`` gives each type's service."""

    def __init__(self, registry: Registry, service_for: ServiceFor, limits: BulkLimits) -> None:
        self.registry = registry
        self.service_for = service_for
        self.limits = limits

    def run(self, body: Any) -> dict[str, Any]:
        request = parse_request(body, self.limits)
        ledger = Ledger(request)
        _Run(self, ledger).execute(plan(request.operations))
        return ledger.response()

    def target(self, operation: Operation, path: str) -> _Target:
        """The service and resource id a path names."""
        found = address(self.registry, operation, path)
        return _Target(self.service_for(found.resource_type), found.resource_id)


class _Run:
    """One bulk request while its plan runs: the ledger, and groups awaiting members."""

    def __init__(self, bulk: BulkService, ledger: Ledger) -> None:
        self.bulk = bulk
        self.ledger = ledger
        self.operations = ledger.operations
        self.created: dict[int, _Target] = {}  # groups awaiting their circular members

    def execute(self, the_plan: Plan) -> None:
        for step in the_plan.steps:
            if self.ledger.stopped():
                break
            if step.complete:
                self._complete(self.operations[step.index], the_plan.deferred[step.index])
            else:
                self._run(self.operations[step.index], the_plan)
        for index in list(self.created):  # stopped before their members could be added
            self._undo(index, Conflict("The bulk request stopped (failOnErrors) first."))

    def _run(self, operation: Operation, the_plan: Plan) -> None:
        deferred = the_plan.deferred.get(operation.index, set())
        target: _Target | None = None
        try:
            the_plan.check(operation)
            target = self.bulk.target(operation, self.ledger.path_of(operation))
            outcome = self._call(operation, target, self.ledger.data_of(operation, deferred))
        except ScimError as error:
            outcome = Outcome(error.status, _location(target), error=error)
        except Exception as exc:  # one operation's bug must not hide the others' results
            outcome = Outcome(500, _location(target), error=_internal(operation, exc))
        created = created_id(outcome)
        if deferred and target is not None and created is not None:
            self.ledger.hold(operation, outcome)
            self.created[operation.index] = _Target(target.service, created)
            return
        self.ledger.record(operation, outcome)

    def _call(self, operation: Operation, target: _Target, data: Any) -> Outcome:
        service, resource_id = target.service, target.resource_id
        if operation.method == "POST":
            written = service.create(data, _ID_ONLY)
            return Outcome(201, written.location, etag(written.version))
        assert resource_id is not None
        if operation.method == "PUT":
            written = service.replace(resource_id, data, operation.version, _ID_ONLY)
            return Outcome(200, target.location, etag(written.version))
        if operation.method == "PATCH":
            written = service.patch(resource_id, data, operation.version, None)
            status = 204 if service.has_members else 200  # as the single PATCH answers
            return Outcome(status, target.location, etag(written.version))
        service.delete(resource_id, operation.version)
        return Outcome(204, target.location)

    def _complete(self, operation: Operation, bulk_ids: set[str]) -> None:
        """Add the members a group's POST left out; undo the group if that fails."""
        target = self.created.get(operation.index)
        if target is None or target.resource_id is None:
            return
        try:
            body = self.ledger.completion(operation, bulk_ids)
            written = target.service.patch(target.resource_id, body, None, None)
        except ScimError as error:
            self._undo(operation.index, error)
            return
        except Exception as exc:  # as in _run: a bug here must not lose the other results
            self._undo(operation.index, _internal(operation, exc))
            return
        del self.created[operation.index]
        self.ledger.complete(operation, etag(written.version))

    def _undo(self, index: int, error: ScimError) -> None:
        """Delete a group whose circular members could not be added: its POST failed."""
        target = self.created.pop(index)
        if target.resource_id is not None:
            try:
                target.service.delete(target.resource_id, None)
            except Exception:
                log.warning("bulk: could not undo %s", target.location, exc_info=True)
        self.ledger.fail_cycle(self.operations[index], error)


def _location(target: _Target | None) -> str | None:
    return None if target is None else target.location


def _internal(operation: Operation, exc: Exception) -> ScimError:
    request_id = uuid.uuid4().hex
    log.error(
        "unhandled error %s in bulk operation %d (%s %s)",
        request_id,
        operation.index,
        operation.method,
        operation.path,
        exc_info=exc,
    )
    return ScimError(f"Internal server error (request id {request_id}).")
