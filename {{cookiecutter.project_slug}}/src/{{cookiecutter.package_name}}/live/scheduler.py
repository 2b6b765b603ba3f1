"""``schedule_info``: messages a view sends itself later, once or on a period.

Each job is one task owned by the view's socket; closing the view cancels
them all. A repeating job keeps to its period without drifting, and a tick
that finds the previous one still waiting in the view's mailbox is skipped,
so a slow view never has ticks pile up.
"""

from __future__ import annotations

import asyncio
import logging
import math
import typing as t

if t.TYPE_CHECKING:
    from .socket import InfoEvent

Deliver = t.Callable[["InfoEvent", t.Hashable | None], None]
"""Queues an info for the view; the second argument says what it coalesces with (``inbox``)."""

logger = logging.getLogger(__name__)


class Job:
    """A scheduled info: ``cancel()`` stops it; ``active`` tells whether it may still fire."""

    def __init__(self, task: asyncio.Task[None] | None = None) -> None:
        self._task = task

    @property
    def active(self) -> bool:
        return self._task is not None and not self._task.done()

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()


class Scheduler:
    """The jobs of one connected view."""

    def __init__(self, deliver: Deliver, max_jobs: int) -> None:
        self._deliver = deliver
        self._max_jobs = max_jobs
        self._tasks: set[asyncio.Task[None]] | None = None  # made by the first job (216 bytes)

    def __len__(self) -> int:
        return len(self._tasks or ())

    def every(self, event: InfoEvent, seconds: float) -> Job:
        """Deliver ``event`` every ``seconds``, the first time ``seconds`` from now."""
        if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"schedule_info: the period must be seconds > 0, not {seconds!r}")
        return self._start(self._every(event, float(seconds)))

    def once(self, event: InfoEvent, seconds: float | None = None) -> Job:
        """Deliver ``event`` once, after ``seconds`` (None or 0: as soon as the view is free)."""
        delay = 0.0 if seconds is None else seconds
        if not (isinstance(delay, int | float) and math.isfinite(delay) and delay >= 0):
            raise ValueError(f"schedule_info_once: the delay must be seconds >= 0, not {seconds!r}")
        return self._start(self._once(event, float(delay)))

    def cancel_all(self) -> None:
        tasks, self._tasks = self._tasks or (), None
        for task in tasks:
            task.cancel()

    def _start(self, work: t.Coroutine[t.Any, t.Any, None]) -> Job:
        if len(self) >= self._max_jobs:
            work.close()
            raise RuntimeError(f"a view may have at most {self._max_jobs} scheduled jobs")
        task = asyncio.create_task(work)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Job(task)

    async def _once(self, event: InfoEvent, delay: float) -> None:
        await asyncio.sleep(delay)
        self._deliver(event, None)

    async def _every(self, event: InfoEvent, period: float) -> None:
        loop = asyncio.get_running_loop()
        key = object()  # this job's ticks coalesce: one waiting at most
        start = loop.time()
        tick = 1
        while True:
            await asyncio.sleep(max(0.0, start + tick * period - loop.time()))
            self._deliver(event, key)
            # After a stall (a suspended laptop, a blocked loop) skip the missed ticks.
            tick = max(tick + 1, math.ceil((loop.time() - start) / period))
