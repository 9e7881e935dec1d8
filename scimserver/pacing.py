"""How many requests of a worker process run at once; the others wait their turn, in order.

A ``serve`` worker has many threads so that a long-poll or a kept-alive connection costs a
thread, not a process. Run all at once, though, its requests share one interpreter lock:
eight started together each finish about eight times later, and a writer holding SQLite's
write turn waits for the other threads' Python while every writer of every process waits
for it. So a request runs holding one of a few slots (:class:`Pacing`); one that waits
for something other than its own work — a long-poll, ``Prefer: wait`` — gives its slot
back for the wait (:func:`paused`). Nothing else is waited for while holding a slot but
the database and the write turn, whose holders hold slots too: no cycle.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

_held = threading.local()


class Slots:
    """``count`` slots handed out first come, first served: a released slot goes straight
    to the longest waiter, so a thread that releases and asks again at once (a client
    sending request after request) cannot take it back ahead of the others."""

    def __init__(self, count: int) -> None:
        self._lock = threading.Lock()
        self._free = count
        self._waiting: deque[threading.Event] = deque()

    def acquire(self) -> None:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            turn = threading.Event()
            self._waiting.append(turn)
        turn.wait()  # set by release, which handed this thread its slot

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._free += 1


class Pacing:
    """At most ``active`` requests of this process run at once (0: no limit)."""

    def __init__(self, active: int) -> None:
        self._slots = Slots(active) if active > 0 else None

    def slot(self) -> AbstractContextManager[None]:
        """Hold a slot for the ``with`` (a request's whole handling)."""
        return nullcontext() if self._slots is None else _holding(self._slots)


@contextmanager
def _holding(slots: Slots) -> Iterator[None]:
    slots.acquire()
    _held.slots = slots
    try:
        yield
    finally:
        _held.slots = None
        slots.release()


@contextmanager
def paused() -> Iterator[None]:
    """Give this thread's slot back for the ``with`` (a wait), and take one again after."""
    slots: Slots | None = getattr(_held, "slots", None)
    if slots is None:
        yield
        return
    _held.slots = None
    slots.release()
    try:
        yield
    finally:
        slots.acquire()
        _held.slots = slots
