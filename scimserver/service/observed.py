"""What a request's use cases noticed, for the web layer to log and count.

The web layer calls :func:`collect_normalisations` when a request starts; the service
notes each IdP-dialect rule it applied; the web layer reads the list when the request
ends. A context variable, so the service needs no Flask and each thread has its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar

_NORMALISATIONS: ContextVar[list[str] | None] = ContextVar("normalisations", default=None)


def collect_normalisations() -> list[str]:
    """Start a fresh list of this context's normalisations, and return it."""
    found: list[str] = []
    _NORMALISATIONS.set(found)
    return found


def note_normalisations(names: Sequence[str]) -> None:
    """Add dialect rules applied in this context (ignored when nobody collects)."""
    found = _NORMALISATIONS.get()
    if found is not None:
        found.extend(names)
