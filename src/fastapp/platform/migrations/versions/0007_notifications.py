"""notifications and email

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 06:16:30.954911
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fastapp.platform.types

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_soft_bounces",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_email_soft_bounces")),
    )
    op.create_table(
        "email_suppressions",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_email_suppressions")),
    )
    op.create_table(
        "email_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("mandatory", sa.Boolean(), nullable=False),
        sa.Column("context", sa.Text(), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("open_count", sa.Integer(), nullable=False),
        sa.Column("click_count", sa.Integer(), nullable=False),
        sa.Column("created_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("clicked_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deferred_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("bounced_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("complained_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("suppressed_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_email_messages_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_email_messages_message_id")),
    )
    with op.batch_alter_table("email_messages", schema=None) as batch_op:
        batch_op.create_index("ix_email_messages_created", ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_email_messages_provider_message_id"), ["provider_message_id"], unique=False
        )
        batch_op.create_index("ix_email_messages_template_created", ["template", "created_at"], unique=False)
        batch_op.create_index("ix_email_messages_to_address", ["to_address", "created_at"], unique=False)

    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=True),
        sa.Column("email", sa.Boolean(), nullable=True),
        sa.Column("email_frequency", sa.String(length=16), nullable=True),
        sa.Column("updated_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_preferences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "category", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=False),
        sa.Column("email_state", sa.String(length=16), nullable=True),
        sa.Column("created_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("archived_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_email_state", ["email_state", "user_id"], unique=False)
        batch_op.create_index("ix_notifications_inbox", ["user_id", "created_at", "id"], unique=False)

    op.create_table(
        "email_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["email_messages.id"],
            name=op.f("fk_email_events_message_id_email_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_events")),
    )
    with op.batch_alter_table("email_events", schema=None) as batch_op:
        batch_op.create_index("ix_email_events_message", ["message_id", "occurred_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("email_events", schema=None) as batch_op:
        batch_op.drop_index("ix_email_events_message")

    op.drop_table("email_events")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_inbox")
        batch_op.drop_index("ix_notifications_email_state")

    op.drop_table("notifications")
    op.drop_table("notification_preferences")
    with op.batch_alter_table("email_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_email_messages_to_address")
        batch_op.drop_index("ix_email_messages_template_created")
        batch_op.drop_index(batch_op.f("ix_email_messages_provider_message_id"))
        batch_op.drop_index("ix_email_messages_created")

    op.drop_table("email_messages")
    op.drop_table("email_suppressions")
    op.drop_table("email_soft_bounces")
