"""gunicorn settings for ``scimserver serve`` and for plain gunicorn
(``gunicorn -c python:scimserver.api.gunicorn_conf scimserver.wsgi:app``).

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
from typing import Protocol

PREFIX = "scimserver-metrics-"
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

# Before anything imports prometheus_client: it picks its multiprocess mode at import.
if not os.environ.get(MULTIPROC_DIR):
    os.environ[MULTIPROC_DIR] = tempfile.mkdtemp(prefix=PREFIX)


class _Process(Protocol):
    pid: int


def child_exit(server: object, worker: _Process) -> None:
    """A worker exited: its live gauges stop counting (its counters and histograms stay)."""
    # Imported here: prometheus_client picks its mode as it is imported, after the lines above.
    from prometheus_client import multiprocess  # noqa: PLC0415

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: object) -> None:
    """The server stops: the samples directory made for it (above, or by ``serve``) goes."""
    directory = os.environ.get(MULTIPROC_DIR, "")
    if os.path.basename(directory).startswith(PREFIX):
        shutil.rmtree(directory, ignore_errors=True)
