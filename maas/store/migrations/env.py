"""Alembic environment for ``maas.store.migrate``: runs on the connection (and transaction) it is handed."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through maas.store.migrate(engine), not the alembic command")

context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
