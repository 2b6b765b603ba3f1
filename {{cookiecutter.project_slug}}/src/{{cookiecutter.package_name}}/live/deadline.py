"""A time bound on one kind of wait (reading a frame, sending one), with one timer per loop.

``asyncio.timeout`` around every frame makes and cancels a timer each time:
a few per cent of a busy server; and a timer per socket, always armed for the
reader of an idle one, costs about a KiB per socket under uvloop. So a
``Deadline`` notes when its wait began, in its loop's ``Sweep``: the waits
going on under one bound, oldest first. One timer per loop, set for the
oldest wait's end, cancels the tasks of the waits that have lasted their
bound, and such a wait raises ``TimeoutError``, as under ``asyncio.timeout``
(which it mirrors). A wait costs an entry in a dict while it goes on, and
nothing once it ends. The timer fires at most every ``INTERVAL`` seconds, so a
wait may last up to that much past its bound; it is moved when it fires (not
set again once nothing waits), or sooner for a wait under a shorter bound.
"""

from __future__ import annotations

import asyncio
import math
import types
import typing as t
import weakref

INTERVAL = 0.1
"""Seconds at least between two sweeps: how far past its bound a wait may last."""


class Deadline:
    """``with deadline:`` around a wait: ``TimeoutError`` once it has lasted ``seconds``.

    One wait at a time (the socket's reader; or its sender, under the send lock), in the
    loop running when it is made. Between waits it is in no sweep: nothing to close.
    """

    __slots__ = ("seconds", "_sweep", "_waits", "_since", "_task", "_cancelling", "_expired")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._sweep = Sweep.of(asyncio.get_running_loop())
        self._waits = self._sweep.waits(seconds)
        self._since = 0.0  # when the wait going on began (loop time)
        self._task: asyncio.Task[t.Any] | None = None  # the task waiting
        # The task's cancellations pending when the wait began: one more by the time it
        # ends, other than this bound's, and the wait was cancelled, not cut off.
        self._cancelling = 0
        self._expired = False  # the sweep cancelled the wait

    def __enter__(self) -> None:
        task = self._task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a Deadline bounds a wait in a task")
        self._cancelling = task.cancelling()
        self._since = self._sweep.loop.time()
        self._waits[self] = None
        due = self._since + self.seconds
        if due < self._sweep.when:  # a shorter bound than the oldest wait's, or no timer
            self._sweep.arm(due)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        if not self._expired:
            del self._waits[self]
            return
        self._expired = False
        assert task is not None
        if task.uncancel() <= self._cancelling and kind is asyncio.CancelledError:
            raise TimeoutError from error  # this bound's cancellation alone: the wait timed out

    def _expire(self) -> None:
        """The wait has lasted its bound: out of the sweep, its task cancelled."""
        del self._waits[self]
        assert self._task is not None
        self._expired = True
        self._task.cancel()


class Sweep:
    """A loop's waits going on, by bound, and the one timer that cuts off those past it."""

    __slots__ = ("loop", "when", "_timer", "_fired", "_bounds", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.when = math.inf  # when the timer is set for; none is: never
        self._timer: asyncio.TimerHandle | None = None
        self._fired = -math.inf  # when it was set for, the last time it fired
        # One queue per bound (a server has two), in the order its waits began: the order
        # they reach it in. A dict: adding and removing cost the same whatever its size.
        self._bounds: dict[float, dict[Deadline, None]] = {}

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Sweep:
        """The loop's sweep. Its deadlines and its timer hold it, not this registry, which
        then holds neither it nor the loop: whatever a closed loop left waiting goes with it."""
        known = _sweeps.get(loop)
        sweep = None if known is None else known()
        if sweep is None:
            sweep = cls(loop)
            _sweeps[loop] = weakref.ref(sweep)
        return sweep

    def waits(self, seconds: float) -> dict[Deadline, None]:
        """The queue of the waits bounded by ``seconds``."""
        return self._bounds.setdefault(seconds, {})

    def arm(self, due: float) -> None:
        """Set the timer for ``due`` if that is sooner, though not within ``INTERVAL`` of when
        it last fired."""
        when = max(due, self._fired + INTERVAL)
        if when < self.when:
            if self._timer is not None:
                self._timer.cancel()
            self.when = when
            self._timer = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        """Cut off the waits past their bound (by the time the timer was set for: a loop may
        run a timer a hair early), then set the timer for the next one to end, if any."""
        self._fired, self.when, self._timer = self.when, math.inf, None
        expired: list[Deadline] = []
        due = math.inf
        for seconds, waits in self._bounds.items():
            for deadline in waits:  # oldest first: stops at the first still in time
                if deadline._since + seconds > self._fired:
                    due = min(due, deadline._since + seconds)
                    break
                expired.append(deadline)
        for deadline in expired:
            deadline._expire()
        if due < math.inf:
            self.arm(due)


_sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.ref[Sweep]] = (
    weakref.WeakKeyDictionary()
)
