"""SQLite's capabilities: the one module that states what the embedded database can do."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.dialects import sqlite

from scimserver.store.capabilities import Features

SQLITE = Features(
    name="sqlite",
    one_writer=True,
    writes_with_cte=False,
    json_recordsets=False,
    advisory_locks=False,
    keeps_statistics=False,
    in_a_file=True,
    enforces_length=False,
    greatest=func.max,
    json_array=func.json_array,
    json_aggregate=func.json_group_array,
    json_elements=func.json_each,
    upsert=sqlite.insert,
    # The BEGIN a transaction starts with is issued by store.db's ``begin`` event.
    plain={"scim_single": True},
    transactions={
        "read": ({"scim_single": False}, {"scim_single": True}),
        "snapshot": ({"scim_single": False}, {"scim_single": True}),
        "write": (
            {"scim_single": False, "scim_write": True},
            {"scim_single": True, "scim_write": False},
        ),
    },
)
