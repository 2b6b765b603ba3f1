"""Crash pacing: a socket whose views keep crashing is rejoined more and more slowly.

The official client rejoins a crashed view one second after ``phx_error``,
and its backoff starts over at every join that succeeds. A view that crashes
soon after each join (a query failing in ``handle_info``, a bug on a timer)
would so crash once a second, each time with a traceback in the log, for as
long as the page stays open. The runtime paces such a socket instead: after
views crashed ``QUICK`` seconds or less after their join twice in a row, the
socket's next join waits ``FIRST_DELAY`` seconds, twice as long at each
further crash, up to ``MAX_DELAY`` (well under the client's 10 s join
timeout). A view that lives longer, or ``QUICK`` seconds without a crash,
starts the count over.
"""

from __future__ import annotations

import time
from collections.abc import Callable

QUICK = 30.0  # seconds: a crash this soon after the join counts toward the streak
FIRST_DELAY = 0.5  # seconds the join after the second quick crash in a row waits
MAX_DELAY = 4.0


class CrashPacing:
    """One socket's crashes in a row, and how long its next join waits for them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._streak = 0
        self._last = 0.0

    def crashed(self, alive: float) -> None:
        """A view of the socket crashed ``alive`` seconds after its join began (0: in it)."""
        now = self._clock()
        recent = self._streak > 0 and now - self._last <= QUICK
        self._streak = self._streak + 1 if alive <= QUICK and recent else 1
        self._last = now

    def delay(self) -> float:
        """Seconds the socket's next join waits: 0 unless views keep crashing."""
        if self._streak < 2 or self._clock() - self._last > QUICK:
            return 0.0
        return min(MAX_DELAY, FIRST_DELAY * 2.0 ** (self._streak - 2))

    @property
    def streak(self) -> int:
        return self._streak
