"""Whether the database is migrated as far as the code: ``make run`` warns when it is not.

A page that queries a table no migration has created yet only says the
database is unavailable; the warning at start-up says why, and what to do.
"""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from sqlalchemy.engine import Connection

from .db import DATABASE_ERRORS, create_engine, describe
from .settings import PROJECT_ROOT

ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"


async def pending_migrations(database_url: str) -> list[str]:
    """The revisions ``alembic upgrade head`` would apply, oldest first."""
    script = ScriptDirectory.from_config(Config(ALEMBIC_INI))
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(_current_heads)
    finally:
        await engine.dispose()
    pending = script.iterate_revisions(tuple(script.get_heads()), current or "base")
    return [revision.revision for revision in reversed(list(pending))]


async def migration_warning(database_url: str) -> str | None:
    """What to tell the person starting the server, or None when the database is current."""
    if not ALEMBIC_INI.is_file():
        return None  # installed without the project's migrations: nothing to compare with
    try:
        pending = await pending_migrations(database_url)
    except DATABASE_ERRORS as error:
        return f"the database cannot be read ({describe(error)}): run `make setup`?"
    except RevisionError as error:  # a revision these migrations do not have (another branch's)
        return f"the database is at a revision this code does not know: {error}"
    if not pending:
        return None
    count = f"{len(pending)} migration{'' if len(pending) == 1 else 's'}"
    return f"the database lacks {count} ({', '.join(pending)}): run `make migrate`"


def _current_heads(connection: Connection) -> tuple[str, ...]:
    return MigrationContext.configure(connection).get_current_heads()
