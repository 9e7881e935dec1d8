"""PostgreSQL's capabilities: the one module that states what the production database can do."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, cast, func
from sqlalchemy.dialects import postgresql

from scimserver.store.capabilities import Features


def _json_array_elements(text: Any) -> Any:
    return func.json_array_elements_text(cast(text, JSON))


POSTGRESQL = Features(
    name="postgresql",
    one_writer=False,
    writes_with_cte=True,
    json_recordsets=True,
    advisory_locks=True,
    keeps_statistics=True,
    in_a_file=False,
    enforces_length=True,
    greatest=func.greatest,
    json_array=func.json_build_array,
    json_aggregate=func.json_agg,
    json_elements=_json_array_elements,
    upsert=postgresql.insert,
    # Reads run in autocommit: at READ COMMITTED each statement sees its own snapshot
    # inside a transaction too, so BEGIN and COMMIT were two round trips bought nothing.
    plain={"isolation_level": "AUTOCOMMIT"},
    transactions={
        "read": ({}, {}),
        "snapshot": ({"isolation_level": "REPEATABLE READ"}, {"isolation_level": "AUTOCOMMIT"}),
        "write": ({"isolation_level": "READ COMMITTED"}, {"isolation_level": "AUTOCOMMIT"}),
    },
)
