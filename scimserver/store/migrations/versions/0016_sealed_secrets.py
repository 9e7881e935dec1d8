"""Secrets may be stored encrypted (``fernet:<token>``, see store/sealed.py): the server
keys and webhook secrets become text columns, as the signing keys already are.

PostgreSQL only: SQLite never enforced the length, and rebuilding ``webhook_subscriptions``
there (batch mode) would cascade-delete its delivery rows as the old table is dropped.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 23:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("server_keys", "value", False),
    ("webhook_subscriptions", "secret", False),
    ("webhook_subscriptions", "previous_secret", True),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, nullable in _COLUMNS:
        op.alter_column(
            table, column, type_=sa.Text(), existing_type=sa.String(128), existing_nullable=nullable
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, nullable in _COLUMNS:
        op.alter_column(
            table, column, type_=sa.String(128), existing_type=sa.Text(), existing_nullable=nullable
        )
