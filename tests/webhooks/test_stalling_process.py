"""Acceptance of #29's "a sender no receiver can stall", against a real ``scimserver
worker``: tenant A's receivers trickle (one byte every 2 s) and flood (a 150 MB answer
to every POST); tenant B's deliveries keep the latency they had before, the worker's
RSS stays within +20 MB, and each failed attempt and parked change is one JSON log
line with the fields an operator searches by. Every receiver is on 127.0.0.1."""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask

from tests.webhooks.conftest import Hooks, make_hooks
from tests.webhooks.hostile import Flood, Trickler
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_worker_process import live_app, start_worker, stop, wait_until

__all__ = ["live_app"]  # the fixture, used by name

STALL_ENV = {
    "SCIMSERVER_WEBHOOK_TIMEOUT_MS": "4000",  # the deadline of one attempt
    "SCIMSERVER_WEBHOOK_LEASE_SECONDS": "10",
    "SCIMSERVER_LOG_FORMAT": "json",
}
ROUNDS = 5
RSS_BUDGET_KB = 20 * 1024


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1])


class RssPeak:
    """The highest RSS of a process, sampled every 50 ms until stopped (bounded)."""

    def __init__(self, pid: int, most: float = 120.0) -> None:
        self.pid = pid
        self.peak = rss_kb(pid)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, args=(most,), daemon=True)
        self.thread.start()

    def _sample(self, most: float) -> None:
        deadline = time.monotonic() + most
        while not self.done.wait(0.05) and time.monotonic() < deadline:
            self.peak = max(self.peak, rss_kb(self.pid))

    def stop(self) -> int:
        self.done.set()
        self.thread.join(timeout=5)
        return self.peak


def latencies(hooks: Hooks, receiver: Receiver, label: str) -> list[float]:
    """Seconds from each committed write of ``hooks``' tenant to its arrival at ``receiver``."""
    seen: list[float] = []
    for i in range(ROUNDS):
        before = len(receiver.requests)
        started = time.monotonic()
        hooks.scim.create_user(f"{label}-{i}")
        wait_until(lambda before=before: len(receiver.requests) > before, timeout=10)
        seen.append(time.monotonic() - started)
    return seen


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_a_trickling_and_a_flooding_receiver_stall_only_their_own_subscriptions(
    live_app: tuple[Flask, str], tmp_path: Path
) -> None:
    app, url = live_app
    a, b = make_hooks(app, max_attempts=3), make_hooks(app)
    log = tmp_path / "worker.log"
    with Trickler(interval=2.0) as trickler, Flood(status=500) as flood, Receiver() as steady:
        slow, slow_secret = a.add(trickler.url)
        huge, huge_secret = a.add(flood.url)
        b.add(steady.url)
        worker = start_worker(url, log, STALL_ENV)
        try:
            b.scim.create_user("warm-up")
            wait_until(lambda: len(steady.requests) >= 1)
            usual = latencies(b, steady, "usual")
            baseline = rss_kb(worker.pid)
            peak = RssPeak(worker.pid)
            for i in range(10):
                a.scim.create_user(f"stalling-{i}")
            wait_until(lambda: trickler.requests >= 1 and flood.requests >= 3)
            loaded = latencies(b, steady, "loaded")
            assert trickler.requests == 1  # the trickler's first attempt is still under way
            wait_until(lambda: flood.requests >= 30, timeout=30)
            wait_until(lambda: _events(log, "webhook.parked", slow.id), timeout=20)
            growth = peak.stop() - baseline
        finally:
            assert stop(worker) == 0, log.read_text()
    print(
        f"\nB latency usual {_ms(usual)}, while A stalls {_ms(loaded)}; "
        f"worker RSS {baseline / 1024:.1f} MB, growth {growth / 1024:.1f} MB; "
        f"flood attempts {flood.requests}, bytes written {flood.sent / 2**20:.1f} MB"
    )
    assert max(loaded) < statistics.median(usual) + 0.5, (usual, loaded)
    assert statistics.median(loaded) < statistics.median(usual) + 0.25, (usual, loaded)
    assert growth <= RSS_BUDGET_KB, f"RSS grew {growth} kB"

    lines = records(log)  # every line of the worker's log is a JSON object
    tenant = a.scim.tenant
    slow_fails = [r for r in lines if r.get("event") == "webhook.attempt_failed"]
    trickled = [r for r in slow_fails if r["subscription"] == slow.id]
    assert [r["attempt"] for r in trickled][:3] == [1, 2, 3]
    first = trickled[0]
    assert first["level"] == "WARNING" and first["logger"] == "scimserver.service.worker"
    assert (first["tenant"], first["status"], first["error"]) == (tenant, None, "DeadlineExceeded")
    assert first["outcome"] == "retry" and first["next_attempt_at"].endswith("Z")
    assert 4000 <= first["duration_ms"] < 4600
    assert trickled[2]["outcome"] == "parked" and trickled[2]["next_attempt_at"] is None
    flooded = [r for r in slow_fails if r["subscription"] == huge.id]
    assert flooded[0]["status"] == 500 and flooded[0]["error"] is None
    (parked, *_) = _events(log, "webhook.parked", slow.id)
    assert parked["level"] == "ERROR"
    assert (parked["tenant"], parked["attempt"], parked["error"]) == (
        tenant,
        3,
        "DeadlineExceeded",
    )
    assert _events(log, "webhook.parked", huge.id)[0]["status"] == 500
    assert all(r.get("tenant") != b.scim.tenant for r in slow_fails)
    text = log.read_text()
    for private in (slow_secret, huge_secret, "stalling-", "loaded-"):
        assert private not in text  # neither secrets nor payloads


def _events(log: Path, event: str, subscription: str) -> list[dict[str, Any]]:
    found = [r for r in records(log) if r.get("event") == event]
    return [r for r in found if r.get("subscription") == subscription]


def _ms(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms"
