"""What a webhook may reach: plain http (``--insecure-http``) and the private network
(``--allow-private-network``).

Existing ``http://`` subscriptions are marked insecure, so they keep being delivered
(and are flagged in ``webhook list`` and the console). No existing subscription is
allowed the private network: the worker now refuses loopback, private, link-local and
metadata addresses for them; add such a receiver again with ``--allow-private-network``.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(
            sa.Column("insecure_http", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("private_network", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    subscriptions = sa.table(
        "webhook_subscriptions", sa.column("url", sa.Text), sa.column("insecure_http", sa.Boolean)
    )
    op.execute(
        subscriptions.update()
        .where(sa.func.lower(subscriptions.c.url).like("http:%"))
        .values(insecure_http=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_column("private_network")
        batch.drop_column("insecure_http")
