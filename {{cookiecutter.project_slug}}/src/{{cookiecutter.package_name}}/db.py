"""Async SQLAlchemy: the declarative base, the engine and sessions.

One ``Database`` is made in the app's lifespan and disposed when it ends, so
connections never outlive the event loop that opened them. The same code
serves SQLite (aiosqlite) and PostgreSQL (asyncpg): only the URL differs.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Self

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from .settings import Settings


class Base(DeclarativeBase):
    """Base class of every model; its metadata drives Alembic autogenerate."""


def create_engine(database_url: str, echo: bool = False) -> AsyncEngine:
    """Return an async engine for ``database_url``; SQLite enforces foreign keys too."""
    engine = create_async_engine(database_url, echo=echo, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _enforce_foreign_keys)
    return engine


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

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
