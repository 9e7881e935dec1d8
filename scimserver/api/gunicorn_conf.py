"""gunicorn settings for ``scimserver serve`` (``-c python:scimserver.api.gunicorn_conf``).

prometheus-client's multiprocess mode keeps each worker's samples in files under
``PROMETHEUS_MULTIPROC_DIR``; ``serve`` creates that directory fresh for each server.
"""

from __future__ import annotations

import os
import shutil
from typing import Protocol

from prometheus_client import multiprocess

PREFIX = "scimserver-metrics-"


class _Process(Protocol):
    pid: int


def child_exit(server: object, worker: _Process) -> None:
    """A worker exited: its live gauges stop counting (its counters and histograms stay)."""
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: object) -> None:
    """The server stops: the samples directory ``serve`` made for it goes with it."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if os.path.basename(directory).startswith(PREFIX):
        shutil.rmtree(directory, ignore_errors=True)
