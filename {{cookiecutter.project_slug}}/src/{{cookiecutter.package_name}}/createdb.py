"""Create the database ``DATABASE_URL`` names: ``python -m {{ cookiecutter.package_name }}.createdb``.

``make setup`` runs it before migrating, so a new checkout needs no manual
``createdb``; it does nothing when the database exists. On PostgreSQL it
connects to the server's ``postgres`` database to issue ``CREATE DATABASE``;
for SQLite it makes the file (and its directory). ``drop_database`` is the
inverse, for test suites that make databases of their own.
"""

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from .settings import SettingsError, get_settings

# Every PostgreSQL server has it; CREATE and DROP DATABASE cannot run in the target itself.
MAINTENANCE_DATABASE = "postgres"
IN_MEMORY = ("", ":memory:")


class UnsupportedDatabase(ValueError):
    """The URL names a database server this module does not know how to create on."""


def _is_postgresql(url: URL) -> bool:
    """True for PostgreSQL, False for SQLite; anything else is refused."""
    backend = url.get_backend_name()
    if backend not in ("postgresql", "sqlite"):
        raise UnsupportedDatabase(f"cannot create a {backend} database, only PostgreSQL or SQLite")
    return backend == "postgresql"


async def _on_server(url: URL, statement: str, **params: str) -> bool:
    """Run one statement, outside a transaction, on ``url``'s server; whether it gave a row."""
    engine = create_async_engine(
        url.set(database=MAINTENANCE_DATABASE), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text(statement), params)
            return result.returns_rows and result.first() is not None
    finally:
        await engine.dispose()


def _quoted(url: URL) -> str:
    """The database name as a PostgreSQL identifier."""
    return '"' + (url.database or "").replace('"', '""') + '"'


async def database_exists(url: str | URL) -> bool:
    """Whether the database ``url`` names exists (an in-memory SQLite one always does)."""
    url = make_url(url)
    if _is_postgresql(url):
        query = "SELECT 1 FROM pg_database WHERE datname = :name"
        return await _on_server(url, query, name=url.database or "")
    return url.database in IN_MEMORY or Path(url.database or "").exists()


async def create_database(url: str | URL) -> bool:
    """Create the database ``url`` names unless it exists; return whether it was created."""
    url = make_url(url)
    if await database_exists(url):
        return False
    if _is_postgresql(url):
        await _on_server(url, f"CREATE DATABASE {_quoted(url)}")
    else:
        path = Path(url.database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()  # an empty file is an empty SQLite database
    return True


async def drop_database(url: str | URL) -> None:
    """Drop the database ``url`` names, closing its connections; nothing if it is absent."""
    url = make_url(url)
    if _is_postgresql(url):
        await _on_server(url, f"DROP DATABASE IF EXISTS {_quoted(url)} WITH (FORCE)")
    elif url.database not in IN_MEMORY:
        path = Path(url.database or "")
        for suffix in ("", "-wal", "-shm"):  # WAL's files, left if a connection was open
            path.with_name(path.name + suffix).unlink(missing_ok=True)


def main() -> None:
    """Create the app's database and say whether it was already there."""
    try:
        url = make_url(get_settings().database_url)
    except SettingsError as error:
        raise SystemExit(f"error: {error}") from None
    shown = url.render_as_string(hide_password=True)
    try:
        created = asyncio.run(create_database(url))
    except (OSError, DBAPIError, UnsupportedDatabase) as error:
        raise SystemExit(f"error: cannot create {shown}: {error}") from None
    print(f"created {shown}" if created else f"{shown} exists")


if __name__ == "__main__":
    main()
