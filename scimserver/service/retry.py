"""Run a use case again when the database says trying again can succeed."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from scimserver.errors import ScimError, Unavailable
from scimserver.store.db import Transient

ATTEMPTS = 4
P = ParamSpec("P")
R = TypeVar("R")


def _again(*errors: type[ScimError]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    return method(*args, **kwargs)
                except errors:
                    if attempt == ATTEMPTS:
                        raise
                    time.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311 -- jitter
            raise AssertionError("unreachable")

        return run

    return decorate


retrying = _again(Transient)
"""For writes: each call is one transaction; a :class:`Transient` failure runs it again.

PostgreSQL aborts one of two transactions that wait on each other's rows (e.g. a user
deleted while it is added to a group). Nothing was written, so running the use case
again is safe; after the last attempt the client gets the 409. A lost connection is not
retried here: whether its commit landed is unknown, so the client gets a 503.
"""

reading = _again(Transient, Unavailable)
"""For reads: also run again when a pooled connection turns out dead (the database
restarted); the pool has been emptied, so the next attempt connects afresh."""
