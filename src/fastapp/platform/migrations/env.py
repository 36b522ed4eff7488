"""Alembic environment: always driven by ``fastapp.platform.migrate``, never by alembic.ini.

The caller hands over a live synchronous connection (from ``AsyncConnection.run_sync``) and the
target metadata through ``config.attributes``, so the same environment serves SQLite and
PostgreSQL, the CLI, the app's start-up and the tests.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
target_metadata = context.config.attributes["metadata"]

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    compare_server_default=False,
)

with context.begin_transaction():
    context.run_migrations()
