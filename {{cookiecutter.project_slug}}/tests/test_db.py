"""The database: created on demand, migrated to the models' schema, used through sessions.

Each test gets a database of its own (``conftest.py``): a new one on the
PostgreSQL server that ``TEST_DATABASE_URL`` or ``DATABASE_URL`` names,
dropped afterwards, or a SQLite file. ``createdb`` and Alembic run as
subprocesses, exactly as ``make setup`` runs them, with ``DATABASE_URL``
pointing at that database; the session tests create the models' tables
directly, which ``alembic check`` proves equal to the migrated schema.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection

from {{ cookiecutter.package_name }}.createdb import (
    UnsupportedDatabase,
    create_database,
    database_exists,
    drop_database,
)
from {{ cookiecutter.package_name }}.db import Database, create_engine
from {{ cookiecutter.package_name }}.live.testing import scaled
from {{ cookiecutter.package_name }}.models import Item

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CREATEDB = "{{ cookiecutter.package_name }}.createdb"


def run(database_url: str, *command: str, check: bool = True) -> str:
    """Run ``python -m <command>`` against ``database_url``; return its output."""
    result = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "test"},
        capture_output=True,
        text=True,
        timeout=scaled(120.0),
    )
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == check, f"{command} exited {result.returncode}:\n{output}"
    return output


def alembic(database_url: str, *args: str) -> str:
    """Run an Alembic command against ``database_url`` and return its output."""
    return run(database_url, "alembic", *args)


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


async def test_create_database_makes_it_once(new_database_url: str) -> None:
    assert not await database_exists(new_database_url)

    assert await create_database(new_database_url) is True
    assert await create_database(new_database_url) is False
    assert await database_exists(new_database_url)


async def test_drop_database_removes_it(database_url: str) -> None:
    await drop_database(database_url)
    assert not await database_exists(database_url)

    await drop_database(database_url)  # already gone: nothing to do


async def test_createdb_command_creates_the_configured_database(new_database_url: str) -> None:
    assert run(new_database_url, CREATEDB).startswith("created ")
    assert run(new_database_url, CREATEDB).endswith(" exists\n")  # make setup may run it again

    alembic(new_database_url, "upgrade", "head")

    assert "items" in await tables(new_database_url)


async def test_createdb_refuses_an_unknown_server() -> None:
    url = "mysql+aiomysql://root@127.0.0.1/app"
    with pytest.raises(UnsupportedDatabase, match="mysql"):
        await create_database(url)

    assert run(url, CREATEDB, check=False).startswith(f"error: cannot create {url}:")


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
