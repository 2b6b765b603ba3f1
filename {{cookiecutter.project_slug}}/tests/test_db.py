"""The database: created on demand, migrated to the models' schema, used through sessions.

Each test gets a database of its own (``conftest.py``): a new one on the
PostgreSQL server that ``TEST_DATABASE_URL`` or ``DATABASE_URL`` names,
dropped afterwards, or a SQLite file. ``createdb`` and Alembic run as
subprocesses, exactly as ``make setup`` runs them, with ``DATABASE_URL``
pointing at that database; the session tests create the models' tables
directly, which ``alembic check`` proves equal to the migrated schema.
"""

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from sqlalchemy import event, inspect, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }} import db as db_module
from {{ cookiecutter.package_name }}.createdb import (
    UnsupportedDatabase,
    create_database,
    database_exists,
    drop_database,
)
from {{ cookiecutter.package_name }}.db import WRITE_ATTEMPTS, Database, WriteFailed, create_engine
from {{ cookiecutter.package_name }}.live.testing import scaled
from {{ cookiecutter.package_name }}.models import Item

from conftest import with_tables

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


# -- writes under contention ---------------------------------------------------------


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> t.AsyncIterator[Database]:
    """A database in a SQLite file, whatever server the suite uses: SQLite's own locking."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    database = await with_tables(url)
    yield database
    await database.dispose()


def hold_write_lock(database: Database) -> sqlite3.Connection:
    """Another process's writer, as SQLite sees it: a connection holding the write lock."""
    path = database.engine.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


async def add_item(database: Database, name: str) -> int:
    async def work(session: AsyncSession) -> int:
        item = Item(name=name)
        session.add(item)
        await session.flush()
        return item.id

    return await database.write(work)


async def test_sqlite_uses_wal_and_waits_for_locks(sqlite_database: Database) -> None:
    """Readers and a writer work at once, and a writer waits for another instead of failing."""
    async with sqlite_database.engine.connect() as connection:
        mode = await connection.scalar(text("PRAGMA journal_mode"))
        timeout = await connection.scalar(text("PRAGMA busy_timeout"))
        foreign_keys = await connection.scalar(text("PRAGMA foreign_keys"))
    assert (mode, timeout, foreign_keys) == ("wal", db_module.BUSY_TIMEOUT_MS, 1)


async def test_a_write_that_loses_a_race_is_tried_again(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 50)
    await sqlite_database.engine.dispose()  # new connections take the short timeout
    other = hold_write_lock(sqlite_database)
    lost = asyncio.Event()
    event.listen(sqlite_database.engine.sync_engine, "handle_error", lambda context: lost.set())
    try:
        write = asyncio.create_task(add_item(sqlite_database, "Patient"))
        await asyncio.wait_for(lost.wait(), 30)  # the first attempt found the lock taken
    finally:
        other.rollback()
        other.close()
    item_id = await asyncio.wait_for(write, 30)  # a later attempt got it
    async with sqlite_database.session() as session:
        assert (await session.get(Item, item_id)) is not None


async def test_a_write_that_keeps_losing_says_so(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 50)
    await sqlite_database.engine.dispose()
    attempts: list[object] = []
    event.listen(sqlite_database.engine.sync_engine, "handle_error", attempts.append)
    other = hold_write_lock(sqlite_database)
    try:
        with pytest.raises(WriteFailed) as failed:
            await add_item(sqlite_database, "Unlucky")
    finally:
        other.rollback()
        other.close()
    assert failed.value.message == "The database is busy: nothing was saved. Try again."
    assert len(attempts) == WRITE_ATTEMPTS
    async with sqlite_database.session() as session:
        assert (await session.scalars(select(Item))).all() == []


async def test_writers_that_deadlock_both_commit(database: Database) -> None:
    """Two writers take two rows in opposite orders: PostgreSQL aborts one (a deadlock),
    which is tried again; SQLite lets one write at a time, so neither has to be."""
    first, second = await add_item(database, "first"), await add_item(database, "second")
    holding = {first: asyncio.Event(), second: asyncio.Event()}
    attempts = {first: 0, second: 0}

    def writer(mine: int, theirs: int) -> t.Callable[[AsyncSession], t.Awaitable[None]]:
        async def work(session: AsyncSession) -> None:
            attempts[mine] += 1
            await session.execute(update(Item).where(Item.id == mine).values(description="x"))
            holding[mine].set()
            with contextlib.suppress(TimeoutError):  # SQLite: the other waits for our lock
                await asyncio.wait_for(holding[theirs].wait(), 2)
            await session.execute(update(Item).where(Item.id == theirs).values(description="y"))

        return work

    both = asyncio.gather(
        database.write(writer(first, second)), database.write(writer(second, first))
    )
    await asyncio.wait_for(both, 60)
    async with database.session() as session:
        assert set((await session.scalars(select(Item.description))).all()) <= {"x", "y"}
    retried = sum(attempts.values()) - 2
    assert retried == (1 if database.engine.dialect.name == "postgresql" else 0), attempts


async def test_a_write_the_database_refuses_is_not_retried(database: Database) -> None:
    """Only a lost race is worth trying again; anything else the database says is told once."""
    calls: list[int] = []

    async def broken(session: AsyncSession) -> None:
        calls.append(1)
        await session.execute(text("SELECT * FROM no_such_table_here"))

    with pytest.raises(WriteFailed) as failed:
        await database.write(broken)
    assert failed.value.message.startswith("The database could not be reached")
    assert calls == [1]


async def test_what_the_work_itself_raises_goes_through(database: Database) -> None:
    async def refuse(session: AsyncSession) -> None:
        session.add(Item(name="Half done"))
        raise LookupError("gone")

    with pytest.raises(LookupError):
        await database.write(refuse)
    async with database.session() as session:
        assert (await session.scalars(select(Item))).all() == []  # rolled back


async def test_concurrent_writes_all_commit_or_say_why(database: Database) -> None:
    """The burst the issue saw: 16 writers at once, and readers, on one database.

    Every write either commits (and its row is there) or raises ``WriteFailed``
    (and nothing of it is there); nothing else ever escapes.
    """
    writers, each = 16, 12
    committed: list[int] = []
    failed: list[str] = []
    done = asyncio.Event()

    async def writer(n: int) -> None:
        for k in range(each):
            try:
                committed.append(await add_item(database, f"item {n}.{k}"))
            except WriteFailed as exc:
                failed.append(exc.message)

    async def reader() -> None:
        while not done.is_set():
            async with database.session() as session:
                await session.scalars(select(Item).limit(20))

    readers = [asyncio.create_task(reader()) for _ in range(4)]
    try:
        await asyncio.gather(*(writer(n) for n in range(writers)))
    finally:
        done.set()
        await asyncio.gather(*readers)
    async with database.session() as session:
        stored = set((await session.scalars(select(Item.id))).all())
    assert stored == set(committed)
    assert len(committed) + len(failed) == writers * each
    assert len(committed) == writers * each, f"{len(failed)} writes failed: {set(failed)}"
