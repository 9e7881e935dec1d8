"""Work done a little while after commits, from a daemon thread: off the request path."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class AfterCommits:
    """Calls ``work`` from a daemon thread ``interval`` seconds after a commit: one round
    for any number of commits meanwhile, never two at once.

    The first commit in each process starts the thread (gunicorn forks its workers after
    the app is built: a thread started earlier would be left in the master). ``work``
    raising one of ``errors`` is logged; the next commit's round tries again.
    """

    def __init__(
        self,
        work: Callable[[], object],
        interval: float,
        name: str,
        errors: tuple[type[Exception], ...],
    ) -> None:
        self.work = work
        self.interval = interval
        self.name = name
        self.errors = errors
        self._dirty = threading.Event()
        self._pid = 0

    def nudge(self) -> None:
        """Note a commit; start the thread in this process if it is not running."""
        self._dirty.set()
        if self._pid != os.getpid():
            self._pid = os.getpid()
            threading.Thread(target=self._run, name=self.name, daemon=True).start()

    def _run(self) -> None:
        while True:
            self._dirty.wait()
            time.sleep(self.interval)
            self._dirty.clear()
            try:
                self.work()
            except self.errors:
                log.warning("%s failed; the next round retries", self.name, exc_info=True)
