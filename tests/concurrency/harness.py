"""Helpers for the concurrency tests: SCIM bodies, many clients at once, server-log checks.

No tests here. ``together`` releases one request per client through a barrier so that
they reach gunicorn at the same moment; every wait is bounded.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx

from tests.live import LiveServer

WORKERS = 4
CLIENTS = 16
REQUEST_TIMEOUT = 30.0
"""Seconds per request: longer than any lock wait we expect, shorter than the run budget."""
BARRIER_TIMEOUT = 30.0

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"

# What a healthy server never logs: a 5xx in gunicorn's access log (status after the
# quoted request line), SQLite giving up on its lock, any traceback or worker timeout.
_ACCESS_5XX = re.compile(r'" 5\d\d ')
_LOG_ALARMS = ("database is locked", "Traceback", "unhandled error", "WORKER TIMEOUT")


def user_body(user_name: str, **attributes: Any) -> dict[str, Any]:
    return {"schemas": [USER], "userName": user_name, **attributes}


def group_body(display_name: str, members: Sequence[str] = ()) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [GROUP], "displayName": display_name}
    if members:
        body["members"] = [{"value": m} for m in members]
    return body


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def add_members(*member_ids: str) -> dict[str, Any]:
    return patch_body({"op": "add", "path": "members", "value": [{"value": m} for m in member_ids]})


def scim_type(response: httpx.Response) -> str | None:
    """The ``scimType`` of a SCIM error body (None for any other body)."""
    body = response.json()
    assert body.get("schemas") == [ERROR], body
    assert body.get("status") == str(response.status_code), body
    found: str | None = body.get("scimType")
    return found


def client(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.scim_url,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        timeout=REQUEST_TIMEOUT,
    )


@contextmanager
def clients(server: LiveServer, token: str, count: int = CLIENTS) -> Iterator[list[httpx.Client]]:
    """``count`` clients, each with a connection pool of its own."""
    with ExitStack() as stack:
        yield [stack.enter_context(client(server, token)) for _ in range(count)]


def together(
    pool: Sequence[httpx.Client], call: Callable[[httpx.Client, int], httpx.Response]
) -> list[httpx.Response]:
    """``call(client, i)`` for every client at once; the responses in client order."""
    barrier = threading.Barrier(len(pool), timeout=BARRIER_TIMEOUT)

    def run(index: int) -> httpx.Response:
        barrier.wait()
        return call(pool[index], index)

    with ThreadPoolExecutor(len(pool)) as executor:
        return list(executor.map(run, range(len(pool))))


def statuses(responses: Sequence[httpx.Response]) -> list[int]:
    return [r.status_code for r in responses]


def log_alarms(text: str) -> list[str]:
    """The lines of a server log that show a 5xx, a lock failure or a crash."""
    return [
        line
        for line in text.splitlines()
        if _ACCESS_5XX.search(line) or any(alarm in line for alarm in _LOG_ALARMS)
    ]


def wait_for_workers(server: LiveServer, count: int, timeout: float = 15.0) -> list[int]:
    """The worker pids once ``count`` are alive (gunicorn forks them, or replaces one)."""
    deadline = time.monotonic() + timeout
    pids = server.worker_pids()
    while len(pids) != count and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = server.worker_pids()
    assert len(pids) == count, f"workers {pids}, expected {count}\n{server.logs()}"
    return pids


class LogCursor:
    """Reads only what a server logged since the cursor was placed (or last read)."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.offsets = (len(server.stdout()), len(server.stderr()))

    def new_text(self) -> str:
        out, err = self.server.stdout(), self.server.stderr()
        text = out[self.offsets[0] :] + err[self.offsets[1] :]
        self.offsets = (len(out), len(err))
        return text
