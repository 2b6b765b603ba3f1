"""The migrations build the schema the models expect, and the session helper works.

Each test gets a fresh database: a SQLite file by default, or, when
``TEST_DATABASE_URL`` names a PostgreSQL server, a new database created on that
server and dropped afterwards. Alembic runs as a subprocess, exactly as
``make migrate`` runs it, with ``DATABASE_URL`` pointing at that database; the
session tests create the models' tables directly, which ``alembic check``
proves equal to the migrated schema.
"""

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.engine import URL, Connection, make_url

from {{ cookiecutter.package_name }}.db import Base, Database, create_engine
from {{ cookiecutter.package_name }}.models import Item

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@asynccontextmanager
async def fresh_postgres_database(server_url: URL) -> AsyncIterator[URL]:
    """Create a uniquely named database on the server, yield its URL, drop it."""
    import asyncpg  # Only the postgresql option installs the driver.

    name = f"test_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(
        user=server_url.username,
        password=server_url.password,
        host=server_url.host,
        port=server_url.port,
        database=server_url.database,
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield server_url.set(database=name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """Yield the URL of an empty database that no other test uses."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    async with fresh_postgres_database(make_url(server)) as url:
        yield url.render_as_string(hide_password=False)


def alembic(database_url: str, *args: str) -> str:
    """Run an Alembic command against ``database_url`` and return its output."""
    result = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "test"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"alembic {' '.join(args)} failed:\n{output}"
    return output


def table_names(connection: Connection) -> list[str]:
    """List the tables in the connected database."""
    return inspect(connection).get_table_names()


async def tables(database_url: str) -> list[str]:
    """Return the database's tables, opening and closing a connection."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(table_names)
    finally:
        await engine.dispose()


async def test_migrations_match_models_and_downgrade(database_url: str) -> None:
    alembic(database_url, "upgrade", "head")
    alembic(database_url, "check")  # the migrated schema is exactly the models'
    assert "items" in await tables(database_url)

    alembic(database_url, "downgrade", "base")

    assert "items" not in await tables(database_url)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A ``Database`` on a fresh database holding the models' tables."""
    database = Database(create_engine(database_url))
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield database
    await database.dispose()


async def test_item_round_trip(database: Database) -> None:
    async with database.session() as session:
        session.add(Item(name="Widget"))
    async with database.session() as session:
        items = (await session.scalars(select(Item))).all()

    assert [(item.id, item.name, item.description) for item in items] == [
        (1, "Widget", "")
    ]
    assert items[0].created_at is not None


async def test_session_rolls_back_on_error(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.session() as session:
            session.add(Item(name="Lost"))
            await session.flush()
            raise RuntimeError("abort")
    async with database.session() as session:
        count = len((await session.scalars(select(Item))).all())

    assert count == 0
