"""Run a write again when the database says it lost a deadlock or serialisation race."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from scimserver.store.db import Transient

ATTEMPTS = 4
P = ParamSpec("P")
R = TypeVar("R")


def retrying(method: Callable[P, R]) -> Callable[P, R]:
    """Each call is one transaction; a :class:`Transient` failure runs it again (bounded).

    PostgreSQL aborts one of two transactions that wait on each other's rows (e.g. a
    user deleted while it is added to a group). Nothing was written, so running the
    use case again is safe; after the last attempt the client gets the 409.
    """

    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return method(*args, **kwargs)
            except Transient:
                if attempt == ATTEMPTS:
                    raise
                time.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311 -- jitter, not crypto
        raise AssertionError("unreachable")

    return run
