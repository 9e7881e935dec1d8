"""Token names unique per tenant; a rotated token's previous secret.

Older databases may hold several tokens of one name in a tenant: the later ones are
renamed ``name-2``, ``name-3``… (oldest keeps its name) before the constraint is added.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

tokens = sa.table(
    "tokens", sa.column("id", sa.Integer), sa.column("tenant_id"), sa.column("name", sa.String)
)


def _free_name(name: str, taken: set[str]) -> str:
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"


def _dedupe_names() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(tokens.c.id, tokens.c.tenant_id, tokens.c.name).order_by(tokens.c.id)
    ).all()
    taken: dict[object, set[str]] = {}
    for row in rows:
        taken.setdefault(row.tenant_id, set()).add(row.name)
    seen: set[tuple[object, str]] = set()
    for row in rows:
        if (row.tenant_id, row.name) in seen:
            name = _free_name(row.name, taken[row.tenant_id])
            taken[row.tenant_id].add(name)
            connection.execute(sa.update(tokens).where(tokens.c.id == row.id).values(name=name))
        seen.add((row.tenant_id, row.name))


def upgrade() -> None:
    _dedupe_names()
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_prefix", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("previous_secret_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("previous_expires_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_tokens_previous_prefix", ["previous_prefix"], unique=True)
        batch_op.create_unique_constraint("uq_tokens_tenant_name", ["tenant_id", "name"])


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_constraint("uq_tokens_tenant_name", type_="unique")
        batch_op.drop_index("ix_tokens_previous_prefix")
        batch_op.drop_column("previous_expires_at")
        batch_op.drop_column("previous_secret_hash")
        batch_op.drop_column("previous_prefix")
