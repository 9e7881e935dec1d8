"""RFC 8936 poll requests: parsing and validating what a SET receiver sends.

A poll request is a JSON object with optional ``maxEvents`` (integer ≥ 0),
``returnImmediately`` (boolean), ``ack`` (array of ``jti`` strings) and ``setErrs``
(``{jti: {"err": code, "description": text}}``, which needs a ``Content-Language``
header, §2.6). An ``ack`` entry that is no jti is ignored (counted in
``PollRequest.ignored``), so it never costs the valid acknowledgements beside it.
Anything else invalid raises :class:`PollError` (answered 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_JTI_LENGTH = 64
MAX_EVENTS_LIMIT = 1000
"""The most SETs one response carries, whatever ``maxEvents`` asks for."""
MAX_SET_ERRS = MAX_EVENTS_LIMIT
"""The most ``setErrs`` one request may carry: as many SETs as one response delivers."""


class PollError(Exception):
    """An invalid poll request (RFC 8936 §2.5.1): answered 400 ``{"err", "description"}``."""

    def __init__(self, description: str, err: str = "invalid_request") -> None:
        self.err = err
        self.description = description
        super().__init__(description)


@dataclass(frozen=True)
class SetErr:
    err: str
    description: str


@dataclass(frozen=True)
class PollRequest:
    max_events: int = MAX_EVENTS_LIMIT
    return_immediately: bool = False
    ack: tuple[str, ...] = ()
    errors: Mapping[str, SetErr] = field(default_factory=dict)
    ignored: int = 0
    """``ack`` entries that are not jtis (not strings, empty or too long)."""


def parse_poll(body: Any, content_language: str | None) -> PollRequest:
    """The poll request in ``body``, or :class:`PollError`."""
    if not isinstance(body, dict):
        raise PollError("The poll request must be a JSON object.")
    max_events = body.get("maxEvents", MAX_EVENTS_LIMIT)
    if isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 0:
        raise PollError("maxEvents must be a non-negative integer.")
    immediately = body.get("returnImmediately", False)
    if not isinstance(immediately, bool):
        raise PollError("returnImmediately must be true or false.")
    errors = _set_errs(body.get("setErrs", {}))
    if errors and not (content_language or "").strip():
        raise PollError("A request carrying setErrs needs a Content-Language header.")
    ack = body.get("ack", [])
    if not isinstance(ack, list):
        raise PollError("ack must be an array of jti strings.")
    jtis = tuple(dict.fromkeys(j for j in ack if _is_jti(j)))
    ignored = sum(1 for j in ack if not _is_jti(j))
    return PollRequest(min(max_events, MAX_EVENTS_LIMIT), immediately, jtis, errors, ignored)


def _set_errs(value: Any) -> dict[str, SetErr]:
    if not isinstance(value, dict):
        raise PollError("setErrs must be an object of jti to {err, description}.")
    if len(value) > MAX_SET_ERRS:
        raise PollError(f"setErrs may refuse {MAX_SET_ERRS} SETs at most per request.")
    errors: dict[str, SetErr] = {}
    for jti, entry in value.items():
        if not _is_jti(jti) or not isinstance(entry, dict):
            raise PollError("setErrs must be an object of jti to {err, description}.")
        err, description = entry.get("err"), entry.get("description", "")
        if not isinstance(err, str) or not err or not isinstance(description, str):
            raise PollError(f"setErrs[{jti!r}] needs a string err and description.")
        errors[jti] = SetErr(err, description)
    return errors


def _is_jti(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_JTI_LENGTH
