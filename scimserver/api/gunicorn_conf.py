"""gunicorn settings for ``scimserver serve`` and for plain gunicorn
(``gunicorn -c python:scimserver.api.gunicorn_conf scimserver.wsgi:app``).

The master makes the memory in which its workers share out connections
(``scimserver.api.balance``) and gives each worker it forks a slot in it.

prometheus-client's multiprocess mode keeps each worker's samples in files under
``PROMETHEUS_MULTIPROC_DIR``, so whichever worker answers ``/metrics`` sums them all.
``serve`` creates that directory fresh for each server; under plain gunicorn this module,
loaded by the master before it forks, creates it when it is not set. Either way the
master removes it as it exits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Protocol

from scimserver.api.balance import Share, Shares

PREFIX = "scimserver-metrics-"
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

# Before anything imports prometheus_client: it picks its multiprocess mode at import.
if not os.environ.get(MULTIPROC_DIR):
    os.environ[MULTIPROC_DIR] = tempfile.mkdtemp(prefix=PREFIX)


class _Process(Protocol):
    pid: int
    share: Share | None


_shares: list[Shares] = []
"""The master's :class:`Shares`, made as it starts (a list: set once, read by hooks)."""


def on_starting(server: Any) -> None:
    """The master starts: slots of shared connection counts for twice its workers, so
    that on a reload (SIGHUP) the new workers find free slots while the old ones finish."""
    _shares.append(Shares(2 * server.cfg.workers))


def pre_fork(server: Any, worker: _Process) -> None:
    """Before a worker is forked: it takes the lowest slot no live worker holds."""
    if not _shares:
        return
    live = [getattr(other, "share", None) for other in server.WORKERS.values()]
    slot = _shares[0].free_slot(share.slot for share in live if share is not None)
    worker.share = None if slot is None else Share(_shares[0], slot)


def child_exit(server: object, worker: _Process) -> None:
    """A worker exited: its live gauges stop counting (its counters and histograms stay),
    and its slot counts for nothing until the next worker takes it."""
    share = getattr(worker, "share", None)
    if share is not None:
        share.leave()
    # Imported here: prometheus_client picks its mode as it is imported, after the lines above.
    from prometheus_client import multiprocess  # noqa: PLC0415

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: object) -> None:
    """The server stops: the samples directory made for it (above, or by ``serve``) goes."""
    directory = os.environ.get(MULTIPROC_DIR, "")
    if os.path.basename(directory).startswith(PREFIX):
        shutil.rmtree(directory, ignore_errors=True)
