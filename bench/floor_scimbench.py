"""The floor beside scimserver under perfcompare's own client: what the issue's goals ask.

    .venv/bin/python bench/floor_scimbench.py --db sqlite [--rounds 2] [--json FILE]
    .venv/bin/python bench/floor_scimbench.py --db postgresql

``bench/floor.py`` measures with this project's client; the goals of the performance
issue are stated in ``../shared/perf/perfcompare.sh``'s figures, so this runs the same
systems with that harness's client and parameters (``scimbench.py --only W1,W2,W3``, 8
clients, 5,000 users, ``--ascii-names --patch-style entra``) and its hello ceiling. It
serves, each on a fresh database, under gunicorn with 2 sync workers:

- ``hello``: the ceiling, ``bench/ceiling_app.py`` (a Flask JSON answer, as perfcompare's
  ``peers/hello.py``), measured by perfcompare's ``hello_bench.py``;
- ``floor``: ``bench/floor_app.py``, the least a durable SCIM server on this stack does;
- ``scimserver``: as perfcompare serves it (every default);
- ``unobserved``: scimserver with request activity off and logging at WARNING, to show
  what the activity record and the JSON log line of every request cost.

Rates are read against the ceiling of the same round, so a goal stated as a multiple of a
peer's rate in a perfcompare run can be placed beside the floor: a rate the floor does not
reach cannot be reached on this stack by anything the server does on top of it.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.floor import (  # noqa: E402
    measured,
    parser_for,
    start_floor,
    start_scimserver,
    start_sync,
)
from bench.run import HOST, Processes, Store, log  # noqa: E402

PERF = REPO.parent / "shared" / "perf"
SCIMBENCH = [
    *("--clients", "8", "--users", "5000", "--requests", "5000"),
    *("--duration", "25", "--setup-duration", "25", "--seed", "1"),
    *("--ascii-names", "--patch-style", "entra", "--only", "W1,W2,W3"),
]
WORKLOADS = {
    "W1 create": "create",
    "W2 lookup": "lookup",
    "W3p PATCH user": "PATCH",
    "W3u PUT user": "PUT",
}
SYSTEMS = ("floor", "scimserver", "unobserved")
UNOBSERVED = {"SCIMSERVER_ACTIVITY_LOG": "false", "SCIMSERVER_LOG_LEVEL": "WARNING"}


async def hello(procs: Processes, perf: Path, workdir: Path) -> float:
    """Requests per second of the ceiling app, measured by perfcompare's hello client."""
    port = await start_sync(procs, "bench.ceiling_app:app", dict(os.environ), workdir)
    pid = str(procs.procs[-1].pid)
    bench = [sys.executable, str(perf / "peers" / "hello_bench.py")]
    url = f"http://{HOST}:{port}/hello"
    out = subprocess.run([*bench, url, "8", "30000", "10", pid], capture_output=True, check=True)
    summary = out.stdout.decode().strip().splitlines()[-1]  # the repr of a dict of figures
    rate: float = ast.literal_eval(summary)["req_per_s"]
    return rate


async def driven(
    procs: Processes, perf: Path, system: str, db: str, admin_url: str, workdir: Path
) -> dict[str, dict[str, float]]:
    """One system on a fresh database, driven by scimbench: rate, p99, CPU per request."""
    store = Store(db, workdir, admin_url)
    try:
        if system == "floor":
            port, token = await start_floor(procs, store.url, workdir)
        else:
            extra = UNOBSERVED if system == "unobserved" else {}
            port, token = await start_scimserver(procs, store.url, workdir, extra)
        pid = str(procs.procs[-1].pid)
        out = workdir / "scimbench.json"
        command = [sys.executable, str(perf / "scimbench.py"), "--label", system]
        command += ["--base-url", f"http://{HOST}:{port}/scim/v2", "--token", token]
        command += ["--server-pid", pid, *SCIMBENCH, "--json", str(out)]
        subprocess.run(command, capture_output=True, check=True, timeout=600)
        results = json.loads(out.read_text())["results"]
    finally:
        procs.stop_all()
        store.drop()
    return {
        WORKLOADS[r["workload"]]: {
            "rate": r["req_per_s"],
            "p99_ms": r["p99_ms"],
            "cpu_ms": 1000 * r["server_cpu_s"] / max(1, r["requests"]),
            "errors": r["errors"],
        }
        for r in results
        if r["workload"] in WORKLOADS
    }


async def one_round(args: argparse.Namespace, procs: Processes, workdir: Path, index: int) -> Any:
    figures: dict[str, Any] = {"hello": await hello(procs, args.perf, workdir)}
    procs.stop_all()
    for system in SYSTEMS:
        directory = workdir / f"{system}-{index}"
        directory.mkdir()
        log(f"round {index + 1}: {system}")
        figures[system] = await driven(
            procs, args.perf, system, args.db, args.pg_admin_url, directory
        )
    return figures


def report(rounds: list[Any], db: str) -> dict[str, Any]:
    """Medians over rounds, each rate also as a share of its own round's ceiling."""
    table: dict[str, Any] = {"db": db, "rounds": len(rounds)}
    table["hello"] = statistics.median(r["hello"] for r in rounds)
    print(f"\nfloor and scimserver under scimbench, {db}, {len(rounds)} round(s), medians")
    print(f"hello ceiling: {table['hello']:.0f}/s\n")
    heads = (f"{system} /s (% ceiling, CPU ms, p99 ms)" for system in SYSTEMS)
    print("| workload | " + " | ".join(heads) + " |")
    print("|---" * (len(SYSTEMS) + 1) + "|")
    for name in WORKLOADS.values():
        row = {system: _medians(rounds, system, name) for system in SYSTEMS}
        cells = (
            f"{v['rate']:.0f} ({v['share'] * 100:.1f}%, {v['cpu_ms']:.2f}, {v['p99_ms']:.1f})"
            + (f" {v['errors']} failed" if v["errors"] else "")
            for v in row.values()
        )
        print(f"| {name} | " + " | ".join(cells) + " |")
        table[name] = row
    return table


def _medians(rounds: list[Any], system: str, name: str) -> dict[str, float]:
    """One system's figures for one workload over the rounds that measured it."""
    seen = [(r[system][name], r["hello"]) for r in rounds if name in r[system]]
    return {
        "rate": statistics.median(f["rate"] for f, _ in seen),
        "share": statistics.median(f["rate"] / ceiling for f, ceiling in seen),
        "cpu_ms": statistics.median(f["cpu_ms"] for f, _ in seen),
        "p99_ms": statistics.median(f["p99_ms"] for f, _ in seen),
        "errors": sum(f["errors"] for f, _ in seen),
    }


async def run(args: argparse.Namespace, procs: Processes, workdir: Path) -> dict[str, Any]:
    rounds = [await one_round(args, procs, workdir, i) for i in range(args.rounds)]
    return report(rounds, args.db)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--perf", type=Path, default=PERF, help="perfcompare's directory")
    args = parser.parse_args(argv)
    if not (args.perf / "scimbench.py").is_file():
        parser.error(f"no scimbench.py in {args.perf}")
    return measured(args, run)


if __name__ == "__main__":
    sys.exit(main())
