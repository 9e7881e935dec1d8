"""Recent SCIM requests per tenant and hourly request counts, for the admin console.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "request_log",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("client", sa.String(100), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=True),
        sa.Column("resource_id", sa.String(64), nullable=True),
        sa.Column("subject", sa.String(256), nullable=True),
        sa.Column("subject_key", sa.String(256), nullable=True),
        sa.Column("user_agent", sa.String(64), nullable=True),
        sa.Column("normalisations", sa.JSON(), nullable=True),
        sa.Column("scim_type", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_request_log_tenant", "request_log", ["tenant_id", "id"])
    op.create_index("ix_request_log_resource", "request_log", ["tenant_id", "resource_id"])
    op.create_index("ix_request_log_subject", "request_log", ["tenant_id", "subject_key"])
    op.create_table(
        "request_hours",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "hour"),
    )


def downgrade() -> None:
    op.drop_table("request_hours")
    op.drop_index("ix_request_log_subject", table_name="request_log")
    op.drop_index("ix_request_log_resource", table_name="request_log")
    op.drop_index("ix_request_log_tenant", table_name="request_log")
    op.drop_table("request_log")
