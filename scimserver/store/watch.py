"""Wake long-polling readers when a tenant's change log grows, in any process or host.

One daemon thread per process reads every tenant's head ``seq`` (one small query)
every ``interval`` seconds, but only while some reader waits; readers block on a
condition until their tenant's head passes the ``seq`` they have. Polling the database
instead of LISTEN/NOTIFY works the same on SQLite and PostgreSQL, sees writes from
every worker and every instance, and costs writers nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from scimserver.pacing import paused
from scimserver.store.changes import heads
from scimserver.store.db import Database

log = logging.getLogger(__name__)


class HeadWatcher:
    def __init__(self, db: Database, interval: float = 0.05) -> None:
        self.db = db
        self.interval = interval
        self._cond = threading.Condition()
        self._heads: dict[int, int] = {}
        self._waiting = 0
        self._pid = 0  # the thread is started lazily, after gunicorn forks the worker

    @property
    def waiting(self) -> int:
        return self._waiting

    def wait(self, tenant_id: int, seen: int, timeout: float) -> bool:
        """Block until the tenant's head passes ``seen`` (True) or ``timeout`` runs out,
        holding no connection: the one this thread held (``Database.hold``) goes back first."""
        self.db.release()
        deadline = time.monotonic() + timeout
        with paused(), self._cond:
            self._start()
            self._waiting += 1
            self._cond.notify_all()
            try:
                while self._heads.get(tenant_id, 0) <= seen:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._waiting -= 1

    def _start(self) -> None:
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        threading.Thread(target=self._run, name="scimserver-feed-watch", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._waiting == 0:
                    self._cond.wait()
            try:
                with self.db.connect() as connection:
                    found = heads(connection)
            except SQLAlchemyError:
                log.warning("feed watcher could not read the change heads", exc_info=True)
                found = self._heads
            with self._cond:
                if found != self._heads:
                    self._heads = found
                    self._cond.notify_all()
            time.sleep(self.interval)
