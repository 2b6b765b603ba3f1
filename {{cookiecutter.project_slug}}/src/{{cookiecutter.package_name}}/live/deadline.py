"""A time bound on one kind of wait (reading a frame, sending one), without a timer per wait.

``asyncio.timeout`` around every frame makes and cancels a timer each time:
a few per cent of a busy server. A ``Deadline`` notes when its wait began;
one timer, armed by the first wait and moved only when it fires, cancels
the task still in a wait that has lasted ``seconds``, and the wait raises
``TimeoutError`` there, as under ``asyncio.timeout`` (which it mirrors).
"""

from __future__ import annotations

import asyncio
import types
import typing as t


class Deadline:
    """``with deadline:`` around a wait: ``TimeoutError`` once it has lasted ``seconds``.

    One wait at a time (the socket's reader; or its sender, under the send lock), in the
    loop running when it is made.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._loop = asyncio.get_running_loop()
        self._since: float | None = None  # when the wait going on began (loop time)
        self._task: asyncio.Task[t.Any] | None = None
        self._cancelling = 0  # the task's other cancellations pending when the timer cancelled it
        self._timer: asyncio.TimerHandle | None = None
        self._when = 0.0  # when the timer is set for (a loop may run a timer a hair early)
        self._expired = False  # the timer cancelled the wait

    def __enter__(self) -> None:
        self._task = asyncio.current_task()
        self._since = self._loop.time()
        if self._timer is None:
            self._arm(self._since + self.seconds)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self._since = None
        if not self._expired:
            return
        self._expired = False
        assert self._task is not None
        if self._task.uncancel() <= self._cancelling and kind is asyncio.CancelledError:
            raise TimeoutError from error  # this bound's cancellation alone: the wait timed out

    def _check(self) -> None:
        """The timer: cancel a wait that has lasted its bound, or move on to when it would."""
        self._timer = None
        if self._since is None or self._task is None:
            return  # nothing waits: the next wait arms the timer again
        due = self._since + self.seconds
        if due <= self._when:
            self._expired = True
            self._cancelling = self._task.cancelling()
            self._task.cancel()
        else:
            self._arm(due)

    def _arm(self, when: float) -> None:
        self._when = when
        self._timer = self._loop.call_at(when, self._check)

    def close(self) -> None:
        """Stop the timer (the socket is done)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
