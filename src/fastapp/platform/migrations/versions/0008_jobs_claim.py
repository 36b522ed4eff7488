"""jobs: partial indexes for the claim, lapsed leases and dead jobs

The claim read every ready or lapsed row and sorted them (``ix_jobs_claim`` could serve neither
its ``OR`` nor its ``priority DESC, run_at`` order); it now reads ``ix_jobs_ready`` in order.
Lapsed leases are found through ``ix_jobs_running_until``, the admin page's dead jobs through
``ix_jobs_dead_finished`` and its counts through ``ix_jobs_state_queue``, which replaces
``ix_jobs_claim``. Each partial index holds only the rows of one state, not the finished history.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 09:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _only(state: str) -> dict[str, sa.TextClause]:
    predicate = sa.text(f"state = '{state}'")
    return {"postgresql_where": predicate, "sqlite_where": predicate}


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_claim")
        batch_op.create_index(
            "ix_jobs_ready", ["queue", sa.text("priority DESC"), "run_at"], unique=False, **_only("ready")
        )
        batch_op.create_index("ix_jobs_running_until", ["locked_until"], unique=False, **_only("running"))
        batch_op.create_index("ix_jobs_dead_finished", ["finished_at"], unique=False, **_only("dead"))
        batch_op.create_index("ix_jobs_state_queue", ["state", "queue"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_state_queue")
        batch_op.drop_index("ix_jobs_dead_finished")
        batch_op.drop_index("ix_jobs_running_until")
        batch_op.drop_index("ix_jobs_ready")
        batch_op.create_index("ix_jobs_claim", ["state", "queue", "priority", "run_at"], unique=False)
