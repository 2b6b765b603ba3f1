"""Async work with loading states: ``assign_async``, ``start_async`` and ``AsyncResult``.

A slow read (a report, another service) should not hold up the page: the
view renders at once with a loading state, and the work runs beside it. When
the work ends, its outcome goes through the view's mailbox like an info, so
it is applied between two events, never during one; the runtime renders and
pushes the diff.

As in Phoenix: the work starts only once the socket is connected (the HTTP
render shows the loading state); starting work under a name already running
replaces it (the older outcome is dropped); a patch (same view, new URL)
leaves the work running; closing the view (disconnect, or navigating to
another LiveView) cancels it. An exception in the work is a failed result,
logged, and never a crash of the view.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import inspect
import logging
import typing as t

if t.TYPE_CHECKING:
    from .socket import InfoEvent

T = t.TypeVar("T")
Work = t.Callable[[], t.Any]
"""A function of no arguments: async (``functools.partial(fetch, url)`` is one), run on
the event loop; or plain, run in a thread, so it may block (a coroutine it returns, as
``lambda: fetch(url)`` does, is then awaited on the loop)."""
logger = logging.getLogger(__name__)


class Cancelled(Exception):
    """The ``failed`` reason of work stopped by ``socket.cancel_async``."""


@dataclasses.dataclass(frozen=True)
class AsyncResult(t.Generic[T]):
    """The state of async work, for templates to branch on.

    ``loading``: the work is running. ``ok``: it succeeded once, and
    ``result`` holds its value. ``failed``: the exception of its last
    failure (None once it succeeds). A reload keeps the last ``result``, so
    a page may show the old figures while new ones load.
    """

    ok: bool = False
    loading: bool = False
    failed: BaseException | None = None
    result: T | None = None

    def with_loading(self, reset: bool = False) -> AsyncResult[T]:
        """Loading again; ``reset`` forgets the last result."""
        previous = AsyncResult[T]() if reset else self
        return dataclasses.replace(previous, loading=True)

    def with_ok(self, result: T) -> AsyncResult[T]:
        return AsyncResult(ok=True, result=result)

    def with_failure(self, reason: BaseException) -> AsyncResult[T]:
        return dataclasses.replace(self, loading=False, failed=reason)


@dataclasses.dataclass(frozen=True)
class AsyncDone:
    """Work's outcome on its way through the mailbox (an ``InfoEvent``'s payload)."""

    key: str | tuple[str, ...]  # start_async's name, or assign_async's keys
    token: object  # which run of the work: a replaced run's outcome is dropped
    outcome: AsyncResult[t.Any]


ASYNC_EVENT = "phx:async"  # the InfoEvent name that carries an ``AsyncDone``


class AsyncTasks:
    """The async work of one connected view; ``deliver`` queues each outcome in the view's mailbox.

    At most ``limit`` runs are current at once, and at most ``limit`` threads
    run the view's plain functions: the thread of a replaced or cancelled run
    cannot be stopped, so it keeps its seat until it returns and a new run
    waits for a seat. A view spamming reloads thus never fills the executor
    that every ``to_thread`` (and DNS lookup) of the process shares.
    """

    def __init__(self, deliver: t.Callable[[AsyncDone], None], limit: int) -> None:
        self._deliver = deliver
        self._limit = limit
        self._running: dict[str | tuple[str, ...], tuple[asyncio.Task[t.Any], object]] = {}
        self._threads = asyncio.Semaphore(limit)
        self._closed = False

    def start(self, key: str | tuple[str, ...], work: Work) -> None:
        """Run ``work`` under ``key``, replacing the work running under it."""
        if key not in self._running and len(self._running) >= self._limit:
            raise RuntimeError(f"a view may run at most {self._limit} async tasks at once")
        self._stop(key)
        token = object()
        task = asyncio.create_task(self._run(work))
        self._running[key] = (task, token)
        # A callback, not code in the task: it runs even for a task cancelled before its first step.
        task.add_done_callback(functools.partial(self._done, key, token))

    def cancel(self, key: str | tuple[str, ...]) -> bool:
        """Stop the work under ``key``; its outcome (a ``Cancelled`` failure) still arrives."""
        running = self._running.get(key)
        if running is not None:
            running[0].cancel()
        return running is not None

    def finish(self, done: AsyncDone) -> bool:
        """True when ``done`` is the outcome of the run still current under its key."""
        running = self._running.get(done.key)
        if running is None or running[1] is not done.token:
            return False
        del self._running[done.key]
        return True

    def close(self) -> None:
        self._closed = True
        for key in list(self._running):
            self._stop(key)

    def _stop(self, key: str | tuple[str, ...]) -> None:
        running = self._running.pop(key, None)
        if running is not None:
            running[0].cancel()

    async def _run(self, work: Work) -> t.Any:
        if is_async(work):
            return await work()
        await self._threads.acquire()
        try:
            thread = asyncio.get_running_loop().run_in_executor(
                None, contextvars.copy_context().run, work
            )
        except BaseException:
            self._threads.release()
            raise
        thread.add_done_callback(lambda _: self._threads.release())
        try:
            value = await asyncio.shield(thread)  # cancelling stops the wait, not the thread
        except asyncio.CancelledError:
            thread.add_done_callback(_close_coroutine)
            raise
        if inspect.isawaitable(value):  # a lambda calling an async function
            value = await value
        return value

    def _done(self, key: str | tuple[str, ...], token: object, task: asyncio.Task[t.Any]) -> None:
        """Deliver a run's outcome, the ``Cancelled`` failure of a cancelled one included."""
        outcome: AsyncResult[t.Any] = AsyncResult()
        if task.cancelled():
            if self._closed or self._running.get(key, (None, None))[1] is not token:
                return  # the view closed, or a newer run replaced this one: nobody waits
            outcome = outcome.with_failure(Cancelled(f"async {key!r} was cancelled"))
        elif (failure := task.exception()) is not None:
            logger.error("async work %r failed", key, exc_info=failure)
            outcome = outcome.with_failure(failure)
        else:
            outcome = outcome.with_ok(task.result())
        self._deliver(AsyncDone(key, token, outcome))


def is_async(work: Work) -> bool:
    """True for work to run on the event loop: an async function, a ``functools.partial``
    of one, or an object with an async ``__call__``."""
    call = type(work).__call__ if not inspect.isfunction(work) else None
    return inspect.iscoroutinefunction(work) or inspect.iscoroutinefunction(call)


def _close_coroutine(thread: asyncio.Future[t.Any]) -> None:
    """Close the coroutine a cancelled run's thread returned: nobody will await it."""
    if thread.cancelled() or thread.exception() is not None:
        return
    if inspect.iscoroutine(value := thread.result()):
        value.close()


def is_async_done(event: InfoEvent) -> bool:
    """True for the info that carries async work's outcome (never for the app's own infos)."""
    return event.name == ASYNC_EVENT and isinstance(event.payload, AsyncDone)


def assign_results(context: t.Any, keys: tuple[str, ...], outcome: AsyncResult[t.Any]) -> None:
    """Set each key's ``AsyncResult`` from ``outcome``: the value under each key, or the failure.

    One key takes the work's return value; several take the matching items
    of the dict it returns (a missing key fails them all).
    """
    values = outcome.result if len(keys) > 1 and isinstance(outcome.result, dict) else {}
    if outcome.ok and len(keys) > 1:
        missing = [key for key in keys if key not in values]
        if missing:
            failure = ValueError(f"assign_async: the work returned no {', '.join(missing)}")
            logger.error("%s", failure)
            outcome = AsyncResult(failed=failure)
    for key in keys:
        current = get_key(context, key)
        if not isinstance(current, AsyncResult):
            current = AsyncResult()
        if not outcome.ok:
            set_key(context, key, current.with_failure(t.cast(BaseException, outcome.failed)))
        else:
            value = values[key] if len(keys) > 1 else outcome.result
            set_key(context, key, current.with_ok(value))


def get_key(context: t.Any, key: str) -> t.Any:
    """``context[key]`` of a dict context, its attribute otherwise; None when absent."""
    if isinstance(context, t.MutableMapping):
        return context.get(key)
    return getattr(context, key, None)


def set_key(context: t.Any, key: str, value: t.Any) -> None:
    if isinstance(context, t.MutableMapping):
        context[key] = value
    else:
        setattr(context, key, value)
