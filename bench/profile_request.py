"""Profile one kind of request in-process (Flask test client under cProfile).

    .venv/bin/python bench/profile_request.py lookup --users 10000 --requests 2000
    .venv/bin/python bench/profile_request.py patch-entra --sort tottime --top 40
    .venv/bin/python bench/profile_request.py group-patch --group-size 100000

It builds the app exactly as ``scimserver serve`` does (``create_app`` with the
production settings) on a throwaway SQLite file (or ``--database-url``), seeds users
through the store, warms up, then profiles ``--requests`` requests of one kind. No
gunicorn and no sockets, so what it shows is the server's own per-request cost.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import data  # noqa: E402
from bench.seed import Seeder  # noqa: E402

KINDS = (
    "lookup",
    "create",
    "patch-entra",
    "patch-okta",
    "patch-name",
    "put",
    "list",
    "group-patch",
    "group-get",
    "group-get-full",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--users", type=int, default=5_000, help="users seeded first (5000)")
    parser.add_argument("--group-size", type=int, default=10_000, help="members for group-*")
    parser.add_argument("--requests", type=int, default=1_000, help="requests profiled (1000)")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative)")
    parser.add_argument("--top", type=int, default=35, help="rows printed (35)")
    parser.add_argument("--match", help="only rows whose path matches, e.g. scimserver")
    parser.add_argument("--out", help="also save the raw profile (.prof) here")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time by the process's CPU clock: waits on the database count nothing",
    )
    parser.add_argument(
        "--layers", action="store_true", help="also print own time by layer (package)"
    )
    args = parser.parse_args(argv)

    from scimserver.api.context import EXTENSION
    from scimserver.app import create_app
    from scimserver.config import Settings

    workdir = Path(tempfile.mkdtemp(prefix="scimprof-"))
    url = args.database_url or f"sqlite:///{workdir / 'profile.db'}"
    try:
        app = create_app(Settings.from_env(database_url=url))
        server = app.extensions[EXTENSION]
        _, token = server.tokens.create("profile", server.settings.default_tenant, "write")
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        seeder = Seeder(url)
        tenant = seeder.tenant_of(token)
        users = seeder.users(tenant, range(max(args.users, args.group_size + 2)), "p")
        seeder.analyze()
        rng = random.Random(7)
        step = _step(args, client, headers, users, seeder, tenant, rng)
        for seq in range(min(100, args.requests)):  # warm up caches and connections
            step(10_000_000 + seq)
        profile, statuses, elapsed, cpu = _profiled(step, args.requests, args.cpu)
        print(
            f"{args.kind}: {args.requests} requests in {elapsed:.2f}s under cProfile "
            f"({elapsed / args.requests * 1000:.2f} ms each, "
            f"{cpu / args.requests * 1000:.2f} ms CPU), statuses {statuses}"
        )
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(
            *([args.match] if args.match else []), args.top
        )
        print(out.getvalue())
        if args.layers:
            _print_layers(pstats.Stats(profile), args.requests)
        if args.out:
            profile.dump_stats(args.out)
        seeder.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _profiled(
    step: Callable[[int], int], requests: int, cpu_clock: bool
) -> tuple[cProfile.Profile, dict[int, int], float, float]:
    """The profile of ``requests`` steps, their statuses, wall and CPU seconds."""
    statuses: dict[int, int] = {}
    profile = cProfile.Profile(time.process_time) if cpu_clock else cProfile.Profile()
    started, cpu_started = time.perf_counter(), time.process_time()
    profile.enable()
    for seq in range(requests):
        status = step(seq)
        statuses[status] = statuses.get(status, 0) + 1
    profile.disable()
    return profile, statuses, time.perf_counter() - started, time.process_time() - cpu_started


def _step(
    args: argparse.Namespace,
    client: Any,
    headers: dict[str, str],
    users: list[tuple[str, str]],
    seeder: Seeder,
    tenant: int,
    rng: random.Random,
) -> Callable[[int], int]:
    users_path, groups_path = "/scim/v2/Users", "/scim/v2/Groups"
    active: dict[str, bool] = {}
    created = [0]

    def pick() -> tuple[str, str]:
        return users[rng.randrange(len(users))]

    def flip(uid: str) -> bool:
        active[uid] = not active.get(uid, True)
        return active[uid]

    def send(method: str, path: str, body: Any = None) -> int:
        response = client.open(path, method=method, json=body, headers=headers)
        response.get_data()  # a streamed body is made while it is read
        response.close()
        return int(response.status_code)

    if args.kind.startswith("group-"):
        response = client.post(
            groups_path,
            json={"schemas": [data.CORE_GROUP], "displayName": "profiled"},
            headers=headers,
        )
        group_id = response.get_json()["id"]
        members = [uid for uid, _ in users[: args.group_size]]
        seeder.memberships(tenant, group_id, members)
        seeder.analyze()
        spare = [uid for uid, _ in users[args.group_size :]]

    def step(seq: int) -> int:
        kind = args.kind
        if kind == "lookup":
            flt = quote(f'userName eq "{pick()[1]}"', safe="")
            return send("GET", f"{users_path}?filter={flt}")
        if kind == "create":
            created[0] += 1
            return send("POST", users_path, data.user_body(1_000_000 + seq + created[0], "c"))
        if kind == "patch-entra":
            uid = pick()[0]
            return send("PATCH", f"{users_path}/{uid}", data.entra_active(flip(uid)))
        if kind == "patch-okta":
            uid = pick()[0]
            return send("PATCH", f"{users_path}/{uid}", data.okta_active(flip(uid)))
        if kind == "patch-name":
            body = data.given_name(data.random_given(rng, seq))
            return send("PATCH", f"{users_path}/{pick()[0]}", body)
        if kind == "put":
            index = rng.randrange(len(users))
            body = data.user_body(index, "p")
            body["title"] = f"t{seq}"
            return send("PUT", f"{users_path}/{users[index][0]}", body)
        if kind == "list":
            start = rng.randint(1, max(1, len(users) - 99))
            return send("GET", f"{users_path}?startIndex={start}&count=100")
        member = spare[seq % len(spare)]
        if kind == "group-patch":  # one step = add one member, then remove it again
            status = send(
                "PATCH",
                f"{groups_path}/{group_id}",
                data.patch({"op": "add", "path": "members", "value": [{"value": member}]}),
            )
            removed = send(
                "PATCH",
                f"{groups_path}/{group_id}",
                data.patch({"op": "remove", "path": f'members[value eq "{member}"]'}),
            )
            return status if status >= 300 else removed
        if kind == "group-get-full":  # every member, streamed above 1,000
            return send("GET", f"{groups_path}/{group_id}")
        return send("GET", f"{groups_path}/{group_id}?excludedAttributes=members")

    return step


_LAYERS = (  # the first fragment a function's file path contains names its layer
    ("/werkzeug/test.py", "test client (gunicorn's part in production)"),
    ("/flask/testing.py", "test client (gunicorn's part in production)"),
    ("/scimserver/api/", "scimserver api (routes, auth, logging)"),
    ("/scimserver/service/", "scimserver service"),
    ("/scimserver/scim/", "scimserver scim (filter, patch, values)"),
    ("/scimserver/schema/", "scimserver schema (marshal)"),
    ("/scimserver/store/", "scimserver store"),
    ("/sqlalchemy/orm/", "SQLAlchemy ORM"),
    ("/sqlalchemy/", "SQLAlchemy Core and engine"),
    ("/psycopg", "psycopg"),
    ("/marshmallow/", "marshmallow"),
    ("/werkzeug/", "Werkzeug"),
    ("/flask/", "Flask"),
    ("/logging/", "logging"),
)
_C_CALLS = (  # built-ins worth naming: where the database itself runs
    ("sqlite3", "SQLite (C: execute, commit, fetch)"),
    ("psycopg", "psycopg (C)"),
)


def _layer(path: str, name: str) -> str | None:
    """The layer a function belongs to; None for the standard library and built-ins."""
    if path == "~":
        return next((label for key, label in _C_CALLS if key in name), None)
    return next((label for key, label in _LAYERS if key in path), None)


def _print_layers(stats: pstats.Stats, requests: int) -> None:
    """Own (not cumulative) time per layer, per request: where a request's time goes.

    Time in the standard library and built-ins (``isinstance``, ``dict.get``, ``json``…)
    counts for the layer that called them, one level up.
    """
    totals: dict[str, float] = {}
    other = "standard library and built-ins, called from elsewhere"
    for (path, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        layer = _layer(path, name)
        if layer is not None:
            totals[layer] = totals.get(layer, 0.0) + row[2]
            continue
        for (caller_path, _, caller_name), caller_row in row[4].items():
            owner = _layer(caller_path, caller_name) or other
            totals[owner] = totals.get(owner, 0.0) + caller_row[2]
    whole = sum(totals.values())
    print(f"own time by layer, per request (under cProfile; {whole / requests * 1000:.2f} ms)")
    for layer, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        share = seconds / whole * 100
        print(f"  {seconds / requests * 1000:6.3f} ms  {share:5.1f}%  {layer}")


if __name__ == "__main__":
    sys.exit(main())
