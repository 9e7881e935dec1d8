"""Connections spread evenly over a server's workers.

gunicorn's threaded workers all accept from one listening socket: whichever polls first
takes a new connection, and a kept-alive connection stays with the worker that took it.
Eight clients connecting at once can land six on one worker and two on the other. Both
workers stay busy, but each runs one request at a time (``scimserver.pacing``), so the six
wait three times as long for their turn as the two: the slowest answers come from the
crowded worker. So each worker publishes how many connections it holds, in memory the
master shares with every worker it forks, and accepts a new one only while it holds no
more than the average: a newcomer waits in the listening socket's queue for a worker with
fewer. One worker always qualifies (not all can hold more than the average).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterable

_COUNT = struct.Struct("q")
VACANT = -1
"""A slot's count while no live worker holds it (before its worker is up, after it died):
left out of the average, so the workers that are up take every connection meanwhile."""


class Shares:
    """The connections each worker slot holds, in anonymous memory shared across fork."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._memory = mmap.mmap(-1, _COUNT.size * slots)  # MAP_SHARED: forks see writes
        for slot in range(slots):
            self.hold(slot, VACANT)

    def free_slot(self, taken: Iterable[int | None]) -> int | None:
        """The lowest slot no live worker holds (None when all are held)."""
        free = sorted(set(range(self.slots)) - set(taken))
        return free[0] if free else None

    def hold(self, slot: int, connections: int) -> None:
        _COUNT.pack_into(self._memory, slot * _COUNT.size, connections)

    def counts(self) -> list[int]:
        return [count for (count,) in _COUNT.iter_unpack(self._memory)]


class Share:
    """One worker's slot in :class:`Shares`."""

    def __init__(self, shares: Shares, slot: int) -> None:
        self.shares = shares
        self.slot = slot

    def hold(self, connections: int) -> None:
        """Publish how many connections this worker holds now."""
        self.shares.hold(self.slot, connections)

    def leave(self) -> None:
        """This slot's worker is gone: its count no longer counts."""
        self.shares.hold(self.slot, VACANT)

    def may_accept(self, connections: int) -> bool:
        """Whether this worker, holding ``connections``, holds no more than the average
        of the live workers."""
        others = [c for i, c in enumerate(self.shares.counts()) if i != self.slot and c >= 0]
        return connections * (len(others) + 1) <= sum(others) + connections
