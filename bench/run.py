"""Benchmark scimserver under gunicorn against the stack's own ceiling, in one run.

    .venv/bin/python bench/run.py --db sqlite [--quick] [--json FILE]
    .venv/bin/python bench/run.py --db postgresql [--quick] [--json FILE]

See bench/README.md for what each workload measures and how to read the table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import data  # noqa: E402
from bench.client import Connection, Response, Result, drive  # noqa: E402

HOST = "127.0.0.1"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
USERS = "/scim/v2/Users"
GROUPS = "/scim/v2/Groups"
_ONE_RESULT = re.compile(rb'"totalResults":\s*1[,}\s]')


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- configuration -------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Sizes and bounds of one run: every loop stops at ``count`` or ``seconds``."""

    quick: bool
    concurrency: int = 8
    seconds: float = 20.0
    create_users: int = 5_000
    create_seconds: float = 90.0
    requests: int = 20_000
    writes: int = 5_000
    pages: int = 3_000
    scale_sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    group_sizes: tuple[int, ...] = (100, 1_000, 10_000, 100_000)
    group_ops: int = 200
    group_seconds: float = 30.0

    @classmethod
    def make(cls, quick: bool, concurrency: int, seconds: float | None) -> Plan:
        if quick:
            return cls(
                quick=True,
                concurrency=concurrency,
                seconds=seconds or 5.0,
                create_users=500,
                create_seconds=30.0,
                requests=5_000,
                writes=1_000,
                pages=500,
                scale_sizes=(1_000, 5_000, 10_000),
                group_sizes=(100, 1_000, 10_000),
                group_ops=50,
                group_seconds=10.0,
            )
        return cls(quick=False, concurrency=concurrency, seconds=seconds or 20.0)


# -- processes -------------------------------------------------------------------------


class Processes:
    """Every server this run starts, each in its own process group, all killed on exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, args: Sequence[str], env: dict[str, str], log_path: Path
    ) -> subprocess.Popen[bytes]:
        out = open(log_path, "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            list(args),
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # gunicorn workers share the group; make sure none outlives its master
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _venv_tool(name: str) -> str:
    found = shutil.which(name, path=os.path.dirname(sys.executable))
    if not found:
        raise SystemExit(f"{name} not found next to {sys.executable}; run with the venv's python.")
    return found


async def _wait_ready(
    proc: subprocess.Popen[bytes],
    port: int,
    log_path: Path,
    need_token: bool,
    timeout: float = 90.0,
) -> str | None:
    deadline = time.monotonic() + timeout
    token = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text("utf-8", "replace")[-3000:]
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail}")
        if need_token and token is None:
            for line in log_path.read_text("utf-8", "replace").splitlines():
                if line.strip().startswith("scim_"):
                    token = line.strip()
                    break
        if token is not None or not need_token:
            conn = Connection(HOST, port)
            try:
                response = await conn.request("GET", "/healthz")
                if response.status == 200:
                    return token
            except OSError:
                pass
            finally:
                conn.close()
        await asyncio.sleep(0.2)
    raise RuntimeError(f"server on port {port} not ready after {timeout:.0f}s; see {log_path}")


async def start_scimserver(
    procs: Processes, url: str, workdir: Path
) -> tuple[subprocess.Popen[bytes], int, str]:
    port = free_port()
    env = dict(os.environ, SCIMSERVER_DATABASE_URL=url)
    log_path = workdir / "scimserver.log"
    args = [_venv_tool("scimserver"), "serve", "--bind", f"{HOST}:{port}", "--workers", "2"]
    proc = procs.start(args, env, log_path)
    token = await _wait_ready(proc, port, log_path, need_token=True)
    assert token is not None
    return proc, port, token


async def start_ceiling(procs: Processes, workdir: Path) -> int:
    """The minimal Flask app under the same gunicorn settings ``scimserver serve`` uses."""
    port = free_port()
    log_path = workdir / "ceiling.log"
    args = [
        _venv_tool("gunicorn"),
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        "2",
        "--access-logfile",
        "-",
        "--forwarded-allow-ips",
        "127.0.0.1",
        "--no-control-socket",
        "--chdir",
        str(REPO),
        "bench.ceiling_app:app",
    ]
    proc = procs.start(args, dict(os.environ), log_path)
    await _wait_ready(proc, port, log_path, need_token=False)
    return port


# -- databases ---------------------------------------------------------------------------


class Store:
    """A throwaway database: a temporary SQLite file, or a scimbench_* PostgreSQL database."""

    def __init__(self, kind: str, workdir: Path, admin_url: str) -> None:
        self.kind = kind
        self.admin_url = admin_url
        self.name: str | None = None
        if kind == "sqlite":
            self.url = f"sqlite:///{workdir / 'bench.db'}"
        else:
            import psycopg

            self.name = f"scimbench_{secrets.token_hex(4)}"
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
            base = admin_url.rsplit("/", 1)[0]
            self.url = f"{base}/{self.name}"

    def drop(self) -> None:
        if self.name is None:
            return
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        log(f"dropped database {self.name}")
        self.name = None


# -- the workloads --------------------------------------------------------------------------


@dataclass
class User:
    id: str
    user_name: str
    index: int
    active: bool = True


@dataclass
class Bench:
    plan: Plan
    port: int
    token: str
    run_id: str
    rng: random.Random
    users: list[User] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    next_index: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    async def go(
        self,
        name: str,
        step: Callable[..., Any],
        *,
        count: int,
        seconds: float,
        concurrency: int | None = None,
        labels: bool = False,
    ) -> Result:
        per_label: dict[str, Result] | None = {} if labels else None
        result = await drive(
            name,
            HOST,
            self.port,
            self.token,
            step,
            count=count,
            seconds=seconds,
            concurrency=concurrency or self.plan.concurrency,
            per_label=per_label,
        )
        self.results.append(result)
        if per_label:
            self.results.extend(per_label[k] for k in sorted(per_label))
        log(
            f"{name}: {result.requests} req, {result.rate:.0f}/s, p50 "
            f"{result.pct(50) * 1000:.1f} ms, errors {result.errors}"
        )
        return result

    def new_index(self) -> int:
        self.next_index += 1
        return self.next_index - 1

    # W1 -------------------------------------------------------------------------------
    async def create(self, conn: Connection, _seq: int) -> tuple[Response, str | None]:
        index = self.new_index()
        manager = self.users[self.rng.randrange(len(self.users))].id if self.users else None
        body = data.user_body(index, self.run_id, manager_id=manager)
        response = await conn.request("POST", USERS, body)
        if response.status == 201:
            self.users.append(User(response.json()["id"], body["userName"], index))
        return response, "create"

    # W2 -------------------------------------------------------------------------------
    def lookup_step(self, misses: list[int]) -> Callable[..., Any]:
        async def lookup(conn: Connection, _seq: int) -> tuple[Response, str | None]:
            user = self.users[self.rng.randrange(len(self.users))]
            flt = quote(f'userName eq "{user.user_name}"', safe="")
            response = await conn.request("GET", f"{USERS}?filter={flt}")
            if response.status == 200 and not _ONE_RESULT.search(response.body):
                misses[0] += 1
            return response, "lookup"

        return lookup

    async def lookups(self, name: str) -> Result:
        misses = [0]
        result = await self.go(
            name, self.lookup_step(misses), count=self.plan.requests, seconds=self.plan.seconds
        )
        result.note = f"{len(self.users)} users stored"
        if misses[0]:
            result.note += f"; {misses[0]} lookups did not find exactly 1 user"
        return result

    # W3 -------------------------------------------------------------------------------
    def _pick(self) -> User:
        return self.users[self.rng.randrange(len(self.users))]

    async def patch_entra(self, conn: Connection, _seq: int) -> tuple[Response, str | None]:
        user = self._pick()
        user.active = not user.active
        body = data.entra_active(user.active)
        return await conn.request("PATCH", f"{USERS}/{user.id}", body), "patch entra"

    async def patch_okta(self, conn: Connection, _seq: int) -> tuple[Response, str | None]:
        user = self._pick()
        user.active = not user.active
        body = data.okta_active(user.active)
        return await conn.request("PATCH", f"{USERS}/{user.id}", body), "patch okta"

    async def patch_name(self, conn: Connection, seq: int) -> tuple[Response, str | None]:
        user = self._pick()
        body = data.given_name(data.random_given(self.rng, seq))
        return await conn.request("PATCH", f"{USERS}/{user.id}", body), "patch name"

    async def put(self, conn: Connection, seq: int) -> tuple[Response, str | None]:
        user = self._pick()
        body = data.user_body(user.index, self.run_id)
        body["title"] = f"Engineer {seq}"
        body["active"] = user.active
        return await conn.request("PUT", f"{USERS}/{user.id}", body), "put"

    # W4 -------------------------------------------------------------------------------
    async def pages(self, name: str) -> Result:
        short = [0]
        total = len(self.users)

        async def page(conn: Connection, _seq: int) -> tuple[Response, str | None]:
            start = self.rng.randint(1, max(1, total - 99))
            response = await conn.request("GET", f"{USERS}?startIndex={start}&count=100")
            if response.status == 200 and response.body.count(b'"userName"') < min(100, total):
                short[0] += 1
            return response, "page"

        result = await self.go(name, page, count=self.plan.pages, seconds=self.plan.seconds)
        result.note = f"{total} users stored, random startIndex"
        if short[0]:
            result.note += f"; {short[0]} pages held fewer than 100 users"
        return result

    async def cursor_pages(self, name: str) -> Result:
        """RFC 9865 cursors: each connection walks the collection from the first page."""
        cursors: dict[int, str] = {}

        async def page(conn: Connection, _seq: int) -> tuple[Response, str | None]:
            cursor = cursors.get(id(conn), "")
            response = await conn.request("GET", f"{USERS}?count=100&cursor={quote(cursor)}")
            if response.status == 200:
                cursors[id(conn)] = (response.json() or {}).get("nextCursor") or ""
            return response, "cursor page"

        result = await self.go(name, page, count=self.plan.pages, seconds=self.plan.seconds)
        result.note = f"{len(self.users)} users stored, walking nextCursor"
        return result

    async def deep_cursors(self, wanted: int) -> list[str]:
        """Cursors to the last pages of the collection, found by walking it once (unmeasured)."""
        conn = Connection(HOST, self.port, self.token)
        found: list[str] = []
        cursor: str | None = ""
        try:
            for _ in range(len(self.users) // 100 + 2):
                url = f"{USERS}?count=100&attributes=id&cursor={quote(cursor or '')}"
                response = await conn.request("GET", url)
                cursor = (
                    (response.json() or {}).get("nextCursor") if response.status == 200 else None
                )
                if not cursor:
                    break
                found.append(cursor)
        finally:
            conn.close()
        return found[-wanted:]

    async def deep_cursor_pages(self, name: str) -> Result | None:
        """Pages of 100 at the far end of the collection, reached by cursor (keyset)."""
        deep = await self.deep_cursors(20)
        if not deep:
            self.notes.append(f"{name}: walking the cursors found no page")
            return None

        async def page(conn: Connection, seq: int) -> tuple[Response, str | None]:
            url = f"{USERS}?count=100&cursor={quote(deep[seq % len(deep)])}"
            return await conn.request("GET", url), "deep cursor page"

        result = await self.go(name, page, count=self.plan.pages, seconds=self.plan.seconds)
        result.note = f"{len(self.users)} users stored, the last {len(deep)} pages by cursor"
        return result

    # W6 -------------------------------------------------------------------------------
    async def mixed(self) -> Result:
        misses = [0]
        lookup = self.lookup_step(misses)

        async def step(conn: Connection, seq: int) -> tuple[Response, str | None]:
            roll = self.rng.random()
            if roll < 0.80:
                return await lookup(conn, seq)
            if roll < 0.95:
                patcher = self.patch_entra if seq % 2 else self.patch_okta
                response, _ = await patcher(conn, seq)
                return response, "patch"
            return await self.create(conn, seq)

        result = await self.go(
            "W6 mixed 80/15/5",
            step,
            count=self.plan.requests,
            seconds=self.plan.seconds,
            labels=True,
        )
        result.note = f"{len(self.users)} users stored"
        if misses[0]:
            result.note += f"; {misses[0]} lookups did not find exactly 1 user"
        return result

    # W5 -------------------------------------------------------------------------------
    async def group_growth(self, seeder: Any, tenant_id: int) -> None:
        plan = self.plan
        conn = Connection(HOST, self.port, self.token)
        try:
            response = await conn.request(
                "POST",
                GROUPS,
                {"schemas": [data.CORE_GROUP], "displayName": f"bench growth {self.run_id}"},
            )
        finally:
            conn.close()
        if response.status != 201:
            self.notes.append(
                f"W5 skipped: creating the group answered {response.status}: "
                f"{response.body[:300]!r}"
            )
            return
        group_id = response.json()["id"]
        needed = max(plan.group_sizes) + plan.group_ops
        if len(self.users) < needed:
            self.seed_users(seeder, tenant_id, needed)
        pool = [u.id for u in self.users]
        spare = pool[-plan.group_ops :]  # never seeded as members: the ones added and removed
        members = pool[: len(pool) - plan.group_ops]
        seeded = 0
        for size in plan.group_sizes:
            log(f"W5: seeding the group to {size} members")
            seeder.memberships(tenant_id, group_id, members[seeded:size])
            seeded = size
            seeder.analyze()

            async def add_remove(c: Connection, seq: int) -> tuple[Response, str | None]:
                member = spare[(seq // 2) % len(spare)]
                if seq % 2 == 0:
                    op = {"op": "add", "path": "members", "value": [{"value": member}]}
                    label = "add"
                else:
                    op = {"op": "remove", "path": f'members[value eq "{member}"]'}
                    label = "remove"
                return await c.request("PATCH", f"{GROUPS}/{group_id}", data.patch(op)), label

            async def get_group(c: Connection, _seq: int) -> tuple[Response, str | None]:
                url = f"{GROUPS}/{group_id}?excludedAttributes=members"
                return await c.request("GET", url), "get"

            before = len(self.results)
            await self.go(
                f"W5 group @{size:,} add+remove",
                add_remove,
                count=plan.group_ops * 2,
                seconds=plan.group_seconds,
                concurrency=1,
                labels=True,
            )
            await self.go(
                f"W5 group @{size:,} GET excl. members",
                get_group,
                count=plan.group_ops,
                seconds=plan.group_seconds,
                concurrency=1,
            )
            for result in self.results[before:]:
                if ": " not in result.name:
                    result.note = f"{size} members, 1 client: read latency, not req/s"
                self.extra.setdefault("group", {})[f"{size}:{result.name.split(': ')[-1]}"] = (
                    result.pct(50),
                    result.pct(95),
                )

    def seed_users(self, seeder: Any, tenant_id: int, total: int) -> None:
        missing = total - len(self.users)
        if missing <= 0:
            return
        log(f"seeding {missing:,} users through the store (to {total:,})")
        started = time.perf_counter()
        indexes = [self.new_index() for _ in range(missing)]
        made = seeder.users(tenant_id, indexes, self.run_id)
        self.users.extend(User(rid, name, i) for (rid, name), i in zip(made, indexes, strict=True))
        seeder.analyze()
        log(f"seeded in {time.perf_counter() - started:.1f}s")


async def ceiling(port: int, plan: Plan, name: str) -> Result:
    async def hit(conn: Connection, _seq: int) -> tuple[Response, str | None]:
        return await conn.request("GET", "/scim/v2/Users?filter=x"), None

    result = await drive(
        name,
        HOST,
        port,
        None,
        hit,
        count=plan.requests,
        seconds=plan.seconds,
        concurrency=plan.concurrency,
    )
    log(f"{name}: {result.rate:.0f}/s, p50 {result.pct(50) * 1000:.1f} ms")
    return result


async def advertises_cursors(port: int, token: str) -> bool:
    conn = Connection(HOST, port, token)
    try:
        response = await conn.request("GET", "/scim/v2/ServiceProviderConfig")
    finally:
        conn.close()
    config = response.json() if response.status == 200 else {}
    pagination = config.get("pagination") if isinstance(config, dict) else None
    return isinstance(pagination, dict) and pagination.get("cursor") is True


# -- the run ----------------------------------------------------------------------------------


async def run(args: argparse.Namespace, procs: Processes, workdir: Path) -> dict[str, Any]:
    from bench.seed import Seeder

    plan = Plan.make(args.quick, args.concurrency, args.seconds)
    store = Store(args.db, workdir, args.pg_admin_url)
    seeder = None
    try:
        log(f"database: {store.url}")
        ceiling_port = await start_ceiling(procs, workdir)
        ceil_start = await ceiling(ceiling_port, plan, "ceiling (minimal Flask JSON)")

        server, port, token = await start_scimserver(procs, store.url, workdir)
        log(f"scimserver on {HOST}:{port}")
        bench = Bench(plan, port, token, secrets.token_hex(2), random.Random(3))
        seeder = Seeder(store.url)
        tenant_id = seeder.tenant_of(token)

        w1 = await bench.go(
            "W1 create", bench.create, count=plan.create_users, seconds=plan.create_seconds
        )
        w1.note = "realistic bodies: 2-3 emails, phone, enterprise ext., non-ASCII names"
        if not bench.users:
            bench.notes.append("W1 created no user; seeding through the store to go on")
            bench.seed_users(seeder, tenant_id, plan.create_users)
        await bench.lookups("W2 lookup userName eq")
        for name, step in (
            ("W3 PATCH active (Entra)", bench.patch_entra),
            ("W3 PATCH active (Okta)", bench.patch_okta),
            ("W3 PATCH name.givenName", bench.patch_name),
            ("W3 PUT full user", bench.put),
        ):
            await bench.go(name, step, count=plan.writes, seconds=plan.seconds)
        await bench.pages("W4 list startIndex/count=100")
        cursors = await advertises_cursors(port, token)
        if cursors:
            await bench.cursor_pages("W4 list cursor/count=100")
        else:
            bench.notes.append(
                "W4 cursor paging: not implemented yet "
                "(ServiceProviderConfig does not advertise pagination.cursor)"
            )
        await bench.mixed()

        await bench.group_growth(seeder, tenant_id)
        procs.stop(server)  # the next server gets the cores to itself
        await scale_series(args, procs, workdir, bench, cursors)
        ceil_end = await ceiling(ceiling_port, plan, "ceiling (again, at the end)")
        if seeder is not None:
            bench.notes.append(f"store seeding took {seeder.seconds:.0f}s (not measured)")
        return report(args, plan, ceil_start, ceil_end, bench)
    finally:
        if seeder is not None:
            seeder.close()
        procs.stop_all()
        store.drop()


async def scale_series(
    args: argparse.Namespace, procs: Processes, workdir: Path, bench: Bench, cursors: bool
) -> None:
    """Lookups and deep pages as the store grows, on a database of their own.

    The main run leaves thousands of users behind, so "@1,000 users" would not mean
    what it says there: this series starts empty and seeds up to each size in turn.
    """
    from bench.seed import Seeder

    directory = workdir / "scale"
    directory.mkdir()
    store = Store(args.db, directory, args.pg_admin_url)
    seeder = server = None
    try:
        server, port, token = await start_scimserver(procs, store.url, directory)
        seeder = Seeder(store.url)
        tenant_id = seeder.tenant_of(token)
        scale = Bench(bench.plan, port, token, bench.run_id, random.Random(5))
        for size in bench.plan.scale_sizes:
            scale.seed_users(seeder, tenant_id, size)
            await scale.lookups(f"Scale W2 lookup @{size:,} users")
            if cursors:
                await scale.deep_cursor_pages(f"Scale W4 deep cursor page @{size:,} users")
        await scale.pages(f"Scale W4 list @{max(bench.plan.scale_sizes):,} users")
        bench.results.extend(scale.results)
        bench.notes.extend(scale.notes)
    finally:
        if seeder is not None:
            bench.notes.append(f"scale series seeding took {seeder.seconds:.0f}s (not measured)")
            seeder.close()
        if server is not None:
            procs.stop(server)
        store.drop()


# -- reporting ---------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    rev = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "git": rev,
    }


def _find(results: list[Result], name: str) -> Result | None:
    return next((r for r in results if r.name == name), None)


def targets(plan: Plan, ceil: float, bench: Bench, db: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    rs = bench.results

    def add(what: str, value: float | None, goal: float, unit: str, higher: bool) -> None:
        if value is None:
            out.append(
                {"target": what, "value": None, "goal": goal, "met": None, "detail": "not measured"}
            )
            return
        met = value >= goal if higher else value <= goal
        gap = (value / goal - 1) * 100 if goal else 0.0
        out.append(
            {
                "target": what,
                "value": round(value, 3),
                "goal": goal,
                "unit": unit,
                "met": met,
                "detail": f"{value:.2f}{unit} vs {goal:g}{unit} ({gap:+.0f}%)",
            }
        )

    def clean(r: Result | None) -> Result | None:
        return r if r is not None and r.requests else None

    w2 = clean(_find(rs, "W2 lookup userName eq"))
    add("lookups >= 50% of ceiling", w2.rate / ceil * 100 if w2 and ceil else None, 50, "%", True)
    if db == "sqlite":
        w1 = clean(_find(rs, "W1 create"))
        add("creates >= 1,000/s (SQLite)", w1.rate if w1 else None, 1000, "/s", True)
        for name in (
            "W3 PATCH active (Entra)",
            "W3 PATCH active (Okta)",
            "W3 PATCH name.givenName",
        ):
            r = clean(_find(rs, name))
            add(f"{name[3:]} >= 1,000/s (SQLite)", r.rate if r else None, 1000, "/s", True)
    group = bench.extra.get("group", {})
    low, high = min(plan.group_sizes), max(plan.group_sizes)
    for op in ("add", "remove"):
        a, b = group.get(f"{low}:{op}"), group.get(f"{high}:{op}")
        add(
            f"member {op} p50 @{high:,} <= 1.5x @{low:,}",
            b[0] / a[0] if a and b and a[0] else None,
            1.5,
            "x",
            False,
        )
    w4 = clean(_find(rs, "W4 list startIndex/count=100"))
    add("list page of 100 >= 200 pages/s", w4.rate if w4 else None, 200, "/s", True)
    big = plan.scale_sizes[-1]

    def growth(what: str, small: int, goal: float) -> None:
        s1 = clean(_find(rs, f"Scale {what} @{small:,} users"))
        s2 = clean(_find(rs, f"Scale {what} @{big:,} users"))
        ratio = s2.pct(50) / s1.pct(50) if s1 and s2 and s1.pct(50) else None
        add(f"{what} p50 @{big:,} <= {goal:g}x @{small:,} users", ratio, goal, "x", False)

    growth("W2 lookup", plan.scale_sizes[-2], 1.2)  # issue 3
    growth("W2 lookup", plan.scale_sizes[0], 1.5)  # issue 4
    growth("W4 deep cursor page", plan.scale_sizes[0], 1.5)  # issue 4
    return out


def report(
    args: argparse.Namespace, plan: Plan, ceil_start: Result, ceil_end: Result, bench: Bench
) -> dict[str, Any]:
    ceil = ceil_start.rate
    rows = [ceil_start, *bench.results, ceil_end]
    header = (
        f"{'workload':<38} {'conc':>4} {'requests':>8} {'req/s':>8} {'%ceil':>6} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6} {'cliCPU s':>8} "
        f"{'allCPU s':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        latency_only = r.concurrency == 1
        pct = "-" if latency_only or not ceil else f"{r.rate / ceil * 100:.0f}%"
        lines.append(
            f"{r.name[:38]:<38} {r.concurrency:>4} {r.requests:>8} {r.rate:>8.0f} {pct:>6} "
            f"{r.pct(50) * 1000:>8.1f} {r.pct(95) * 1000:>8.1f} {r.pct(99) * 1000:>8.1f} "
            f"{r.errors:>6} {r.client_cpu:>8.2f} {r.machine_cpu:>8.1f}"
        )
    target_rows = targets(plan, ceil, bench, args.db)
    machine = _machine()
    command = " ".join([Path(sys.executable).name, *sys.argv])
    print(
        f"\nscimserver bench  db={args.db}  {'quick' if plan.quick else 'full'}  "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC  git {machine['git']}"
    )
    print(
        f"machine: {machine['cpus']} CPU ({machine['cpu']}), {machine['memory']}, "
        f"{machine['os']}, Python {machine['python']}"
    )
    print(f"command: {command}")
    print(
        f"server: scimserver serve --workers 2 (gunicorn sync) on {HOST}; client: asyncio, "
        f"{plan.concurrency} connections; loops capped at {plan.seconds:g}s\n"
    )
    print("\n".join(lines))
    for r in rows:
        if r.note or r.error_samples:
            extra = f" | first errors: {r.error_samples[:2]}" if r.error_samples else ""
            print(f"  {r.name}: {r.note}{extra}")
    for note in bench.notes:
        print(f"  note: {note}")
    print("\ntargets (issue 3):")
    for t in target_rows:
        mark = {True: "MET ", False: "MISS", None: "n/a "}[t["met"]]
        print(f"  [{mark}] {t['target']}: {t['detail']}")
    result = {
        "db": args.db,
        "quick": plan.quick,
        "when": datetime.now(UTC).isoformat(),
        "command": command,
        "machine": machine,
        "plan": plan.__dict__,
        "ceiling_requests_per_s": round(ceil, 1),
        "results": [
            dict(r.as_dict(), pct_of_ceiling=round(r.rate / ceil * 100, 1) if ceil else None)
            for r in rows
        ],
        "targets": target_rows,
        "notes": bench.notes,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(f"\nJSON written to {args.json}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and 5 s loops (about 3 minutes)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="client connections (8)")
    parser.add_argument("--seconds", type=float, help="time cap per loop (20, quick: 5)")
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("BENCH_PG_ADMIN_URL", PG_ADMIN_URL),
        help="database to create the throwaway scimbench_* database from",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, SQLite file)"
    )
    args = parser.parse_args(argv)

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    procs = Processes()
    workdir = Path(tempfile.mkdtemp(prefix="scimbench-"))
    try:
        asyncio.run(run(args, procs, workdir))
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        procs.stop_all()
        if args.keep:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
