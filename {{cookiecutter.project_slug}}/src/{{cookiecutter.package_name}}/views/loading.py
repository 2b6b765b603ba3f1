"""What a page shows while the database cannot give it its data, and how it recovers.

A query that fails (the database away or restarting, a missing table, a
query it refuses) must not crash the view: a crash makes the client rejoin,
the rejoin's mount fails the same way, and the person watches a page that
reloads itself for as long as the outage lasts. Instead the page keeps what
it showed, says it could not load, and tries again on its own, less often
the longer it fails (and at once when the person clicks "Try again")::

    async def _load(self, socket):
        await socket.context.loading.run(socket, lambda: self._query(socket))

    async def handle_info(self, event, socket):
        if loading.is_retry(event):
            await self._load(socket)

with ``{% include "unavailable.html" %}`` in the template.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..db import DATABASE_ERRORS, describe
from ..live import InfoEvent, LiveViewSocket, is_connected

RETRY = "loading:retry"  # the info that tries a failed load again; and the button's event
FIRST_DELAY = 1.0  # seconds before the first retry, doubled after each failure...
MAX_DELAY = 30.0  # ...up to this
logger = logging.getLogger(__name__)


@dataclass
class Loading:
    """A page's loads: whether the last one failed, and whether a retry is on its way."""

    failures: int = 0  # in a row; 0: the page shows what the database holds
    loaded: bool = False  # some load has worked: the page has real data to show
    retrying: bool = False
    problem: str = ""  # the last failure, in one line (a debug page shows it)

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def delay(self) -> float:
        """Seconds until the next retry: 1, 2, 4… then every ``MAX_DELAY``."""
        return min(MAX_DELAY, FIRST_DELAY * 2.0 ** (self.failures - 1))

    async def run(self, socket: LiveViewSocket[Any], load: Callable[[], Awaitable[None]]) -> bool:
        """``await load()``; whether it worked. A database error is logged (one line) and,
        on a connected page, a retry is scheduled: ``handle_info`` gets ``RETRY``."""
        try:
            await load()
        except DATABASE_ERRORS as error:
            self.failures += 1
            self.problem = describe(error)
            logger.warning("a page could not load (failure %d): %s", self.failures, self.problem)
            if is_connected(socket) and not self.retrying:
                self.retrying = True
                socket.schedule_info_once(InfoEvent(RETRY), self.delay())
            return False
        self.failures, self.loaded, self.problem = 0, True, ""
        return True


def is_retry(event: InfoEvent, loading: Loading) -> bool:
    """Whether ``event`` is the retry ``loading`` scheduled (it may schedule the next one)."""
    if event.name != RETRY:
        return False
    loading.retrying = False
    return True
