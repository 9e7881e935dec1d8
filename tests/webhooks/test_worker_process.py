"""``scimserver worker`` as a real process: SIGKILL mid-delivery loses nothing, two
workers at once neither duplicate nor reorder a subscription's deliveries, SIGTERM
stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from scimserver.app import create_app
from scimserver.config import Settings
from tests.conftest import close_app
from tests.live import default_executable, fresh_database
from tests.webhooks.conftest import Hooks, make_hooks
from tests.webhooks.receiver import Received, Receiver

pytestmark = pytest.mark.slow

WORKER_ENV = {
    "SCIMSERVER_WEBHOOK_BACKOFF_BASE_MS": "10",
    "SCIMSERVER_WEBHOOK_BACKOFF_CAP_MS": "50",
    "SCIMSERVER_WEBHOOK_TIMEOUT_MS": "1500",
    "SCIMSERVER_WEBHOOK_LEASE_SECONDS": "2",
    "SCIMSERVER_WORKER_POLL_MS": "50",
}


@pytest.fixture
def live_app(backend: str, tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    with fresh_database(backend, tmp_path) as url:
        app = create_app(Settings(database_url=url))
        yield app, url
        close_app(app)


def start_worker(
    url: str, log: Path, overrides: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SCIMSERVER_") and k not in {"PYTHONPATH", "VIRTUAL_ENV"}
    }
    env.update(WORKER_ENV, SCIMSERVER_DATABASE_URL=url)
    env.update(overrides or {})
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(default_executable()), "worker"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(timeout=10)


def wait_until(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not callable(condition) or not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def feed_ids(hooks: Hooks) -> list[str]:
    return [change["id"] for change in hooks.feed()]


def test_a_worker_killed_mid_delivery_loses_nothing(
    live_app: tuple[Flask, str], tmp_path: Path
) -> None:
    app, url = live_app
    hooks = make_hooks(app)
    release = threading.Event()

    def script(_request: Received, count: int) -> int:
        if count == 2:  # hold the third delivery until the worker is dead
            release.wait(10)
        return 204

    with Receiver(script) as receiver:
        hooks.add(receiver.url)
        for i in range(5):
            hooks.scim.create_user(f"kill-{i}")
        expected = feed_ids(hooks)
        first = start_worker(url, tmp_path / "worker.log")
        try:
            wait_until(lambda: len(receiver.requests) >= 3)
            first.kill()  # SIGKILL while the receiver holds the third POST
            first.wait(timeout=10)
        finally:
            release.set()
            stop(first)
        second = start_worker(url, tmp_path / "worker.log")
        try:
            wait_until(lambda: len(receiver.requests) >= 6)
            time.sleep(0.3)  # room for a duplicate to show up, were there one
        finally:
            assert stop(second) == 0, (tmp_path / "worker.log").read_text()
    # The third change went out again after the crash: at least once, still in order.
    assert receiver.ids() == expected[:3] + expected[2:]


def test_two_workers_deliver_each_change_once_in_order(
    live_app: tuple[Flask, str], tmp_path: Path
) -> None:
    """On PostgreSQL the claims use SKIP LOCKED; on SQLite they take the write lock."""
    app, url = live_app
    hooks = make_hooks(app)

    def slow(_request: Received, _count: int) -> int:
        time.sleep(0.005)
        return 204

    receivers = [Receiver(slow) for _ in range(3)]
    for receiver in receivers:
        receiver.__enter__()
        hooks.add(receiver.url)
    workers = [start_worker(url, tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        for i in range(20):
            hooks.scim.create_user(f"pair-{i}")
        expected = feed_ids(hooks)
        for receiver in receivers:
            wait_until(lambda r=receiver: len(r.requests) >= len(expected))  # type: ignore[misc]
        time.sleep(0.3)
    finally:
        codes = [stop(worker) for worker in workers]
        for receiver in receivers:
            receiver.__exit__(None, None, None)
    assert codes == [0, 0]
    for receiver in receivers:
        assert receiver.ids() == expected
