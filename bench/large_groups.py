"""Peak memory and latency of reading a large group, 1k → 100k members (issue #13).

    .venv/bin/python bench/large_groups.py                      # SQLite, 1k 10k 100k
    .venv/bin/python bench/large_groups.py --db postgresql      # PostgreSQL on 127.0.0.1
    .venv/bin/python bench/large_groups.py --sizes 1000,100000

One database holds one group per size (its members are plain users seeded straight into
the store, as ``bench/seed.py`` does) and a tiny group used to warm the worker up. For
every size and request kind a fresh ``scimserver serve`` with one worker is started and
warmed up with small requests of the same kinds; then the measured request is sent
twice. Before each, the worker's high-water mark (``VmHWM``) is reset to its current RSS
(``/proc/<pid>/clear_refs``) and its idle ``VmRSS`` read; the figure is ``VmHWM`` after
the request minus that idle RSS. The first (cold) request also maps the database pages
it reads into the worker (SQLite's ``mmap_size``; file-backed page cache, shared and
reclaimable, and mapped once): that part is shown on its own (``RssFile`` growth).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import data  # noqa: E402
from bench.run import HOST, PG_ADMIN_URL, Processes, Store, free_port  # noqa: E402
from bench.seed import Seeder  # noqa: E402

GROUPS = "/scim/v2/Groups"
KINDS = {
    "GET /Groups/{id}": "{groups}/{id}",
    "GET /Groups?filter=…&count=10": "{groups}?filter={filter}&count=10",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Server:
    """``scimserver serve`` with one worker; the worker's memory read from ``/proc``."""

    def __init__(self, procs: Processes, url: str, workdir: Path) -> None:
        self.port = free_port()
        self.log_path = workdir / f"server-{self.port}.log"
        env = dict(os.environ, SCIMSERVER_DATABASE_URL=url, SCIMSERVER_LOG_LEVEL="WARNING")
        scimserver = str(Path(sys.executable).parent / "scimserver")
        args = [scimserver, "serve", "--bind", f"{HOST}:{self.port}", "--workers", "1"]
        self.proc: subprocess.Popen[bytes] = procs.start(args, env, self.log_path)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log_path.read_text("utf-8", "replace")[-3000:])
            try:
                if self.request("GET", "/healthz", {})[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"server not ready; see {self.log_path}")

    def token(self) -> str:
        for line in self.log_path.read_text("utf-8", "replace").splitlines():
            if line.strip().startswith("scim_"):
                return line.strip()
        raise RuntimeError("the server printed no token")

    def worker(self) -> int:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return int(children.split()[0])

    def memory_kib(self, field: str) -> int:
        """``VmRSS`` or ``VmHWM`` of the worker, in KiB."""
        for line in Path(f"/proc/{self.worker()}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field} in /proc status")

    def reset_peak(self) -> None:
        """Set the worker's ``VmHWM`` back to its current RSS (Linux ``clear_refs``)."""
        Path(f"/proc/{self.worker()}/clear_refs").write_text("5")

    def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None
    ) -> tuple[int, int, bytes]:
        """Status, body length, and the first KiB of the body (read in 64 KiB pieces)."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            first, size = b"", 0
            while piece := response.read(65536):
                first = first or piece[:1024]
                size += len(piece)
            return response.status, size, first
        finally:
            conn.close()


def seed(url: str, sizes: list[int], procs: Processes, workdir: Path) -> dict[str, str]:
    """Groups named ``size-N`` (and ``tiny``) with N members; returns name → id."""
    server = Server(procs, url, workdir)
    token = server.token()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    seeder = Seeder(url)
    try:
        tenant = seeder.tenant_of(token)
        started = time.perf_counter()
        users = seeder.plain_users(tenant, max(sizes), "lg")
        groups: dict[str, str] = {}
        for name, size in [("tiny", 10), *((f"size-{n}", n) for n in sizes)]:
            body = json.dumps({"schemas": [data.CORE_GROUP], "displayName": name}).encode()
            status, _, first = server.request("POST", GROUPS, auth, body)
            assert status == 201, first
            groups[name] = _id_of(first)
            seeder.memberships(tenant, groups[name], users[:size])
        seeder.analyze()
        seconds = time.perf_counter() - started
        log(f"seeded {max(sizes)} users and {len(groups)} groups in {seconds:.1f} s")
    finally:
        seeder.close()
        procs.stop(server.proc)
    groups["token"] = token
    return groups


def _id_of(first: bytes) -> str:
    return first.split(b'"id":"', 1)[1].split(b'"', 1)[0].decode()


def path_for(kind: str, group_id: str, name: str) -> str:
    flt = quote(f'displayName eq "{name}"', safe="")
    return KINDS[kind].format(groups=GROUPS, id=group_id, filter=flt)


def measure(
    procs: Processes, url: str, workdir: Path, groups: dict[str, str], kind: str, size: int
) -> dict[str, float]:
    """The request sent twice to a fresh worker: cold (the database pages it reads are
    not mapped into the worker yet), then again after resetting the high-water mark."""
    server = Server(procs, url, workdir)
    try:
        auth = {"Authorization": f"Bearer {groups['token']}"}
        for _ in range(5):  # warm up: the same code paths, on a 10-member group
            for warm in KINDS:
                status, _, _ = server.request("GET", path_for(warm, groups["tiny"], "tiny"), auth)
                assert status == 200, status
        name = f"size-{size}"
        figures: dict[str, float] = {}
        for run in ("cold", "again"):
            server.reset_peak()
            idle, idle_file = server.memory_kib("VmRSS"), server.memory_kib("RssFile")
            started = time.perf_counter()
            status, length, _ = server.request("GET", path_for(kind, groups[name], name), auth)
            figures[f"{run}_seconds"] = time.perf_counter() - started
            assert status == 200, status
            figures[f"{run}_peak_mib"] = (server.memory_kib("VmHWM") - idle) / 1024
            figures[f"{run}_file_mib"] = (server.memory_kib("RssFile") - idle_file) / 1024
            figures.setdefault("idle_mib", idle / 1024)
            figures["bytes"] = length
        return figures
    finally:
        procs.stop(server.proc)


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    store = Store(kind, workdir, PG_ADMIN_URL)
    try:
        yield store.url
    finally:
        store.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sizes", default="1000,10000,100000", help="members per group")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="scimlarge-"))
    procs = Processes()
    rows: list[dict[str, Any]] = []
    try:
        with database(args.db, workdir) as url:
            groups = seed(url, sizes, procs, workdir)
            for kind in KINDS:
                for size in sizes:
                    figures = measure(procs, url, workdir, groups, kind, size)
                    rows.append({"request": kind, "members": size, **figures})
                    log(f"{kind} {size}: {figures}")
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{args.db}, one gunicorn worker per request kind and size\n")
    print(
        "| request | members | response | latency (cold / again) | idle RSS "
        "| peak RSS above idle, cold | of which database pages mapped | peak above idle, again |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['request']} | {row['members']:,} | {row['bytes'] / 1e6:.2f} MB "
            f"| {row['cold_seconds'] * 1000:.0f} / {row['again_seconds'] * 1000:.0f} ms "
            f"| {row['idle_mib']:.1f} MiB | {row['cold_peak_mib']:.1f} MiB "
            f"| {row['cold_file_mib']:.1f} MiB | {row['again_peak_mib']:.1f} MiB |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
