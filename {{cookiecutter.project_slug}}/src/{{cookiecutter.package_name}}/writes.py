"""Writes from live views: limited per connection, retried when they lose a race.

``await write(socket, work)`` is how a view changes the database: the
connection's token bucket (``WRITE_RATE`` per second after a burst of
``WRITE_BURST``) must allow it, then ``Database.write`` runs ``work`` in a
transaction. Whatever stops it (too many writes, the database busy or away)
raises ``WriteFailed``, whose message the page shows as a form error.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from .db import WriteFailed
from .ratelimit import TokenBucket
from .resources import HasState, database, settings

T = TypeVar("T")
BUCKET = "write_bucket"  # in the connection's state: every view of one socket shares it
TOO_FAST = "Too many changes at once: nothing was saved. Wait a moment and try again."


def take_write(socket: HasState) -> None:
    """Count a write against the socket's connection; ``WriteFailed`` when it is over its rate."""
    state: Any = socket.state
    bucket = getattr(state, BUCKET, None)
    if not isinstance(bucket, TokenBucket):
        config = settings(socket)
        bucket = TokenBucket(config.write_rate, config.write_burst)
        setattr(state, BUCKET, bucket)
    if not bucket.take():
        raise WriteFailed(TOO_FAST)


async def write(socket: HasState, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work(session)`` as one transaction, if the socket may write now; its result."""
    take_write(socket)
    return await database(socket).write(work)
