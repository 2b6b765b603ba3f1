"""A real database made to fail under a running app, then brought back.

On PostgreSQL the database stops accepting connections and those it has are
ended (as when the server restarts or the network goes); in a SQLite file,
where nothing can stand between the app and the file, a table goes missing.
Either way every query the app makes of it fails until ``bring_back``.
"""

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

AWAY = "_away"  # a missing SQLite table is renamed to this suffix


async def _run(database_url: str, *statements: str) -> None:
    """Run ``statements`` as an administrator: on PostgreSQL's server, or in the SQLite file."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(database="postgres")
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


def _is_postgresql(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


async def take_down(database_url: str, table: str) -> None:
    """From now on the app's queries fail: PostgreSQL is unreachable, or SQLite lacks ``table``."""
    if _is_postgresql(database_url):
        name = make_url(database_url).database
        await _run(
            database_url,
            f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{name}' AND pid <> pg_backend_pid()",
        )
    else:
        await _run(database_url, f"ALTER TABLE {table} RENAME TO {table}{AWAY}")


async def bring_back(database_url: str, table: str) -> None:
    """Undo ``take_down``: the app's next queries work again."""
    if _is_postgresql(database_url):
        name = make_url(database_url).database
        await _run(database_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    else:
        await _run(database_url, f"ALTER TABLE {table}{AWAY} RENAME TO {table}")
