"""Bulk (RFC 7644 §3.7), pure: the request parsed, bulkId references, the plan, the response.

``scimserver.service.bulk`` runs the plan; this module decides what runs, in which order,
with which references resolved, and what the response says. Each operation reports the
status its single-request twin would have had; earlier operations stay written when a
later one fails: a bulk request is not a transaction (RFC 7644 §3.7: "continue performing
as many changes as possible").

Choices where the RFC leaves room:

- Order. Operations run in request order, except that a POST runs before the first
  operation that references its ``bulkId`` (§3.7: optimised order, same result). The
  plan is computed before anything runs, without recursion.
- References. A string value that is ``bulkId:<id>`` as a whole, anywhere in ``data``,
  is replaced by the created resource's id. Inside longer strings ``bulkId:<id>`` is
  replaced only where a path is expected (the operation's ``path``, and the ``path`` of
  each PATCH operation, as in ``members[value eq "bulkId:q"]``), up to the next quote,
  slash, bracket, parenthesis, question mark or space: free text that mentions
  ``bulkId:`` is left alone. Only a POST declares a bulkId that can be referenced. A
  reference to a bulkId no POST declares is 400 invalidValue; to one whose POST failed,
  409 (the reference cannot be resolved).
- Cycles (§3.7.1: "MUST try to resolve circular cross-references ... MAY stop after a
  failed attempt and instead return HTTP status code 409"). A cycle through the
  ``members`` of groups being created is resolved as the RFC's example shows: the group
  whose reference closes the cycle is created without those members, which are added
  once their POSTs ran; if one of them failed, the group is deleted again and its
  operation answers 409. Any other cycle answers 409 for the operation closing it (and
  409 for those that depend on it).
- ``failOnErrors`` N: after the N-th failed operation nothing more runs; the response
  lists the operations that ran, in request order. Without it every operation runs, and
  so with 0, which SDKs send for an integer left unset.
- Limits: more than ``maxOperations`` operations is 413 tooLarge for the whole request
  (the payload size is checked by the HTTP layer before parsing). Duplicate bulkIds make
  references ambiguous: 400 invalidValue for the whole request.
- Liberal reading: a POST without ``bulkId`` is accepted (it cannot be referenced);
  member names are case-insensitive; ``method`` is upper-cased (``post`` is ``POST``,
  and the response says ``POST``); a missing ``schemas`` is tolerated, a wrong one is
  not. A ``version`` is an If-Match value: a non-string one is 400, never ignored. A
  path under the base URL (``/scim/v2/Users/{id}``, or the full URL) names the same
  resource as the relative ``/Users/{id}`` the RFC shows.
- Successful operations carry no ``response`` body, failed ones carry the SCIM error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scimserver.errors import (
    Conflict,
    InvalidSyntax,
    InvalidValue,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ScimError,
)
from scimserver.schema import Registry, ResourceType
from scimserver.scim.keys import value_of
from scimserver.scim.patch import PATCH_OP

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
METHODS = ("POST", "PUT", "PATCH", "DELETE")
PREFIX = "bulkId:"
_EMBEDDED = re.compile(r"bulkId:([^\s\"'/\[\]()?#]*)")
MAX_DEPTH = 32
"""SCIM data nests a handful of levels (PatchOp, Operations, value, members, member);
anything deeper is refused, which keeps the recursive walks below far from Python's limit."""


@dataclass(frozen=True)
class BulkLimits:
    max_operations: int
    max_payload_bytes: int


@dataclass
class Operation:
    """One entry of ``Operations``; ``error`` is set when the entry itself is malformed."""

    index: int
    method: str
    path: str
    bulk_id: str | None = None
    version: str | None = None
    data: Any = None
    refs: frozenset[str] = frozenset()
    member_refs: frozenset[str] = frozenset()
    error: ScimError | None = None


@dataclass
class Outcome:
    status: int
    location: str | None = None
    version: str | None = None
    error: ScimError | None = None

    def to_json(self, operation: Operation) -> dict[str, Any]:
        out: dict[str, Any] = {"method": operation.method}
        if operation.bulk_id is not None:
            out["bulkId"] = operation.bulk_id
        if self.location is not None:
            out["location"] = self.location
        if self.version is not None:
            out["version"] = self.version
        out["status"] = str(self.status)
        if self.error is not None:
            out["response"] = self.error.to_json()
        return out


# -- the request ----------------------------------------------------------------------


@dataclass(frozen=True)
class BulkRequest:
    operations: list[Operation]
    fail_on_errors: int | None


def parse_request(body: Any, limits: BulkLimits) -> BulkRequest:
    """The envelope checked (errors here fail the whole request), operations parsed."""
    if not isinstance(body, Mapping):
        raise InvalidSyntax("A bulk request must be a JSON object.")
    schemas = value_of(body, "schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or BULK_REQUEST.lower() not in _lowered(schemas)
    ):
        raise InvalidValue(f'A bulk request\'s "schemas" must list {BULK_REQUEST}.')
    items = value_of(body, "Operations")
    if not isinstance(items, list):
        raise InvalidSyntax('A bulk request needs an "Operations" list.')
    if len(items) > limits.max_operations:
        raise PayloadTooLarge(
            f"The bulk request has {len(items)} operations; maxOperations is "
            f"{limits.max_operations}."
        )
    operations = [_operation(i, item) for i, item in enumerate(items)]
    _check_bulk_ids(operations)
    return BulkRequest(operations, _fail_on_errors(value_of(body, "failOnErrors")))


def _lowered(values: Sequence[Any]) -> set[str]:
    return {str(v).lower() for v in values}


def _fail_on_errors(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidValue("failOnErrors must be a positive integer.")
    return value or None


def _operation(index: int, item: Any) -> Operation:
    if not isinstance(item, Mapping):
        error = InvalidSyntax(f"Operation {index} is not a JSON object.")
        return Operation(index, "", "", error=error)
    method = value_of(item, "method")
    path = value_of(item, "path")
    bulk_id = value_of(item, "bulkId")
    version = value_of(item, "version")
    operation = Operation(
        index,
        method.upper() if isinstance(method, str) else "",
        path if isinstance(path, str) else "",
        bulk_id if isinstance(bulk_id, str) and bulk_id else None,
        version if isinstance(version, str) and version else None,
        value_of(item, "data"),
    )
    operation.error = _malformed(operation, method, path, bulk_id, version)
    if operation.error is None:
        operation.refs = frozenset(embedded(operation.path)) | data_references(
            operation.method, operation.data
        )
        operation.member_refs = frozenset(_member_references(operation))
    return operation


def _malformed(
    operation: Operation, method: Any, path: Any, bulk_id: Any, version: Any
) -> ScimError | None:
    if operation.method not in METHODS:
        return InvalidValue(f"method must be one of {', '.join(METHODS)}, not {method!r}.")
    if not isinstance(path, str) or not path.strip("/"):
        return InvalidValue('Every operation needs a "path" such as /Users or /Users/{id}.')
    if bulk_id is not None and not (isinstance(bulk_id, str) and bulk_id):
        return InvalidValue("bulkId must be a non-empty string.")
    if version is not None and not isinstance(version, str):
        return InvalidValue('"version" must be an entity tag string such as W/"3".')
    if operation.method != "DELETE" and not isinstance(operation.data, Mapping):
        return InvalidSyntax(f'A {operation.method} operation needs "data" (a JSON object).')
    if _too_deep(operation.data):
        return InvalidSyntax(f'"data" nests deeper than {MAX_DEPTH} levels.')
    return None


def _too_deep(value: Any) -> bool:
    """Whether a JSON value nests deeper than ``MAX_DEPTH``, found without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, Mapping | list):
            continue
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, Mapping) else item
        stack.extend((child, depth + 1) for child in children)
    return False


def _check_bulk_ids(operations: Sequence[Operation]) -> None:
    seen: set[str] = set()
    for operation in operations:
        if operation.bulk_id is None:
            continue
        if operation.bulk_id in seen:
            raise InvalidValue(f"bulkId {operation.bulk_id!r} is used by more than one operation.")
        seen.add(operation.bulk_id)


# -- bulkId references ----------------------------------------------------------------


def references(value: Any) -> Iterator[str]:
    """Every bulkId a JSON value references as a whole string, at any depth."""
    if isinstance(value, str):
        if value.startswith(PREFIX):
            yield value[len(PREFIX) :]
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def embedded(text: str) -> list[str]:
    """The bulkIds referenced inside a path or a PATCH path filter."""
    return _EMBEDDED.findall(text)


def data_references(method: str, data: Any) -> frozenset[str]:
    """The bulkIds an operation's ``data`` references, PATCH paths included."""
    found = set(references(data))
    for path in _patch_paths(method, data):
        found.update(embedded(path))
    return frozenset(found)


def substitute(value: Any, ids: Mapping[str, str]) -> Any:
    """``value`` with every whole-string reference replaced by its id (all in ``ids``)."""
    if isinstance(value, str):
        return ids[value[len(PREFIX) :]] if value.startswith(PREFIX) else value
    if isinstance(value, Mapping):
        return {k: substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, ids) for v in value]
    return value


def substitute_embedded(text: str, ids: Mapping[str, str]) -> str:
    """``text`` (a path) with every reference inside it replaced by its id."""
    return _EMBEDDED.sub(lambda m: ids[m.group(1)], text)


def substitute_data(method: str, data: Any, ids: Mapping[str, str]) -> Any:
    """``data`` with its references replaced, inside PATCH paths too."""
    data = substitute(data, ids)
    if method != "PATCH" or not isinstance(data, Mapping):
        return data
    return {k: _with_paths(v, ids) if k.lower() == "operations" else v for k, v in data.items()}


def _with_paths(items: Any, ids: Mapping[str, str]) -> Any:
    """PATCH ``Operations`` with the references inside each ``path`` replaced."""
    return [_with_path(item, ids) for item in items] if isinstance(items, list) else items


def _with_path(item: Any, ids: Mapping[str, str]) -> Any:
    if not isinstance(item, Mapping):
        return item
    return {
        k: substitute_embedded(v, ids) if k.lower() == "path" and isinstance(v, str) else v
        for k, v in item.items()
    }


def _patch_paths(method: str, data: Any) -> Iterator[str]:
    """The ``path`` of each operation of a PatchOp."""
    items = (
        value_of(data, "Operations") if method == "PATCH" and isinstance(data, Mapping) else None
    )
    for item in items if isinstance(items, list) else []:
        path = value_of(item, "path") if isinstance(item, Mapping) else None
        if isinstance(path, str):
            yield path


def _member_references(operation: Operation) -> Iterator[str]:
    """bulkIds a POST references as ``members[].value`` and nowhere else in that element."""
    if operation.method != "POST" or not isinstance(operation.data, Mapping):
        return
    members = value_of(operation.data, "members")
    for member in members if isinstance(members, list) else []:
        value = value_of(member, "value") if isinstance(member, Mapping) else None
        if isinstance(value, str) and value.startswith(PREFIX):
            yield value[len(PREFIX) :]


# -- the plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """Run an operation, or complete a group created without its circular members."""

    index: int
    complete: bool = False


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    deferred: dict[int, set[str]] = field(default_factory=dict)
    """Operation → the member bulkIds its POST leaves out, to add at its completion."""
    circular: set[int] = field(default_factory=set)
    """Operations closing a cycle that cannot be broken: they answer 409."""

    def check(self, operation: Operation) -> None:
        """Raise what an operation that cannot run answers: its own error, or 409 (a cycle)."""
        if operation.error is not None:
            raise operation.error
        if operation.index in self.circular:
            raise Conflict("A circular bulkId reference could not be resolved.")


def plan(operations: Sequence[Operation]) -> Plan:
    """Request order, each POST moved before its first referrer; cycles broken or marked."""
    declared = declarations(operations)
    deps = {op.index: _deps(op, declared) for op in operations}
    result = Plan()
    done: set[int] = set()
    waiting: dict[int, set[int]] = {}  # deferred operation → targets not yet run
    for root in range(len(operations)):
        if root not in done:
            _visit(root, operations, deps, result, done, waiting)
    return result


def declarations(operations: Sequence[Operation]) -> dict[str, int]:
    """bulkId → the POST declaring it: only a POST creates something to reference."""
    return {
        op.bulk_id: op.index for op in operations if op.bulk_id is not None and op.method == "POST"
    }


def _deps(operation: Operation, declared: Mapping[str, int]) -> list[int]:
    return sorted({declared[r] for r in operation.refs if r in declared})


def _visit(
    root: int,
    operations: Sequence[Operation],
    deps: Mapping[int, list[int]],
    result: Plan,
    done: set[int],
    waiting: dict[int, set[int]],
) -> None:
    """Depth-first post-order from ``root`` with an explicit stack."""
    on_stack = {root}
    stack = [(root, iter(deps[root]))]
    while stack:
        node, pending = stack[-1]
        for target in pending:
            if target in on_stack:
                _close_cycle(operations[node], operations[target], result, waiting)
            elif target not in done:
                on_stack.add(target)
                stack.append((target, iter(deps[target])))
                break
        else:
            stack.pop()
            on_stack.discard(node)
            done.add(node)
            result.steps.append(Step(node))
            _release(node, result, done, waiting)


def _close_cycle(
    source: Operation, target: Operation, result: Plan, waiting: dict[int, set[int]]
) -> None:
    assert target.bulk_id is not None
    if target.bulk_id in source.member_refs and not _elsewhere(source, target.bulk_id):
        result.deferred.setdefault(source.index, set()).add(target.bulk_id)
        waiting.setdefault(source.index, set()).add(target.index)
    else:
        result.circular.add(source.index)


def _elsewhere(operation: Operation, bulk_id: str) -> bool:
    """Whether ``bulk_id`` is referenced outside ``members[].value`` too."""
    rest = {k: v for k, v in operation.data.items() if k.lower() != "members"}
    return bulk_id in set(references(rest)) or bulk_id in embedded(operation.path)


def _release(ran: int, result: Plan, done: set[int], waiting: dict[int, set[int]]) -> None:
    """Complete each deferred group once it and all the members it left out have run."""
    for index, targets in list(waiting.items()):
        targets.discard(ran)
        if not targets and index in done:
            del waiting[index]
            result.steps.append(Step(index, complete=True))


# -- what a path names ----------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    """The resource type a path names, and the resource id when it names one resource."""

    resource_type: ResourceType
    resource_id: str | None


def address(registry: Registry, operation: Operation, path: str) -> Address:
    """What ``path`` names; 404 unknown endpoint, 405 a method of the wrong shape."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if len(parts) > 2:  # RFC 7644 §3.7 paths are relative; some clients send /scim/v2/…
        parts = parts[-1:] if registry.by_endpoint(parts[-1]) else parts[-2:]
    resource_type = registry.by_endpoint(parts[0]) if parts else None
    if resource_type is None:
        raise NotFound(f"No resource endpoint at {path!r}.")
    found = Address(resource_type, parts[1] if len(parts) == 2 else None)
    if (operation.method == "POST") != (found.resource_id is None):
        raise MethodNotAllowed(f"{operation.method} is not allowed on {path!r}.")
    return found


# -- the ledger -----------------------------------------------------------------------


class Ledger:
    """What has run so far: outcomes, the id each bulkId created, failures against
    ``failOnErrors``; it resolves references and assembles the response."""

    def __init__(self, request: BulkRequest) -> None:
        self.operations = request.operations
        self.fail_on_errors = request.fail_on_errors
        self.outcomes: dict[int, Outcome] = {}
        self.declared = declarations(request.operations)
        self.ids: dict[str, str | None] = {}  # bulkId → created id, None when its POST failed
        self.errors = 0

    def stopped(self) -> bool:
        """Whether ``failOnErrors`` failures happened: nothing more runs."""
        return self.fail_on_errors is not None and self.errors >= self.fail_on_errors

    def record(self, operation: Operation, outcome: Outcome) -> None:
        """An operation's final outcome."""
        self.outcomes[operation.index] = outcome
        if outcome.error is not None:
            self.errors += 1
        if operation.method == "POST" and operation.bulk_id is not None:
            self.ids[operation.bulk_id] = created_id(outcome)

    def hold(self, operation: Operation, outcome: Outcome) -> None:
        """A group created without its circular members: referrers need its id now, the
        outcome is final (``complete`` or ``record``) once the members are in."""
        self.ids[operation.bulk_id or ""] = created_id(outcome)
        self.outcomes[operation.index] = outcome

    def complete(self, operation: Operation, version: str) -> None:
        """A held group whose members were added: created, at its new version."""
        held = self.outcomes[operation.index]
        self.record(operation, Outcome(201, held.location, version))

    def fail_cycle(self, operation: Operation, error: ScimError) -> None:
        """A held group whose members could not be added (and which was deleted again)."""
        detail = f"A circular bulkId reference could not be resolved: {error.detail}"
        self.record(operation, Outcome(409, error=Conflict(detail)))

    def path_of(self, operation: Operation) -> str:
        """The operation's path, its references resolved."""
        return substitute_embedded(operation.path, self.resolve(embedded(operation.path)))

    def data_of(self, operation: Operation, deferred: set[str]) -> Any:
        """The operation's data without its ``deferred`` members, references resolved."""
        data = without_members(operation.data, deferred)
        refs = self.resolve(data_references(operation.method, data))
        return substitute_data(operation.method, data, refs)

    def completion(self, operation: Operation, bulk_ids: set[str]) -> dict[str, Any]:
        """The PatchOp adding the members a group's POST left out, references resolved."""
        members = substitute(left_out(operation.data, bulk_ids), self.resolve(sorted(bulk_ids)))
        add = {"op": "add", "path": "members", "value": members}
        return {"schemas": [PATCH_OP], "Operations": [add]}

    def resolve(self, refs: Iterable[str]) -> dict[str, str]:
        """The created id of each referenced bulkId; 400 undeclared, 409 unresolved."""
        ids: dict[str, str] = {}
        for ref in refs:
            if ref not in self.declared:
                raise InvalidValue(f"No POST operation in this request has bulkId {ref!r}.")
            found = self.ids.get(ref)
            if found is None:
                reason = "its operation failed" if ref in self.ids else "the reference is circular"
                raise Conflict(f"bulkId {ref!r} cannot be resolved: {reason}.")
            ids[ref] = found
        return ids

    def response(self) -> dict[str, Any]:
        """The BulkResponse: the operations that ran, in request order."""
        operations = self.operations
        return {
            "schemas": [BULK_RESPONSE],
            "Operations": [self.outcomes[i].to_json(operations[i]) for i in sorted(self.outcomes)],
        }


def created_id(outcome: Outcome) -> str | None:
    """The id a successful POST created, from its location."""
    if outcome.error is not None or outcome.location is None:
        return None
    return outcome.location.rsplit("/", 1)[-1]


def without_members(data: Any, bulk_ids: set[str]) -> Any:
    """A group's POST data without the members referencing ``bulk_ids``."""
    if not bulk_ids or not isinstance(data, Mapping):
        return data
    out = dict(data)
    for key, members in data.items():
        if key.lower() == "members" and isinstance(members, list):
            out[key] = [m for m in members if not _references_one_of(m, bulk_ids)]
    return out


def left_out(data: Any, bulk_ids: set[str]) -> list[Any]:
    """The members ``without_members`` leaves out, as the client sent them (display too)."""
    members = value_of(data, "members") if isinstance(data, Mapping) else None
    return [m for m in members or [] if _references_one_of(m, bulk_ids)]


def _references_one_of(member: Any, bulk_ids: set[str]) -> bool:
    value = value_of(member, "value") if isinstance(member, Mapping) else None
    return isinstance(value, str) and value.startswith(PREFIX) and value[len(PREFIX) :] in bulk_ids
