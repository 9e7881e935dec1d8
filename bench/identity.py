"""Identity view lookups beside the SCIM lookup, and a membership change in a large mapped
group beside one in a small one (issue #31), against the server as it ships.

    .venv/bin/python bench/identity.py --db sqlite        # 5,000 users, 100,000 members
    .venv/bin/python bench/identity.py --db postgresql    # identbench_<pid>, dropped after
    .venv/bin/python bench/identity.py --quick --large 2000 --users 500

``scimserver serve --workers 2`` on a fresh database (a temporary SQLite file, or a
PostgreSQL database ``identbench_<pid>`` created and dropped), a token from ``scimserver
token create``, users and members seeded straight into the store (``bench/seed.py``).
Lookups: perfcompare's parameters — 8 keep-alive clients (``bench/client.py``), random
existing users, each row the same request count and time cap. Then two groups, of 100 and
``--large`` members, are mapped with ``scimserver access map`` and settled by ``scimserver
worker`` (timed on its own, and finished before anything is measured); one client then
alternates adding one user to each group and removing it by ``members[value eq "…"]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import data  # noqa: E402
from bench.client import Connection, Response, Result, drive  # noqa: E402
from bench.run import HOST, PG_ADMIN_URL, Processes, _wait_ready, free_port, log  # noqa: E402
from bench.seed import Seeder  # noqa: E402

USERS = "/scim/v2/Users"
GROUPS = "/scim/v2/Groups"
IDENTITIES = "/api/v1/identities"
SMALL = 100
CONCURRENCY = 8
READY_SECONDS = 60.0


@dataclass(frozen=True)
class Plan:
    """Sizes and bounds: every loop stops at its count or its time, whichever is first."""

    users: int
    large: int
    requests: int
    seconds: float
    pairs: int
    pair_seconds: float
    settle_seconds: float

    @classmethod
    def make(cls, args: argparse.Namespace) -> Plan:
        large = args.large if args.large is not None else (10_000 if args.quick else 100_000)
        if args.quick:
            return cls(args.users, large, 1_000, 10.0, 10, 60.0, args.settle_seconds)
        return cls(args.users, large, 5_000, 60.0, 30, 300.0, args.settle_seconds)


# -- the database and the server ----------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh SQLite file, or a PostgreSQL database ``identbench_<pid>`` dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'identity.db'}"
        return
    import psycopg

    name = f"identbench_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{HOST}:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log(f"dropped database {name}")


class Deployment:
    """The database's environment, the ``scimserver`` commands run on it, and its servers."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = dict(
            os.environ,
            SCIMSERVER_DATABASE_URL=url,
            SCIMSERVER_BASE_URL=f"http://{HOST}:{self.port}/scim/v2",
            SCIMSERVER_LOG_LEVEL="WARNING",
        )
        self.procs = Processes()
        self.tool = str(Path(sys.executable).parent / "scimserver")

    def command(self, *args: str) -> str:
        """Run ``scimserver ARGS`` to its end; its standard output."""
        done = subprocess.run(
            [self.tool, *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"scimserver {' '.join(args)}: {done.stderr.decode()[-2000:]}")
        return done.stdout.decode()

    def token(self) -> str:
        self.command("db", "upgrade")
        printed = self.command("token", "create", "--name", "identbench")
        return next(s for s in printed.split() if s.startswith("scim_"))

    def serve(self) -> None:
        bind = f"{HOST}:{self.port}"
        args = [self.tool, "serve", "--workers", "2", "--bind", bind, "--no-initial-token"]
        proc = self.procs.start(args, self.env, self.workdir / "serve.log")
        log_path = self.workdir / "serve.log"
        asyncio.run(_wait_ready(proc, self.port, log_path, need_token=False, timeout=READY_SECONDS))

    def worker(self) -> subprocess.Popen[bytes]:
        args = [self.tool, "worker"]
        return self.procs.start(args, self.env, self.workdir / "worker.log")


# -- seeding and mapping ------------------------------------------------------------------


@dataclass
class Stored:
    users: list[tuple[str, str]]
    """(id, userName) of the people looked up; their primary email is their userName."""
    groups: dict[str, str]
    """Group size label ("small", "large") → id."""
    members: dict[str, str]
    """Group size label → one of its members."""
    mover: str


async def call(conn: Connection, method: str, path: str, body: Any = None) -> Any:
    response = await conn.request(method, path, body)
    if not 200 <= response.status < 300:
        raise RuntimeError(f"{method} {path}: {response.status} {response.body[:500]!r}")
    return response.json()


async def create_groups(port: int, token: str) -> tuple[dict[str, str], str]:
    """The two groups to map, and the user who moves in and out of them."""
    conn = Connection(HOST, port, token)
    try:
        groups = {}
        for label in ("small", "large"):
            body = {"schemas": [data.CORE_GROUP], "displayName": f"idp-{label}"}
            groups[label] = (await call(conn, "POST", GROUPS, body))["id"]
        mover = await call(conn, "POST", USERS, data.user_body(10_000_000, "mv"))
        return groups, mover["id"]
    finally:
        conn.close()


def seed(url: str, token: str, plan: Plan, groups: dict[str, str], mover: str) -> Stored:
    seeder = Seeder(url)
    try:
        started = time.perf_counter()
        tenant = seeder.tenant_of(token)
        users = seeder.users(tenant, range(plan.users), "id")
        plain = seeder.plain_users(tenant, plan.large + SMALL, "id")
        seeder.memberships(tenant, groups["large"], plain[: plan.large])
        seeder.memberships(tenant, groups["small"], plain[plan.large :])
        seeder.analyze()
        log(
            f"seeded {plan.users:,} users and {len(plain):,} members in "
            f"{time.perf_counter() - started:.1f} s"
        )
    finally:
        seeder.close()
    members = {"large": plain[0], "small": plain[-1]}
    return Stored(users, groups, members, mover)


def settle(deploy: Deployment, url: str, stored: Stored, plan: Plan) -> dict[str, float]:
    """Map both groups (``scimserver access map``) and let ``scimserver worker`` settle
    everyone's access; the seconds each took, the settling measured until no job is left."""
    started = time.perf_counter()
    for label, group_id in stored.groups.items():
        deploy.command("access", "map", f"app-{label}", "--idp-group", group_id)
    mapped = time.perf_counter() - started
    worker = deploy.worker()
    started = time.perf_counter()
    try:
        wait_settled(url, deploy, started + plan.settle_seconds)
    finally:
        deploy.procs.stop(worker)
    settled = time.perf_counter() - started
    seeder = Seeder(url)
    try:
        seeder.analyze()
    finally:
        seeder.close()
    return {"map_seconds": mapped, "settle_seconds": settled}


def wait_settled(url: str, deploy: Deployment, deadline: float) -> None:
    from sqlalchemy import func, select

    from scimserver.store.db import Database
    from scimserver.store.models import AccessJob

    db = Database(url)
    pending = select(func.count()).where(AccessJob.state == "pending")
    try:
        while time.perf_counter() < deadline:
            with db.engine.connect() as conn:
                if not conn.scalar(pending):
                    return
            time.sleep(0.5)
    finally:
        db.dispose()
    tail = (deploy.workdir / "worker.log").read_text("utf-8", "replace")[-2000:]
    raise RuntimeError(f"the worker did not settle the mappings in time:\n{tail}")


async def check_settled(port: int, token: str, stored: Stored) -> None:
    """A member of each group is shown in its app group before anything is measured."""
    conn = Connection(HOST, port, token)
    try:
        for label, member in stored.members.items():
            view = await call(conn, "GET", f"{IDENTITIES}/{member}")
            if view["appGroups"] != [f"app-{label}"]:
                raise RuntimeError(f"{label} group not settled: {view}")
    finally:
        conn.close()


# -- the measurements ---------------------------------------------------------------------


def user_name_eq(name: str) -> str:
    return f'userName eq "{name}"'


PathFor = Callable[[str, str], str]
LOOKUPS: dict[str, tuple[PathFor, Callable[[bytes], bool]]] = {
    'SCIM GET /Users?filter=userName eq "…"': (
        lambda _id, name: f"{USERS}?filter={quote(user_name_eq(name), safe='')}",
        lambda body: json.loads(body)["totalResults"] == 1,
    ),
    "GET /api/v1/identities/{id}": (
        lambda user_id, _name: f"{IDENTITIES}/{user_id}",
        lambda body: "appGroups" in json.loads(body),
    ),
    "GET /api/v1/identities?email=…": (
        lambda _id, name: f"{IDENTITIES}?email={quote(name, safe='')}",
        lambda body: len(json.loads(body)["identities"]) == 1,
    ),
}


async def lookups(port: int, token: str, stored: Stored, plan: Plan) -> list[Result]:
    """Each lookup kind warmed up briefly, then driven for the same count and time cap."""
    return [await lookup_row(port, token, stored, plan, name) for name in LOOKUPS]


async def lookup_row(port: int, token: str, stored: Stored, plan: Plan, name: str) -> Result:
    path, found = LOOKUPS[name]
    rng = random.Random(7)
    misses = [0]

    async def step(conn: Connection, _seq: int) -> tuple[Response, str | None]:
        user_id, user_name = stored.users[rng.randrange(len(stored.users))]
        response = await conn.request("GET", path(user_id, user_name))
        if response.status == 200 and not found(response.body):
            misses[0] += 1
        return response, None

    await drive("warm-up", HOST, port, token, step, count=200, seconds=10, concurrency=8)
    misses[0] = 0
    result = await drive(
        name,
        HOST,
        port,
        token,
        step,
        count=plan.requests,
        seconds=plan.seconds,
        concurrency=CONCURRENCY,
    )
    result.note = f"{len(stored.users):,} users stored; {misses[0]} did not find one"
    log(f"{name}: {result.rate:.0f}/s, p50 {result.pct(50) * 1000:.1f} ms")
    return result


async def moves(port: int, token: str, stored: Stored, plan: Plan) -> dict[str, Result]:
    """Per group, one client: add the mover, remove it by filter, ``plan.pairs`` times."""
    found = {}
    for label, group_id in stored.groups.items():
        await check_move(port, token, group_id, stored.mover, f"app-{label}")
        found[label] = await move_pairs(port, token, group_id, stored.mover, plan)
    return found


async def move_pairs(port: int, token: str, group_id: str, mover: str, plan: Plan) -> Result:
    add = {"op": "add", "path": "members", "value": [{"value": mover}]}
    remove = {"op": "remove", "path": f'members[value eq "{mover}"]'}

    async def step(conn: Connection, seq: int) -> tuple[Response, str | None]:
        body = data.patch(add if seq % 2 == 0 else remove)
        return await conn.request("PATCH", f"{GROUPS}/{group_id}", body), None

    return await drive(
        "member move",
        HOST,
        port,
        token,
        step,
        count=2 * plan.pairs,
        seconds=plan.pair_seconds,
        concurrency=1,
    )


async def check_move(port: int, token: str, group_id: str, mover: str, app: str) -> None:
    """One add and remove moves the mover's access both ways (the path measured)."""
    conn = Connection(HOST, port, token)
    try:
        add = {"op": "add", "path": "members", "value": [{"value": mover}]}
        await call(conn, "PATCH", f"{GROUPS}/{group_id}", data.patch(add))
        shown = (await call(conn, "GET", f"{IDENTITIES}/{mover}"))["appGroups"]
        remove = {"op": "remove", "path": f'members[value eq "{mover}"]'}
        await call(conn, "PATCH", f"{GROUPS}/{group_id}", data.patch(remove))
        if shown != [app] or (await call(conn, "GET", f"{IDENTITIES}/{mover}"))["appGroups"]:
            raise RuntimeError(f"moving {mover} in and out of {group_id} did not move access")
    finally:
        conn.close()


# -- the report ---------------------------------------------------------------------------


def report(
    db: str, plan: Plan, rows: list[Result], moved: dict[str, Result], timings: dict[str, float]
) -> None:
    print(f"\n{db}: scimserver serve, 2 workers; {CONCURRENCY} keep-alive clients\n")
    print("| lookup | requests | req/s | p50 ms | p99 ms | errors | note |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r.name} | {r.requests:,} | {r.rate:,.0f} | {r.pct(50) * 1000:.1f} "
            f"| {r.pct(99) * 1000:.1f} | {r.errors} | {r.note} |"
        )
    print(
        f"\nmapping both groups: {timings['map_seconds']:.2f} s (two `scimserver access map`); "
        f"the worker settled {plan.large + SMALL:,} people in {timings['settle_seconds']:.1f} s"
    )
    print("\n| mapped group | PATCHes | median ms | p95 ms | errors |")
    print("|---|---:|---:|---:|---:|")
    for label, size in (("small", SMALL), ("large", plan.large)):
        r = moved[label]
        print(
            f"| {size:,} members | {r.requests} | {r.pct(50) * 1000:.1f} "
            f"| {r.pct(95) * 1000:.1f} | {r.errors} |"
        )
    small, large = moved["small"], moved["large"]
    print(
        f"\nlarge/small: median {large.pct(50) / small.pct(50):.2f}x, "
        f"p95 {large.pct(95) / small.pct(95):.2f}x"
    )


def figures(rows: list[Result], moved: dict[str, Result], timings: dict[str, float]) -> Any:
    return {
        "lookups": [r.as_dict() for r in rows],
        "moves": {label: r.as_dict() for label, r in moved.items()},
        **timings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--users", type=int, default=5_000, help="users looked up (5000)")
    parser.add_argument("--large", type=int, help="members of the large group (100000)")
    parser.add_argument("--quick", action="store_true", help="1,000 lookups and 10 pairs each")
    parser.add_argument("--settle-seconds", type=float, default=1800.0, help="cap on settling")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    plan = Plan.make(args)
    workdir = Path(tempfile.mkdtemp(prefix="identbench-"))
    try:
        with database(args.db, workdir) as url:
            deploy = Deployment(url, workdir)
            try:
                rows, moved, timings = run(deploy, url, plan)
            finally:
                deploy.procs.stop_all()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(args.db, plan, rows, moved, timings)
    if args.json:
        Path(args.json).write_text(json.dumps(figures(rows, moved, timings), indent=2))
    return 0


def run(
    deploy: Deployment, url: str, plan: Plan
) -> tuple[list[Result], dict[str, Result], dict[str, float]]:
    token = deploy.token()
    deploy.serve()
    groups, mover = asyncio.run(create_groups(deploy.port, token))
    stored = seed(url, token, plan, groups, mover)
    timings = settle(deploy, url, stored, plan)
    log(f"settled in {timings['settle_seconds']:.1f} s")
    asyncio.run(check_settled(deploy.port, token, stored))
    rows = asyncio.run(lookups(deploy.port, token, stored, plan))
    moved = asyncio.run(moves(deploy.port, token, stored, plan))
    return rows, moved, timings


if __name__ == "__main__":
    sys.exit(main())
