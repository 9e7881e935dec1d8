"""Change-feed benchmark: how fast a long-polling app hears of a write, and what waiting costs.

    .venv/bin/python bench/feed.py --db sqlite
    .venv/bin/python bench/feed.py --db postgresql --readers 48 --writes 300

It starts ``scimserver serve`` (gthread workers, as deployed) on a throwaway database and
measures, with bounded counts and time:

1. delivery latency: one writer deactivates and reactivates users one request at a time;
   one reader follows ``/api/v1/changes`` with ``wait``. For each write, the time from
   the writer's 2xx to the reader holding that change (p50/p99). A negative time means
   the reader had it before the writer's response arrived.
2. writes beside waiting readers: PATCH latency (p50/p99) with no reader waiting, then
   with ``--readers`` readers long-polling a quiet tenant (each holds a gthread thread).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEADLINE = 120.0
"""Seconds any one phase may run, whatever the counts say."""
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Server:
    def __init__(self, url: str, workdir: Path, workers: int, threads: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "SCIMSERVER_DATABASE_URL": url,
            "SCIMSERVER_THREADS": str(threads),
            "SCIMSERVER_LOG_LEVEL": "WARNING",
        }
        exe = Path(sys.executable).parent / "scimserver"
        # Output goes to files: a pipe nobody reads fills up with the access log and
        # blocks the server's workers.
        out = workdir / "server.out"
        self.proc = subprocess.Popen(
            [exe, "serve", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers)],
            cwd=workdir,
            env=env,
            stdout=out.open("w"),
            stderr=(workdir / "server.log").open("w"),
            start_new_session=True,
        )
        self._wait_up()
        self.token = next(
            line.strip()
            for line in out.read_text().splitlines()
            if line.strip().startswith("scim_")
        )

    def _wait_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base}/healthz", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=40)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def token_for(url: str, tenant: str) -> str:
    from scimserver.service.tokens import TokenService
    from scimserver.store.db import Database

    db = Database(url)
    try:
        return TokenService(db).create("bench", tenant, "write")[1]
    finally:
        db.dispose()


def flip(http: httpx.Client, user_id: str, active: bool) -> float:
    body = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": active}],
    }
    began = time.monotonic()
    response = http.patch(f"/scim/v2/Users/{user_id}", json=body)
    response.raise_for_status()
    return time.monotonic() - began


def delivery(server: Server, writes: int) -> list[float]:
    """Write-acknowledged → reader-has-it times, one write at a time."""
    received: dict[int, float] = {}
    with server.client() as http:
        user = http.post(
            "/scim/v2/Users",
            json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "f@x"},
        ).json()
        start = http.get("/api/v1/changes/head").json()["next"]
    stop = threading.Event()

    def follow() -> None:
        cursor = start
        with server.client() as reader:
            while not stop.is_set():
                page = reader.get("/api/v1/changes", params={"after": cursor, "wait": 5}).json()
                now = time.monotonic()
                for change in page["changes"]:
                    received[change["seq"]] = now
                cursor = page["next"]

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    time.sleep(0.5)
    acked: dict[int, float] = {}
    deadline = time.monotonic() + DEADLINE
    with server.client() as http:
        for i in range(writes):
            if time.monotonic() > deadline:
                break
            flip(http, user["id"], i % 2 == 1)
            acked[int(start) + i + 1] = time.monotonic()
            time.sleep(0.02)
    time.sleep(1.0)
    stop.set()
    return [received[s] - t for s, t in acked.items() if s in received]


def write_latency(server: Server, writes: int) -> list[float]:
    with server.client() as http:
        user = http.post(
            "/scim/v2/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"w{uuid.uuid4().hex[:8]}@x",
            },
        ).json()
        deadline = time.monotonic() + DEADLINE
        return [
            flip(http, user["id"], i % 2 == 1) for i in range(writes) if time.monotonic() < deadline
        ]


def waiting_readers(server: Server, token: str, count: int, stop: threading.Event) -> list[Any]:
    def wait_forever() -> None:
        with server.client(token) as reader:
            cursor = reader.get("/api/v1/changes/head").json()["next"]
            while not stop.is_set():
                reader.get("/api/v1/changes", params={"after": cursor, "wait": 25})

    threads = [threading.Thread(target=wait_forever, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    return threads


def ms(values: list[float]) -> str:
    p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
    return f"p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  (n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--readers", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--keep-log", action="store_true", help="print the server log tail")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="feedbench-"))
    name = f"feedbench_{uuid.uuid4().hex[:8]}"
    if args.db == "postgresql":
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{workdir}/feed.db"
    server = Server(url, workdir, args.workers, args.threads)
    try:
        print(f"feed bench: {args.db}, {args.workers} gthread workers x {args.threads} threads")
        heard = delivery(server, args.writes)
        print(f"  delivery (write 2xx -> long-polling reader has it): {ms(heard)}")
        alone = write_latency(server, args.writes)
        print(f"  PATCH latency, no reader waiting:  {ms(alone)}")
        stop = threading.Event()
        readers = waiting_readers(server, token_for(url, "quiet"), args.readers, stop)
        time.sleep(2.0)
        beside = write_latency(server, args.writes)
        print(f"  PATCH latency, {args.readers} readers waiting: {ms(beside)}")
        stop.set()
        del readers
    finally:
        server.stop()
        if args.db == "postgresql":
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if args.keep_log:
            print((workdir / "server.log").read_text()[-3000:])
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
