"""What a request's use cases noticed, for the web layer to log, count and record.

The web layer calls :func:`collect_normalisations`, :func:`collect_subjects` and
:func:`collect_ignored` when a request starts; the service notes each IdP-dialect rule
it applied, the userName or displayName of the resource it worked on, and the attributes
it dropped because no schema declares them; the web layer reads the lists when the
request ends. Context variables, so the service needs no Flask and each thread has its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar

_NORMALISATIONS: ContextVar[list[str] | None] = ContextVar("normalisations", default=None)
_SUBJECTS: ContextVar[list[str] | None] = ContextVar("subjects", default=None)
_IGNORED: ContextVar[list[str] | None] = ContextVar("ignored", default=None)


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


def collect_subjects() -> list[str]:
    """Start a fresh list of the resources this context named, and return it."""
    found: list[str] = []
    _SUBJECTS.set(found)
    return found


def note_subject(name: object) -> None:
    """Note the userName or displayName a request named (ignored unless a string)."""
    found = _SUBJECTS.get()
    if found is not None and isinstance(name, str) and name:
        found.append(name)


def collect_ignored() -> list[str]:
    """Start a fresh list of the attributes this context ignored, and return it."""
    found: list[str] = []
    _IGNORED.set(found)
    return found


def note_ignored(names: Sequence[str]) -> None:
    """Note attributes a request carried that no schema declares (ignored when nobody
    collects); each once."""
    found = _IGNORED.get()
    if found is not None:
        found.extend(name for name in names if name not in found)
