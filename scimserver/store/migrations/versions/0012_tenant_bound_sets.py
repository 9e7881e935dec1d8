"""SETs bound to a tenant: per-tenant signing keys, poll stream ids, a server ``txn``.

The server-wide signing keys are deleted: a key every tenant signed with let one
tenant's SETs verify as another's. Each tenant makes its own key when it first signs.
A poll receiver gets a random ``stream_id`` (its ``aud`` is a URN of it, never the
token's name), and each change the ``txn`` of its write transaction; changes logged
before this have none (their SETs use the change's id).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 09:00:00

"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM signing_keys")
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("tenant_id", sa.Integer(), nullable=False))
        batch.create_foreign_key(
            "fk_signing_keys_tenant", "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
        )
    op.create_index("ix_signing_keys_tenant", "signing_keys", ["tenant_id", "created"])

    op.add_column("set_receivers", sa.Column("stream_id", sa.String(length=36), nullable=True))
    receivers = sa.table("set_receivers", sa.column("token_id"), sa.column("stream_id"))
    connection = op.get_bind()
    for (token_id,) in connection.execute(sa.select(receivers.c.token_id)).all():
        connection.execute(
            receivers.update()
            .where(receivers.c.token_id == token_id)
            .values(stream_id=str(uuid.uuid4()))
        )
    with op.batch_alter_table("set_receivers") as batch:
        batch.alter_column("stream_id", existing_type=sa.String(length=36), nullable=False)
    op.create_index("ix_set_receivers_stream", "set_receivers", ["stream_id"], unique=True)

    op.add_column("changes", sa.Column("txn", sa.String(length=36), nullable=True))


def downgrade() -> None:
    op.drop_column("changes", "txn")
    op.drop_index("ix_set_receivers_stream", table_name="set_receivers")
    with op.batch_alter_table("set_receivers") as batch:
        batch.drop_column("stream_id")
    op.drop_index("ix_signing_keys_tenant", table_name="signing_keys")
    op.execute("DELETE FROM signing_keys")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_constraint("fk_signing_keys_tenant", type_="foreignkey")
        batch.drop_column("tenant_id")
