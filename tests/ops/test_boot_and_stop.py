"""Boot once, stop clean: gunicorn's workers migrate a fresh database one at a time, and
a stopped server leaves no traceback in its log."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.live import BareGunicorn, LiveServer, throwaway_postgres

pytestmark = pytest.mark.slow
WORKERS = 4
BOOTS = 5
READY_TIMEOUT = 60.0
LOG_PROBLEMS = ("Logging error", "Traceback", "Worker failed to boot", "Exception in worker")


def ready_workers(stderr: str) -> set[str]:
    """The pids of the workers that logged having built the app."""
    return set(re.findall(r"Worker (\d+) serves ", stderr))


def wait_for_workers(server: LiveServer, count: int) -> None:
    """Until ``count`` workers have built the app and /readyz answers 200 (bounded)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        assert server.process is not None and server.process.poll() is None, server.logs()
        booted = len(ready_workers(server.stderr())) >= count
        if booted and httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"{count} workers did not boot in {READY_TIMEOUT:.0f} s\n{server.logs()}")


def stop(server: LiveServer, signum: signal.Signals, group: bool) -> int:
    """Send ``signum`` to the master (as Docker or systemd does) or to its whole process
    group (as Ctrl-C in a terminal does); the exit code."""
    process = server.process
    assert process is not None
    (os.killpg if group else os.kill)(process.pid, signum)
    code = process.wait(timeout=30)
    server.stop()
    return code


def assert_clean(stderr: str) -> None:
    for problem in LOG_PROBLEMS:
        assert problem not in stderr, stderr


def test_four_workers_boot_on_a_fresh_postgresql_database_five_times(tmp_path: Path) -> None:
    for boot in range(BOOTS):
        with throwaway_postgres() as url:
            env = {"SCIMSERVER_DATABASE_URL": url}
            server = BareGunicorn(env, workers=WORKERS, cwd=tmp_path, log_dir=tmp_path / str(boot))
            with server:
                wait_for_workers(server, WORKERS)
                booted = ready_workers(server.stderr())
                assert set(map(str, server.worker_pids())) == booted  # none died, none respawned
                assert stop(server, signal.SIGTERM, group=False) == 0
            stderr = server.stderr()
        assert_clean(stderr)
        assert stderr.count("Running upgrade  -> 0001") == 1  # one worker migrated
        assert stderr.count("Worker exiting") == WORKERS


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("runner", ["serve", "gunicorn"])
def test_a_stopped_server_logs_no_traceback(
    runner: str, signum: signal.Signals, tmp_path: Path
) -> None:
    env = {"SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'scim.db'}"}
    kind = LiveServer if runner == "serve" else BareGunicorn
    server = kind(env, workers=2, cwd=tmp_path, log_dir=tmp_path)
    with server:
        wait_for_workers(server, 2)
        assert httpx.get(f"{server.scim_url}/Users", timeout=10).status_code == 401
        # A sync worker still returning from that answer's write when Ctrl-C lands is cut
        # off there by gunicorn's quick shutdown, which logs it: let it finish first.
        time.sleep(0.5)
        # SIGINT as a terminal's Ctrl-C sends it, to every process of the group.
        assert stop(server, signum, group=signum == signal.SIGINT) == 0
    stderr = server.stderr()
    assert_clean(stderr)
    assert "Shutting down: Master" in stderr
    named = f"sqlite:///{tmp_path / 'scim.db'}"
    assert (f"Database: {named}\n" in stderr) == (runner == "serve")  # the CLI's line
    assert stderr.count(f" serves {named}") == 2  # each worker's
    # No SCIMSERVER_SECRET_KEY: each worker warns, and serve says so first.
    assert stderr.count("are stored in clear in the database") == (3 if runner == "serve" else 2)
