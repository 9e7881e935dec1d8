"""Asynchronous SCIM requests (RFC 9967 §2.5.1, §3) as pure values: the ``Prefer`` header
(RFC 7240), the ``misc:asyncresp`` completions and how they are logged as changes.

A completion's payload is one Bulk response operation (RFC 7644 §3.7.3): ``method``,
``status`` (a string), ``location`` and ``version`` when known, ``bulkId`` when the
operation had one, and ``response`` (a SCIM error) on failure. Each is one change of
type :data:`ASYNC_COMPLETED`, whose ``data`` holds the payload and the subject's URI,
and whose ``txn`` is the ``Set-Txn`` given to the client (Bulk: ``<Set-Txn>:<index>``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scimserver.errors import Conflict
from scimserver.scim.changes import ChangeRecord

ASYNC_COMPLETED = "async.completed"
"""The change type of a completion: one per request, one per Bulk operation."""
RESPOND_ASYNC = "respond-async"
MAX_WAIT = 30
"""The longest ``Prefer: wait`` honoured (seconds): a waiting request holds a thread."""
JOURNAL_PREFIX = "async/"
"""Starts the request id of a write made for a job; a client's ``X-Request-Id`` cannot
contain ``/``, so no client write can pass for one."""
NOT_PERFORMED = "Not performed: the bulk request stopped (failOnErrors) first."
_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PREFERENCE = re.compile(rf"\s*({_NAME})\s*(?:=\s*(\"(?:[^\"\\]|\\.)*\"|[^;,\s]*))?")
_SECONDS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Preferences:
    """The preferences of ``Prefer`` this server acts on."""

    respond_async: bool = False
    wait: int | None = None
    """Seconds (capped at :data:`MAX_WAIT`); None when absent or malformed."""


def parse_prefer(headers: Iterable[str]) -> Preferences:
    """``Prefer`` header values read as RFC 7240 says: names without case, the first
    instance of a preference counts, parameters and anything malformed are ignored."""
    found: dict[str, str] = {}
    for header in headers:
        for name, value in _preferences(header):
            found.setdefault(name.lower(), value)
    return Preferences(RESPOND_ASYNC in found, _seconds(found.get("wait", "")))


def _seconds(value: str) -> int | None:
    """``wait``'s delta-seconds, at most :data:`MAX_WAIT`; None unless digits only."""
    if not _SECONDS.fullmatch(value):
        return None
    return MAX_WAIT if len(value) > 9 else min(int(value), MAX_WAIT)


def _preferences(header: str) -> Iterable[tuple[str, str]]:
    for part in _split(header):
        match = _PREFERENCE.match(part)
        if match is not None:
            yield match.group(1), (match.group(2) or "").strip('"')


def _split(header: str) -> list[str]:
    """The comma-separated preferences, commas inside quoted strings kept."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in header:
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
    parts.append("".join(current))
    return [p.split(";", 1)[0] for p in parts if p.strip()]


def status_uri(base_url: str, txn: str) -> str:
    """Where a client reads a request's completion: ``<origin>/api/v1/async/<txn>``."""
    return base_url.rstrip("/").removesuffix("/scim/v2") + f"/api/v1/async/{txn}"


def operation_txn(txn: str, index: int | None) -> str:
    """A completion's ``txn``: the ``Set-Txn``, and for a Bulk operation ``:<index>``."""
    return txn if index is None else f"{txn}:{index}"


def journal_key(txn: str, occurrence: int, *parts: Any) -> str:
    """The request id of the ``occurrence``-th write of job ``txn`` with these ``parts``
    (method, type, id, body, If-Match): the same when the job runs again."""
    text = json.dumps([txn, occurrence, *parts], sort_keys=True, default=str)
    return JOURNAL_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:48]


@dataclass(frozen=True)
class Completion:
    """One ``misc:asyncresp`` event: its payload, its subject and the resource's version."""

    index: int | None
    payload: dict[str, Any]
    uri: str
    resource_type: str
    resource_id: str = ""
    version: int | None = None

    def record(self) -> ChangeRecord:
        data = {"uri": self.uri, "asyncresp": self.payload}
        return ChangeRecord(ASYNC_COMPLETED, self.resource_type, self.resource_id, data=data)


def payload_of(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``misc:asyncresp`` payload a completion change carries."""
    found = (data or {}).get("asyncresp")
    return dict(found) if isinstance(found, Mapping) else {}


def subject_uri(data: Mapping[str, Any] | None) -> str:
    found = (data or {}).get("uri")
    return found if isinstance(found, str) else "/"


def relative(location: str | None, base_url: str, fallback: str) -> str:
    """A location as the relative path ``sub_id.uri`` carries (``/Users/{id}``)."""
    base = base_url.rstrip("/")
    if location and location.startswith(base + "/"):
        return location[len(base) :]
    path = fallback.split("?", 1)[0]
    return path if path.startswith("/") else "/" + path


def bulk_operations(body: Any) -> list[tuple[str, str | None, str]]:
    """(method, bulkId, path) of each requested Bulk operation, as the client wrote them."""
    operations = _member(body, "Operations") if isinstance(body, Mapping) else None
    if not isinstance(operations, list):
        return []
    return [_requested(op) for op in operations]


def _requested(op: Any) -> tuple[str, str | None, str]:
    if not isinstance(op, Mapping):
        return "", None, "/"
    method, bulk_id, path = (_member(op, k) for k in ("method", "bulkId", "path"))
    return (
        method.upper() if isinstance(method, str) else "",
        bulk_id if isinstance(bulk_id, str) else None,
        path if isinstance(path, str) else "/",
    )


def _member(mapping: Mapping[str, Any], name: str) -> Any:
    return next((v for k, v in mapping.items() if k.lower() == name.lower()), None)


def by_index(
    requested: Sequence[tuple[str, str | None, str]], ran: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The response operation of each requested one, in request order; an operation that
    did not run (``failOnErrors`` stopped the request first) gets a 409 saying so.

    A Bulk response lists the operations that ran in request order; those that did not
    run are the last ones of their kind to run (only a POST with a ``bulkId`` runs out
    of order, and its ``bulkId`` is unique), so matching in order on method and
    ``bulkId`` pairs each response with its request.
    """
    if len(ran) == len(requested):
        return [dict(response) for response in ran]
    found: list[dict[str, Any]] = []
    position = 0
    for method, bulk_id, _ in requested:
        response = ran[position] if position < len(ran) else None
        if response is not None and _same(response, method, bulk_id):
            found.append(dict(response))
            position += 1
        else:
            found.append(_not_performed(method, bulk_id))
    return found


def _same(response: Mapping[str, Any], method: str, bulk_id: str | None) -> bool:
    return response.get("method") == method and response.get("bulkId") == bulk_id


def _not_performed(method: str, bulk_id: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"method": method}
    if bulk_id is not None:
        out["bulkId"] = bulk_id
    out["status"] = "409"
    out["response"] = Conflict(NOT_PERFORMED).to_json()
    return out
