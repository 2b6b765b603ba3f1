"""Alembic's entry point: run migrations against the app's own database.

The URL comes from the app's settings (environment or ``.env``), and the
target metadata from its models, so ``alembic revision --autogenerate``
compares the database with the code the app actually runs.
"""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from {{ cookiecutter.package_name }} import models  # noqa: F401 - defines the tables on Base.metadata
from {{ cookiecutter.package_name }}.db import Base, share_sqlite
from {{ cookiecutter.package_name }}.settings import get_settings

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata
database_url = get_settings().database_url
# SQLite cannot ALTER most things in place; batch mode copies the table instead.
render_as_batch = database_url.startswith("sqlite")


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade head --sql``)."""
    context.configure(
        url=database_url,
        target_metadata=target_metadata,
        render_as_batch=render_as_batch,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_sync_migrations(connection: Connection) -> None:
    """Run the migrations on a connection the async engine lent us."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=render_as_batch,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    """Connect with the app's async driver and migrate."""
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    share_sqlite(engine)  # a running app may hold the lock: wait for it, as the app does
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_sync_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
