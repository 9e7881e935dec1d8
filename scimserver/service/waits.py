"""Caps on long waits: a feed long-poll or an RFC 8936 poll holds one of its worker's
threads while it waits, so no token may hold more than ``per_token`` of them at once,
and all tokens together no more than ``per_worker``, in each worker process.

Over a cap the wait is refused at once with :class:`TooManyWaits` (429 with
``Retry-After``): the feed answers it; the SET poll returns its empty answer early, as
RFC 8936 §2.4 allows. Whatever the tokens do, the other ``threads - per_worker``
threads stay free for SCIM requests.
"""

from __future__ import annotations

import math
import threading
from collections import Counter

from scimserver.errors import TooManyWaits
from scimserver.store.watch import HeadWatcher


class Waits:
    """Waits for a tenant's change log to grow, within this process's caps."""

    def __init__(self, watcher: HeadWatcher, per_worker: int, per_token: int) -> None:
        self.watcher = watcher
        self.per_worker = per_worker
        self.per_token = per_token
        self._lock = threading.Lock()
        self._held: Counter[int] = Counter()

    def wait(self, token_id: int, tenant_id: int, seen: int, timeout: float) -> bool:
        """Block until the tenant's head passes ``seen`` (True) or ``timeout`` runs out;
        :class:`TooManyWaits` at once when the token or this process holds its cap."""
        self._take(token_id, timeout)
        try:
            return self.watcher.wait(tenant_id, seen, timeout)
        finally:
            with self._lock:
                self._held[token_id] -= 1
                if not self._held[token_id]:
                    del self._held[token_id]

    def _take(self, token_id: int, timeout: float) -> None:
        # Come back after the time the client meant to wait: its cursor still holds.
        retry = max(1, math.ceil(timeout))
        with self._lock:
            if self._held[token_id] >= self.per_token:
                raise TooManyWaits(
                    retry,
                    f"This token already holds {self.per_token} waiting requests in this "
                    f"server process; retry in {retry} s (your cursor is still valid).",
                )
            if self._held.total() >= self.per_worker:
                raise TooManyWaits(
                    retry,
                    f"This server process already holds {self.per_worker} waiting requests; "
                    f"retry in {retry} s (your cursor is still valid).",
                )
            self._held[token_id] += 1
