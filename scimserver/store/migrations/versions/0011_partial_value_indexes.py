"""The numeric and dateTime value indexes hold only the rows that have such a value.

Most indexed values are strings or booleans, yet every row was entered in both indexes
(with a NULL key): two B-tree inserts and two dirty pages per value on every write, for
nothing a filter could find. Comparisons (``eq``, ``gt``, ``le``, …) imply ``IS NOT
NULL``, so both databases still choose these indexes for them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 09:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (("ix_attribute_values_num", "num_value"), ("ix_attribute_values_time", "time_value"))


def upgrade() -> None:
    for name, column in _INDEXES:
        op.drop_index(name, table_name="attribute_values")
        only_set = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name,
            "attribute_values",
            ["tenant_id", "path", column],
            postgresql_where=only_set,
            sqlite_where=only_set,
        )


def downgrade() -> None:
    for name, column in _INDEXES:
        op.drop_index(name, table_name="attribute_values")
        op.create_index(name, "attribute_values", ["tenant_id", "path", column])
