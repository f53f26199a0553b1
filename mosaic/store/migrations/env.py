"""Alembic environment: migrations run on a connection handed over by `Database.migrate`, so the
same engine (SQLite or PostgreSQL) serves the app and its schema upgrades."""

from __future__ import annotations

from alembic import context

from mosaic.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
