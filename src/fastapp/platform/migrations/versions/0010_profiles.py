"""profiles

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 08:00:37.564782
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fastapp.platform.types

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bio", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("profile_extra", sa.Text(), server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("locale", sa.String(length=16), server_default="en", nullable=False))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False))
        batch_op.add_column(sa.Column("date_format", sa.String(length=8), server_default="iso", nullable=False))
        batch_op.add_column(sa.Column("time_format", sa.String(length=4), server_default="24h", nullable=False))
        batch_op.add_column(sa.Column("theme", sa.String(length=8), server_default="system", nullable=False))
        batch_op.add_column(sa.Column("avatar_file_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("deactivated_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("password_reset_required", sa.Boolean(), server_default="0", nullable=False))
        batch_op.create_index("ix_users_created", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_users_status_created", ["status", "created_at"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_users_avatar_file_id_files"), "files", ["avatar_file_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_avatar_file_id_files"), type_="foreignkey")
        batch_op.drop_index("ix_users_status_created")
        batch_op.drop_index("ix_users_created")
        batch_op.drop_column("password_reset_required")
        batch_op.drop_column("deactivated_at")
        batch_op.drop_column("avatar_file_id")
        batch_op.drop_column("theme")
        batch_op.drop_column("time_format")
        batch_op.drop_column("date_format")
        batch_op.drop_column("timezone")
        batch_op.drop_column("locale")
        batch_op.drop_column("profile_extra")
        batch_op.drop_column("bio")
