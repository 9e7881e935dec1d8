"""How often one request crosses from the service layer into the store, and how many SQL
statements it runs. In process (Flask test client), SQLite or PostgreSQL.

    python bench/boundary.py [--repo /tmp/wt-base] [--url sqlite:////tmp/b.db]

``--repo`` measures another checkout (its ``scimserver`` package is imported instead of
this one); only HTTP and the token service are used, so older commits work too. Each
request is sent once to warm caches, then measured on a fresh target.

A crossing is a ``call`` profile event of a function in a ``scimserver.store`` module
whose caller is a function in a ``scimserver.service`` module (``contextlib`` frames in
between are skipped, so entering and leaving a ``with db.write()`` count as two).
Statements are counted at the driver, on this thread, since the store runs its fixed
statements on the DBAPI cursor past SQLAlchemy's events: SQLite's trace callback (every
statement, ``BEGIN`` and ``COMMIT`` included), or a counting psycopg cursor class
(``BEGIN``/``COMMIT`` issued by psycopg itself are not seen).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
SKIPPED = ("contextlib",)


def _module(frame: FrameType | None) -> str:
    return frame.f_globals.get("__name__", "") if frame is not None else ""


class Tally:
    """Service→store calls (by store function) and SQL statements on one thread."""

    def __init__(self) -> None:
        self.crossings: Counter[str] = Counter()
        self.statements = 0
        self._thread = threading.get_ident()

    def profile(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call" or not _module(frame).startswith("scimserver.store"):
            return
        caller = frame.f_back
        while caller is not None and _module(caller) in SKIPPED:
            caller = caller.f_back
        if _module(caller).startswith("scimserver.service"):
            self.crossings[f"{_module(frame)}.{frame.f_code.co_qualname}"] += 1

    def statement(self, sql: str = "") -> None:
        # SQLite also traces each trigger it runs, as a comment: part of one statement.
        if threading.get_ident() == self._thread and not sql.startswith("--"):
            self.statements += 1


_current: list[Tally] = []


def _counted(sql: str = "") -> None:
    for tally in _current:
        tally.statement(sql)


def _count_statements(dbapi_connection: Any, _record: Any) -> None:
    """Report each statement of a new driver connection to the running tally."""
    if hasattr(dbapi_connection, "set_trace_callback"):  # sqlite3
        dbapi_connection.set_trace_callback(_counted)
    elif hasattr(dbapi_connection, "cursor_factory"):  # psycopg 3
        base = dbapi_connection.cursor_factory

        class Counting(base):  # type: ignore[misc, valid-type]
            def execute(self, *args: Any, **kwargs: Any) -> Any:
                _counted()
                return super().execute(*args, **kwargs)

            def executemany(self, *args: Any, **kwargs: Any) -> Any:
                _counted()
                return super().executemany(*args, **kwargs)

        dbapi_connection.cursor_factory = Counting


def instrument() -> None:
    """Count the statements of every driver connection opened from now on."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    event.listen(Pool, "connect", _count_statements)


@contextmanager
def tallied() -> Iterator[Tally]:
    """Count crossings and statements of the code run inside."""
    tally = Tally()
    _current.append(tally)
    sys.setprofile(tally.profile)
    try:
        yield tally
    finally:
        sys.setprofile(None)
        _current.remove(tally)


def _settings(url: str) -> Any:
    from scimserver.config import Settings

    wanted = {"database_url": url, "activity_log": False, "log_level": "WARNING"}
    known = {f.name for f in dataclasses.fields(Settings)}
    return Settings(**{k: v for k, v in wanted.items() if k in known})


Call = Callable[[str, str, Any], Any]


def _client(url: str) -> Call:
    from scimserver.app import create_app

    app = create_app(_settings(url))
    _, secret = app.extensions["scimserver"].tokens.create("bench", "bench", "write")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}

    def call(method: str, path: str, body: Any = None) -> Any:
        response = client.open(f"/scim/v2{path}", method=method, json=body, headers=headers)
        assert response.status_code < 300, response.get_data(as_text=True)
        return response.get_json()

    return call


def _user(call: Call, name: str) -> str:
    body = {"schemas": [USER], "userName": name, "name": {"givenName": "A", "familyName": "B"}}
    return str(call("POST", "/Users", body)["id"])


def _patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


def _requests(call: Call, n: int) -> list[tuple[str, Callable[[], Any]]]:
    """Each measured request, on targets seeded for round ``n``."""
    user = _user(call, f"target{n}@x.org")
    member = _user(call, f"member{n}@x.org")
    group = call("POST", "/Groups", {"schemas": [GROUP], "displayName": f"g{n}"})["id"]
    call(
        "PATCH",
        f"/Groups/{group}",
        _patch(
            {
                "op": "add",
                "path": "members",
                "value": [{"value": _user(call, f"seed{n}.{i}@x.org")} for i in range(3)],
            }
        ),
    )
    put = {
        "schemas": [USER],
        "userName": f"target{n}@x.org",
        "active": True,
        "name": {"givenName": "C", "familyName": "D"},
    }
    query = {"schemas": [SEARCH], "filter": f'userName eq "target{n}@x.org"'}
    return [
        (
            "user PATCH active",
            lambda: call(
                "PATCH",
                f"/Users/{user}",
                _patch({"op": "replace", "path": "active", "value": False}),
            ),
        ),
        (
            "user PATCH name.givenName",
            lambda: call(
                "PATCH",
                f"/Users/{user}",
                _patch({"op": "replace", "path": "name.givenName", "value": "Z"}),
            ),
        ),
        ("user PUT", lambda: call("PUT", f"/Users/{user}", put)),
        (
            "group PATCH add member",
            lambda: call(
                "PATCH",
                f"/Groups/{group}",
                _patch({"op": "add", "path": "members", "value": [{"value": member}]}),
            ),
        ),
        (
            "GET /Users?filter=userName eq",
            lambda: call("GET", f'/Users?filter=userName eq "target{n}@x.org"'),
        ),
        ("POST /Users/.search", lambda: call("POST", "/Users/.search", query)),
    ]


def measure(url: str) -> list[tuple[str, Tally]]:
    """Each request's tally, measured after one warm-up of the same request."""
    instrument()
    call = _client(url)
    for _, send in _requests(call, 0):
        send()
    measured = []
    for label, send in _requests(call, 1):
        with tallied() as tally:
            send()
        measured.append((label, tally))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", help="a checkout whose scimserver package is measured")
    parser.add_argument("--url", default=f"sqlite:///{tempfile.mkdtemp()}/boundary.db")
    parser.add_argument("--detail", action="store_true", help="crossings by store function")
    args = parser.parse_args()
    if args.repo:
        sys.path.insert(0, args.repo)
    import scimserver

    print(f"scimserver from {scimserver.__file__}")
    print(f"{'request':32s} {'crossings':>9s} {'statements':>10s}")
    for label, tally in measure(args.url):
        print(f"{label:32s} {sum(tally.crossings.values()):9d} {tally.statements:10d}")
        if args.detail:
            for name, count in tally.crossings.most_common():
                print(f"    {count:3d} {name}")


if __name__ == "__main__":
    main()
