"""Per-token rate limits in fixed windows, shared by every worker and instance.

Each process counts its own requests and adds them to the token's row for the window
(``store.ratelimits``) in batches: at the first request of a window, once a second, and
whenever its unshared count reaches a tenth of what the window has left. So the shared
total costs a write per batch, not per request, and a process can overshoot the limit
by at most about a tenth of the remainder (per process) before it learns of the others.
A request over the limit is refused with the seconds until the window ends; once the
shared total is known to be spent, refusals cost no database write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from scimserver.store import ratelimits
from scimserver.store.db import Database

SYNC_SECONDS = 1.0


@dataclass
class _Window:
    start: int
    shared: int = 0
    """The window's total over all processes, as of this process's last sync."""
    pending: int = 0
    """This process's requests not yet added to the shared total."""
    synced_at: float = float("-inf")


class RateLimiter:
    def __init__(
        self,
        db: Database,
        limit: int,
        window_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self._windows: dict[int, _Window] = {}
        self._lock = threading.Lock()

    def admit(self, token_id: int) -> int | None:
        """Count a request; None if it may go ahead, else the seconds to wait."""
        if self.limit <= 0:
            return None
        now = self.clock()
        start = int(now) - int(now) % self.window
        with self._lock:
            window = self._windows.get(token_id)
            if window is None or window.start != start:
                window = self._windows[token_id] = _Window(start)
            wait = max(1, start + self.window - int(now))
            if window.shared >= self.limit:
                return wait  # known spent: refused without another write
            window.pending += 1
            if self._due(window, now):
                self._sync(token_id, window, now)
            return wait if window.shared + window.pending > self.limit else None

    def _due(self, window: _Window, now: float) -> bool:
        batch = max(1, (self.limit - window.shared) // 10)
        return window.pending >= batch or now - window.synced_at >= SYNC_SECONDS

    def _sync(self, token_id: int, window: _Window, now: float) -> None:
        with self.db.write() as session:
            if window.synced_at == float("-inf"):
                ratelimits.forget_before(session, token_id, window.start)
            window.shared = ratelimits.add(session, token_id, window.start, window.pending)
        window.pending = 0
        window.synced_at = now
