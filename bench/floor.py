"""scimserver beside the floor of its own stack: what part of a request's cost is ours.

    .venv/bin/python bench/floor.py --db sqlite [--rounds 2] [--json FILE]
    .venv/bin/python bench/floor.py --db postgresql

The floor (``bench/floor_app.py``) is the least a durable SCIM server on Flask,
SQLAlchemy and this database must do per request: authenticate a hashed bearer token,
parse, store one JSON document under a unique userName, commit, answer. Both run as
``perfcompare.sh`` runs every system (gunicorn, 2 sync workers) and get the same requests
(the workloads of ``bench/run.py``: realistic creates, ``userName eq`` lookups, Entra
PATCHes, full PUTs), each on a fresh database, rounds interleaved, medians printed. A
goal above the floor cannot be met on this stack by anything scimserver does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.client import Result  # noqa: E402
from bench.run import (  # noqa: E402
    HOST,
    PG_ADMIN_URL,
    Bench,
    Plan,
    Processes,
    Store,
    _venv_tool,
    _wait_ready,
    ceiling,
    free_port,
    log,
)

WORKLOADS = ("create", "lookup", "PATCH active (Entra)", "PUT full user")
SYSTEMS = ("floor", "scimserver")


async def start_sync(procs: Processes, app: str, env: dict[str, str], workdir: Path) -> int:
    """``app`` under gunicorn with 2 sync workers, as ``perfcompare.sh`` serves every system."""
    port = free_port()
    log_path = workdir / "gunicorn.log"
    args = [_venv_tool("gunicorn"), "-w", "2", "-b", f"{HOST}:{port}", "--chdir", str(REPO), app]
    proc = procs.start(args, env, log_path)
    await _wait_ready(proc, port, log_path, need_token=False)
    return port


async def start_floor(procs: Processes, url: str, workdir: Path) -> tuple[int, str]:
    token = secrets.token_urlsafe(24)
    env = dict(os.environ, FLOOR_DATABASE_URL=url, FLOOR_TOKEN=token)
    # tables and token first, once: two workers importing it at once would race
    subprocess.run([sys.executable, "-c", "import bench.floor_app"], env=env, cwd=REPO, check=True)
    return await start_sync(procs, "bench.floor_app:app", env, workdir), token


async def start_scimserver(
    procs: Processes, url: str, workdir: Path, settings: dict[str, str] | None = None
) -> tuple[int, str]:
    env = dict(os.environ, SCIMSERVER_DATABASE_URL=url, **(settings or {}))
    cli = _venv_tool("scimserver")
    subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    made = subprocess.run(
        [cli, "token", "create", "--name", "bench"], env=env, check=True, capture_output=True
    )
    lines = (made.stdout + made.stderr).decode().split()
    token = next(word for word in lines if word.startswith("scim_"))
    return await start_sync(procs, "scimserver.wsgi:app", env, workdir), token


async def measure(bench: Bench, plan: Plan) -> dict[str, Result]:
    """The four workloads, in the order an IdP's sync produces them."""
    steps: list[tuple[str, Callable[..., Awaitable[Any]], int]] = [
        ("create", bench.create, plan.create_users),
        ("lookup", bench.lookup_step([0]), plan.requests),
        ("PATCH active (Entra)", bench.patch_entra, plan.writes),
        ("PUT full user", bench.put, plan.writes),
    ]
    return {
        name: await bench.go(name, step, count=count, seconds=plan.seconds)
        for name, step, count in steps
    }


async def one_round(
    args: argparse.Namespace, plan: Plan, procs: Processes, workdir: Path, index: int
) -> dict[str, dict[str, Result]]:
    measured: dict[str, dict[str, Result]] = {}
    port = await start_sync(procs, "bench.ceiling_app:app", dict(os.environ), workdir)
    measured["ceiling"] = {"hello": await ceiling(port, plan, "ceiling")}
    procs.stop_all()
    for system in SYSTEMS:
        directory = workdir / f"{system}-{index}"
        directory.mkdir()
        store = Store(args.db, directory, args.pg_admin_url)
        try:
            starter = start_floor if system == "floor" else start_scimserver
            port, token = await starter(procs, store.url, directory)
            bench = Bench(plan, port, token, secrets.token_hex(2), random.Random(index))
            log(f"round {index + 1}: {system}")
            measured[system] = await measure(bench, plan)
        finally:
            procs.stop_all()
            store.drop()
    return measured


def report(rounds: list[dict[str, dict[str, Result]]], db: str) -> dict[str, Any]:
    ceil = statistics.median(r["ceiling"]["hello"].rate for r in rounds)
    table: dict[str, Any] = {"db": db, "rounds": len(rounds), "ceiling_per_s": round(ceil, 1)}
    print(f"\nscimserver beside its floor, {db}, {len(rounds)} round(s), medians")
    print(f"ceiling (hello): {ceil:.0f}/s\n")
    print("| workload | floor /s | floor % ceiling | scimserver /s | scimserver / floor |")
    print("| --- | --- | --- | --- | --- |")
    for name in WORKLOADS:
        floor = statistics.median(r["floor"][name].rate for r in rounds)
        ours = statistics.median(r["scimserver"][name].rate for r in rounds)
        p99 = {s: statistics.median(r[s][name].pct(99) * 1000 for r in rounds) for s in SYSTEMS}
        errors = {s: sum(r[s][name].errors for r in rounds) for s in SYSTEMS}
        print(
            f"| {name} | {floor:.0f} | {floor / ceil * 100:.0f}% | {ours:.0f} | "
            f"{ours / floor:.2f}x |"
        )
        table[name] = {
            "floor_per_s": round(floor, 1),
            "scimserver_per_s": round(ours, 1),
            "p99_ms": p99,
            "errors": errors,
        }
    return table


async def run(args: argparse.Namespace, procs: Processes, workdir: Path) -> dict[str, Any]:
    plan = Plan(quick=False, seconds=args.seconds, create_users=3_000, requests=10_000)
    rounds = [await one_round(args, plan, procs, workdir, i) for i in range(args.rounds)]
    return report(rounds, args.db)


def parser_for(doc: str | None) -> argparse.ArgumentParser:
    """The options every floor benchmark takes: database, rounds, JSON output."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (2)")
    parser.add_argument("--json", metavar="FILE", help="also write the medians as JSON")
    parser.add_argument(
        "--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", PG_ADMIN_URL)
    )
    return parser


def measured(
    args: argparse.Namespace,
    rounds: Callable[[argparse.Namespace, Processes, Path], Coroutine[Any, Any, dict[str, Any]]],
) -> int:
    """Run ``rounds`` in a scratch directory, stop every server it started, save the JSON."""
    procs = Processes()
    workdir = Path(tempfile.mkdtemp(prefix="scimfloor-"))
    try:
        table = asyncio.run(rounds(args, procs, workdir))
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--seconds", type=float, default=15.0, help="time cap per loop (15)")
    return measured(parser.parse_args(argv), run)


if __name__ == "__main__":
    sys.exit(main())
