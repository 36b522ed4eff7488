"""privacy

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 20:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fastapp.platform.types

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("visitor_id", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("policy_version", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_consent_records_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index("ix_consent_records_user", ["user_id", "purpose", "created_at"], unique=False)
        batch_op.create_index("ix_consent_records_visitor", ["visitor_id", "created_at"], unique=False)

    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("effective_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["published_by"], ["users.id"], name=op.f("fk_policy_versions_published_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
        sa.UniqueConstraint("kind", "version", name=op.f("uq_policy_versions_kind")),
    )
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.create_index("ix_policy_versions_effective", ["kind", "effective_at"], unique=False)

    op.create_table(
        "privacy_erasures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reminder_sent_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.Column("held_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("held_by", sa.Uuid(), nullable=True),
        sa.Column("cancelled_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_privacy_erasures_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_erasures")),
    )
    with op.batch_alter_table("privacy_erasures", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_erasures_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_privacy_erasures_user", ["user_id", "requested_at"], unique=False)

    op.create_table(
        "privacy_exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=100), nullable=False),
        sa.Column("requested_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("storage_key", sa.String(length=255), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("download_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_privacy_exports_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_exports")),
    )
    with op.batch_alter_table("privacy_exports", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_exports_expires", ["status", "expires_at"], unique=False)
        batch_op.create_index("ix_privacy_exports_user", ["user_id", "requested_at"], unique=False)

    op.create_table(
        "policy_acceptances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=False),
        sa.Column("accepted_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["policy_versions.id"],
            name=op.f("fk_policy_acceptances_policy_id_policy_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_policy_acceptances_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_acceptances")),
        sa.UniqueConstraint("user_id", "policy_id", name=op.f("uq_policy_acceptances_user_id")),
    )


def downgrade() -> None:
    op.drop_table("policy_acceptances")
    with op.batch_alter_table("privacy_exports", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_exports_user")
        batch_op.drop_index("ix_privacy_exports_expires")

    op.drop_table("privacy_exports")
    with op.batch_alter_table("privacy_erasures", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_erasures_user")
        batch_op.drop_index("ix_privacy_erasures_due")

    op.drop_table("privacy_erasures")
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_policy_versions_effective")

    op.drop_table("policy_versions")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_records_visitor")
        batch_op.drop_index("ix_consent_records_user")

    op.drop_table("consent_records")
