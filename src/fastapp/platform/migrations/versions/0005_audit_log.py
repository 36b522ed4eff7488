"""audit log

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 04:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fastapp.platform.types

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# PostgreSQL refuses changes to recorded events: deletes only inside `fastapp audit purge`'s
# transaction (which sets fastapp.audit_purge), updates only to blank the personal fields
# (erasure), never TRUNCATE.
GUARD_FUNCTION = """
CREATE FUNCTION audit_events_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('fastapp.audit_purge', true) = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit events are append-only: only fastapp audit purge deletes them';
    END IF;
    IF TG_OP = 'UPDATE'
        AND (NEW.seq, NEW.occurred_at, NEW.actor_type, NEW.actor_id, NEW.action, NEW.target_type,
             NEW.target_id, NEW.outcome, NEW.request_id, NEW.data, NEW.pii_digest, NEW.prev_hash, NEW.hash)
            IS NOT DISTINCT FROM
            (OLD.seq, OLD.occurred_at, OLD.actor_type, OLD.actor_id, OLD.action, OLD.target_type,
             OLD.target_id, OLD.outcome, OLD.request_id, OLD.data, OLD.pii_digest, OLD.prev_hash, OLD.hash)
        AND NEW.actor_label IS NULL AND NEW.ip IS NULL AND NEW.user_agent IS NULL AND NEW.personal IS NULL
        AND NEW.erased_at IS NOT NULL
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: only erasure may blank their personal fields';
END
$$ LANGUAGE plpgsql
"""
# asyncpg runs one statement per call.
GUARD = [
    GUARD_FUNCTION,
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events"
    " FOR EACH ROW EXECUTE FUNCTION audit_events_guard()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events"
    " FOR EACH STATEMENT EXECUTE FUNCTION audit_events_guard()",
]


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        sa.Column("occurred_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column(
            "action",
            sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("actor_label", sa.String(length=320), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("personal", sa.Text(), nullable=True),
        sa.Column("erased_at", fastapp.platform.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pii_digest", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_action", ["action", "seq"], unique=False)
        batch_op.create_index("ix_audit_events_actor", ["actor_id", "seq"], unique=False)
        batch_op.create_index("ix_audit_events_ip", ["ip", "seq"], unique=False)
        batch_op.create_index("ix_audit_events_occurred_at", ["occurred_at"], unique=False)
        batch_op.create_index("ix_audit_events_actor_label", ["actor_label", "seq"], unique=False)
        batch_op.create_index("ix_audit_events_target", ["target_id", "seq"], unique=False)
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", SEQ, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64}])
    if op.get_bind().dialect.name == "postgresql":
        for statement in GUARD:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_guard()")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_target")
        batch_op.drop_index("ix_audit_events_actor_label")
        batch_op.drop_index("ix_audit_events_occurred_at")
        batch_op.drop_index("ix_audit_events_ip")
        batch_op.drop_index("ix_audit_events_actor")
        batch_op.drop_index("ix_audit_events_action")
    op.drop_table("audit_events")
