"""Bulk seeding straight through the store, for sizes the HTTP path would take too long to fill.

Rows are written exactly as the server writes them: the document the server keeps, the
lookup columns (``user_name_key`` = casefolded userName, ``display_name``), version 1, and
one ``attribute_values`` row per indexed leaf value from ``scimserver.scim.values``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text

from bench import data

CHUNK = 2_000

COLUMNS = {
    "resources": (
        "id",
        "tenant_id",
        "resource_type",
        "user_name_key",
        "display_name",
        "version",
        "created",
        "last_modified",
        "data",
        "password_hash",
    ),
    "attribute_values": (
        "resource_id",
        "tenant_id",
        "path",
        "ordinal",
        "str_key",
        "str_value",
        "num_value",
        "time_value",
        "bool_value",
    ),
    "memberships": ("group_id", "member_id", "member_type", "tenant_id"),
}


def _now() -> datetime:
    moment = datetime.now(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Seeder:
    """Writes users and memberships for one tenant of one database."""

    def __init__(self, url: str) -> None:
        from scimserver.schema import default_schema_dir, load_registry
        from scimserver.store.db import Database

        self.db = Database(url)
        registry = load_registry([default_schema_dir()])
        self.user_type = registry.resource_type("User")
        try:
            from scimserver.scim.values import index_values
        except ImportError:  # an older server without the value index
            index_values = None
        self.index_values = index_values
        self.seconds = 0.0

    def close(self) -> None:
        self.db.dispose()

    def tenant_of(self, token: str) -> int:
        from scimserver.store.models import Token

        prefix = token.removeprefix("scim_").split("_", 1)[0]
        with self.db.engine.connect() as conn:
            tenant_id = conn.scalar(select(Token.tenant_id).where(Token.prefix == prefix))
        if tenant_id is None:
            raise RuntimeError(f"No token with prefix {prefix} in the database.")
        return int(tenant_id)

    def users(self, tenant_id: int, indexes: Iterable[int], run: str) -> list[tuple[str, str]]:
        """Insert one User per index; returns (id, userName) pairs."""
        started = time.perf_counter()
        made: list[tuple[str, str]] = []
        resources: list[tuple[Any, ...]] = []
        values: list[tuple[Any, ...]] = []
        for index in indexes:
            document = data.stored_document(index, run)
            rid = str(uuid.uuid4())
            moment = self._time(_now())
            resources.append(
                (
                    rid,
                    tenant_id,
                    "User",
                    document["userName"].casefold(),
                    document["displayName"],
                    1,
                    moment,
                    moment,
                    json.dumps(document),
                    None,
                )
            )
            if self.index_values is not None:
                for v in self.index_values(self.user_type, document):
                    values.append(
                        (
                            rid,
                            tenant_id,
                            v.path,
                            v.ordinal,
                            v.str_value[:128] if v.str_value is not None else None,
                            v.str_value,
                            v.num_value,
                            self._time(v.time_value) if v.time_value is not None else None,
                            v.bool_value,
                        )
                    )
            made.append((rid, document["userName"]))
            if len(resources) >= CHUNK:
                self._write({"resources": resources, "attribute_values": values})
                resources, values = [], []
        self._write({"resources": resources, "attribute_values": values})
        self.seconds += time.perf_counter() - started
        return made

    def plain_users(self, tenant_id: int, count: int, run: str) -> list[str]:
        """Insert ``count`` Users holding a userName only (no indexed values); their ids.

        For members of large groups, where only the membership rows are read.
        """
        started = time.perf_counter()
        ids: list[str] = []
        rows: list[tuple[Any, ...]] = []
        moment = self._time(_now())
        for index in range(count):
            rid, name = str(uuid.uuid4()), f"{run}-member-{index:07d}"
            document = {"schemas": [data.CORE_USER], "userName": name}
            rows.append(
                (rid, tenant_id, "User", name, name, 1, moment, moment, json.dumps(document), None)
            )
            ids.append(rid)
            if len(rows) >= CHUNK * 5:
                self._write({"resources": rows})
                rows = []
        self._write({"resources": rows})
        self.seconds += time.perf_counter() - started
        return ids

    def memberships(self, tenant_id: int, group_id: str, member_ids: Sequence[str]) -> None:
        started = time.perf_counter()
        for start in range(0, len(member_ids), CHUNK * 5):
            rows = [(group_id, m, "User", tenant_id) for m in member_ids[start : start + CHUNK * 5]]
            self._write({"memberships": rows})
        self.seconds += time.perf_counter() - started

    def _time(self, moment: datetime) -> Any:
        """A datetime as the store's dialect keeps it (SQLAlchemy's SQLite text format)."""
        if self.db.features.name == "sqlite":
            return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
        return moment

    def _write(self, tables: dict[str, list[tuple[Any, ...]]]) -> None:
        """One transaction: executemany on SQLite, COPY on PostgreSQL."""
        raw = self.db.engine.raw_connection()
        try:
            driver = raw.driver_connection
            if self.db.features.name == "sqlite":
                driver.execute("BEGIN IMMEDIATE")
                for table, rows in tables.items():
                    if rows:
                        cols = COLUMNS[table]
                        marks = ", ".join("?" * len(cols))
                        driver.executemany(
                            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows
                        )
                driver.execute("COMMIT")
            else:
                with driver.cursor() as cur:
                    for table, rows in tables.items():
                        if rows:
                            sql = f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN"
                            with cur.copy(sql) as copy:
                                for row in rows:
                                    copy.write_row(row)
                driver.commit()
        finally:
            raw.close()

    def analyze(self) -> None:
        """PostgreSQL: settle a bulk load as autovacuum would before it is measured.

        ANALYZE refreshes planner statistics; VACUUM sets the hint bits and visibility map
        that the first reads of freshly copied rows would otherwise write during the
        measurement (the machine under test may run with autovacuum off).
        """
        if self.db.features.name == "sqlite":
            return
        started = time.perf_counter()
        with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
        self.seconds += time.perf_counter() - started
