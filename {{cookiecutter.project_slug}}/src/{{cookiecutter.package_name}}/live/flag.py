"""``Flag``: what ``asyncio.Event`` does, holding nothing until someone waits.

An ``asyncio.Event`` makes its queue of waiters, a ``deque`` of about 760
bytes, when it is made. A socket and each of its views keep a few such
signals (room in a mailbox, something to do) that are waited on only while
they are busy, so thousands of idle views would hold megabytes of empty
queues. A ``Flag`` makes its list of waiters when one waits, and drops it
once they are woken.
"""

from __future__ import annotations

import asyncio


class Flag:
    """Set, clear, and wait until set: ``asyncio.Event``'s methods, for one event loop."""

    __slots__ = ("_set", "_waiters")

    def __init__(self, value: bool = False) -> None:
        self._set = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        """Set it, and wake everyone waiting (even if it is cleared before they run)."""
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        """Return once it is set (at once if it is)."""
        if self._set:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)  # cancelled before it was set
                if not self._waiters:
                    self._waiters = None
