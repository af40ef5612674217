"""Alembic environment: always handed a live connection by `assethost.store.migrate`."""

from alembic import context

from assethost.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through assethost (assethost.store.migrate.upgrade)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
