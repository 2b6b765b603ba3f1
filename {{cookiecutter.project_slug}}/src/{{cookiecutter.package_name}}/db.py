"""Async SQLAlchemy: the declarative base, the engine and sessions.

One ``Database`` is made in the app's lifespan and disposed when it ends, so
connections never outlive the event loop that opened them. The same code
serves SQLite (aiosqlite) and PostgreSQL (asyncpg): only the URL differs.

Writes go through ``Database.write``: many people saving at once is normal,
so a write that loses a race with another (SQLite's lock, PostgreSQL's
serialization failure or deadlock) is tried again a few times, and one that
still cannot commit, or that the database refuses or cannot be reached for,
raises ``WriteFailed`` for the page to show: never a crash.
"""

import asyncio
import logging
import random
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Self, TypeVar

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from .settings import Settings

T = TypeVar("T")
logger = logging.getLogger(__name__)
# A SQLite connection waits this long for another's write lock before "database is locked".
BUSY_TIMEOUT_MS = 5_000
WRITE_ATTEMPTS = 3  # a write that loses a race is tried this many times in all
RETRY_DELAY = 0.05  # seconds before the second attempt, doubled after, with jitter
# PostgreSQL's SQLSTATEs for a transaction that lost to another: try it again.
LOST_RACE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
SQLITE_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
# What a query raises when the database is away (asyncpg: a plain OSError), restarting,
# lacks a table, or refuses the query: a page catches these to show an error state.
DATABASE_ERRORS = (SQLAlchemyError, OSError)
# A query naming a table the database lacks: PostgreSQL's undefined_table, SQLite's message.
UNDEFINED_TABLE = "42P01"
PG_MISSING_TABLE = re.compile(r'"([^"]+)"')
SQLITE_MISSING_TABLE = re.compile(r"no such table: (\S+)")


class Base(DeclarativeBase):
    """Base class of every model; its metadata drives Alembic autogenerate."""


class WriteFailed(Exception):
    """A write did not commit: the database stayed busy, or could not be reached.

    ``message`` says so to the person who asked for it, as a form error.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def create_engine(database_url: str, echo: bool = False) -> AsyncEngine:
    """Return an async engine for ``database_url``; SQLite is shared and enforces foreign keys."""
    engine = create_async_engine(database_url, echo=echo, pool_pre_ping=True)
    share_sqlite(engine)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _enforce_foreign_keys)
    return engine


def share_sqlite(engine: AsyncEngine) -> None:
    """Set every SQLite connection of ``engine`` up to share the file with others.

    WAL lets readers and a writer work at once (readers never wait, nor make
    a writer wait), and the busy timeout makes a writer wait for another's
    lock instead of failing at once. Migrations use it too (not the foreign
    keys: batch migrations copy and drop tables).
    """
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _wait_and_use_wal)


def _wait_and_use_wal(connection: Any, record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")  # first: WAL may wait for it
    cursor.execute("PRAGMA journal_mode = WAL")  # kept in the file; in memory it stays "memory"
    cursor.close()


def lost_race(error: BaseException) -> bool:
    """Whether ``error`` is a write losing to another one, which is worth trying again."""
    if not isinstance(error, DBAPIError):
        return False
    orig = error.orig
    if getattr(orig, "sqlstate", None) in LOST_RACE_SQLSTATES:
        return True
    code = getattr(orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in SQLITE_BUSY_CODES


def _failed(error: Exception) -> WriteFailed | None:
    """What to tell the person whose write ``error`` stopped; None: not the database's doing."""
    # Waiting pool_timeout (30 s) more for a connection would only keep the person waiting.
    if lost_race(error) or isinstance(error, PoolTimeout):
        return WriteFailed("The database is busy: nothing was saved. Try again.")
    if isinstance(error, DATABASE_ERRORS):
        # Away, restarting, a missing table, a query it refused: the operator needs the
        # traceback (or what to do), the person the truth (a lost commit may have saved).
        table = missing_table(error)
        if table is None:
            logger.exception("a write failed in the database")
        else:
            logger.error("a write failed: %s", unmigrated(table))
        return WriteFailed("The database could not be reached: this may not have been saved.")
    return None


def missing_table(error: BaseException) -> str | None:
    """The table a query found missing (the database was not migrated), or None."""
    orig = getattr(error, "orig", error)
    if getattr(orig, "sqlstate", None) == UNDEFINED_TABLE:
        match = PG_MISSING_TABLE.search(str(orig))
        return match.group(1) if match else "?"
    if isinstance(orig, sqlite3.OperationalError):
        match = SQLITE_MISSING_TABLE.match(str(orig))
        return match.group(1) if match else None
    return None


def unmigrated(table: str) -> str:
    """What the operator does about a missing table."""
    return f"the database has no table `{table}`: run `make migrate`"


def describe(error: BaseException) -> str:
    """One line about a database error: what to do for a missing table; else its type and
    the first line of its message, cut (SQL and its parameters stay out of the log)."""
    table = missing_table(error)
    if table is not None:
        return unmigrated(table)
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}"


def _enforce_foreign_keys(connection: Any, record: Any) -> None:
    """SQLite ignores foreign keys (``ON DELETE CASCADE`` too) unless asked, per connection."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def create_engine_from_settings(settings: Settings) -> AsyncEngine:
    """Return the app's engine; SQL is echoed with ``SQL_ECHO`` only (it is 1 KB a page)."""
    return create_engine(settings.database_url, echo=settings.sql_echo)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return a session factory whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """An engine and its session factory, owned by the app's lifespan."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = create_session_factory(engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """Open the database the settings point at."""
        return cls(create_engine_from_settings(settings))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session that commits on success and rolls back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def write(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work(session)`` in one transaction and commit it; what it returned.

        A transaction that loses a race with another writer is rolled back
        and ``work`` runs again, in a new session, up to ``WRITE_ATTEMPTS``
        times in all (so ``work`` must do nothing but database work). Raises
        ``WriteFailed`` when it still could not commit, or the database
        failed otherwise (logged); anything else ``work`` raises goes through.
        """
        attempt = 1
        while True:
            try:
                async with self.sessions() as session, session.begin():
                    if self.engine.dialect.name == "sqlite":
                        # Take the write lock first: a transaction that read and then
                        # wants to write cannot wait for a writer that came between.
                        await session.execute(text("BEGIN IMMEDIATE"))
                    return await work(session)
            except Exception as exc:
                if not lost_race(exc) or attempt == WRITE_ATTEMPTS:
                    failed = _failed(exc)
                    if failed is None:
                        raise
                    raise failed from exc
            await asyncio.sleep(RETRY_DELAY * 2 ** (attempt - 1) * random.uniform(1, 2))
            attempt += 1

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
