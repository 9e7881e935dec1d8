"""Access rules per tenant (app groups mapped to IdP groups, default role, admin source),
each person's announced effective access, and the jobs that settle a rules edit.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 23:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    def tenant() -> sa.ForeignKey:
        return sa.ForeignKey("tenants.id", ondelete="CASCADE")

    op.create_table(
        "access_rules",
        sa.Column("tenant_id", sa.Integer(), tenant(), primary_key=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("default_role", sa.String(100), nullable=True),
        sa.Column("admin_attribute", sa.String(512), nullable=True),
        sa.Column("admin_group_id", sa.String(36), nullable=True),
    )
    op.create_table(
        "access_mappings",
        sa.Column("tenant_id", sa.Integer(), tenant(), primary_key=True),
        sa.Column("app_group", sa.String(100), primary_key=True),
        sa.Column("group_id", sa.String(36), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
    )
    op.create_index("ix_access_mappings_group", "access_mappings", ["tenant_id", "group_id"])
    op.create_table(
        "identity_access",
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("resources.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("app_groups", sa.JSON(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=True),
        sa.Column("admin_known", sa.Boolean(), nullable=True),
    )
    op.create_table(
        "access_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), tenant(), nullable=False),
        sa.Column("group_id", sa.String(36), nullable=True),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after_id", sa.String(36), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_access_jobs_pending", "access_jobs", ["state", "created"])


def downgrade() -> None:
    op.drop_index("ix_access_jobs_pending", table_name="access_jobs")
    op.drop_table("access_jobs")
    op.drop_table("identity_access")
    op.drop_index("ix_access_mappings_group", table_name="access_mappings")
    op.drop_table("access_mappings")
    op.drop_table("access_rules")
