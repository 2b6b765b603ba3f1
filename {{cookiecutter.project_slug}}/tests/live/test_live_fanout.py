"""The hot paths of a busy server: frames bounded without a timer each, broadcasts fanned out
after the publisher's reply.

A socket's reads and sends keep their bounds (``tests/test_transport.py``
cuts off real clients that stop reading or go silent); here the bound itself,
``Deadline``, and what it saves: no timer made and cancelled per frame, nor one per
socket: one per loop, its ``Sweep``.
"""

from __future__ import annotations

import asyncio
import gc
import math
import typing as t
import weakref

import pytest
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from {{ cookiecutter.package_name }}.live import (
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveConfig,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
)
from {{ cookiecutter.package_name }}.live.deadline import INTERVAL, Deadline, Sweep
from {{ cookiecutter.package_name }}.live.pubsub import HANDOFFS_PER_TICK
from {{ cookiecutter.package_name }}.live.pubsub.memory import MemoryPubSub
from {{ cookiecutter.package_name }}.live.testing import live, scaled
{%- raw %}

BOUND = 0.05  # seconds: the bound under test; the waits it cuts off never end by themselves
LONG = scaled(60.0)  # seconds: a bound no wait here reaches
SLACK = scaled(5.0)  # how much later than its bound a busy machine may cut a wait off


async def forever() -> None:
    await asyncio.Event().wait()


def counting_timers(
    monkeypatch: pytest.MonkeyPatch, apart_from: asyncio.Task[t.Any] | None = None
) -> list[asyncio.TimerHandle]:
    """The timers the running loop is asked for from now on, but those the task
    ``apart_from`` asks for."""
    loop = asyncio.get_running_loop()
    timers: list[asyncio.TimerHandle] = []
    call_at = loop.call_at

    def counted(
        when: float, callback: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any
    ) -> asyncio.TimerHandle:
        timer = call_at(when, callback, *args, **kwargs)
        if apart_from is None or asyncio.current_task() is not apart_from:
            timers.append(timer)
        return timer

    monkeypatch.setattr(loop, "call_at", counted)
    return timers


async def timed_out(deadline: Deadline) -> float:
    """Wait under ``deadline`` until it cuts the wait off; the seconds the wait lasted."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        with deadline:
            await forever()
    return loop.time() - started


async def waiting_under(deadline: Deadline) -> asyncio.Task[None]:
    """A task waiting forever under ``deadline``, once its wait has begun."""
    entered = asyncio.Event()

    async def waiting() -> None:
        with deadline:
            entered.set()
            await forever()

    task = asyncio.create_task(waiting())
    await entered.wait()
    return task


async def no_timer(sweep: Sweep) -> None:
    """Wait until the sweep's timer has fired and is not set again."""
    async with asyncio.timeout(LONG):
        while sweep.when < math.inf:
            await asyncio.sleep(INTERVAL / 10)


# -- Deadline ----------------------------------------------------------------------


async def test_a_wait_past_its_bound_times_out() -> None:
    deadline = Deadline(BOUND)
    assert BOUND <= await timed_out(deadline) < BOUND + SLACK
    with deadline:  # the next wait is bounded afresh, and may end in time
        await asyncio.sleep(0)


async def test_a_wait_is_cut_off_within_an_interval_of_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The sweep has just fired: the next one is an interval later, past this wait's bound.
    loop = asyncio.get_running_loop()
    await timed_out(Deadline(BOUND))
    timers = counting_timers(monkeypatch)
    short = INTERVAL / 10
    started = loop.time()
    with pytest.raises(TimeoutError):
        with Deadline(short):
            began = loop.time()  # the wait began by now
            await forever()
    assert loop.time() - started >= short
    (timer,) = timers
    assert timer.when() <= began + short + INTERVAL


async def test_one_timer_bounds_every_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    timers = counting_timers(monkeypatch)
    deadline = Deadline(LONG)
    for _ in range(1000):
        with deadline:
            await asyncio.sleep(0)
    assert len(timers) == 1


async def test_thousands_of_waits_cost_one_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    timers = counting_timers(monkeypatch)
    waiting, done = asyncio.Semaphore(0), asyncio.Event()

    async def wait(deadline: Deadline) -> None:
        with deadline:
            waiting.release()
            await done.wait()

    deadlines = [Deadline(bound) for bound in (LONG, LONG * 2) for _ in range(2500)]
    tasks = [asyncio.create_task(wait(deadline)) for deadline in deadlines]
    for _ in deadlines:
        await waiting.acquire()
    sweep = Sweep.of(asyncio.get_running_loop())
    assert len(sweep.waits(LONG)) == len(sweep.waits(LONG * 2)) == 2500
    done.set()
    await asyncio.gather(*tasks)
    assert len(timers) == 1
    assert not sweep.waits(LONG) and not sweep.waits(LONG * 2)  # an ended wait is forgotten


async def test_a_wait_has_its_whole_bound_from_when_it_began() -> None:
    # The timer was set by an earlier wait: it fires during this one, which is not cut short.
    deadline = Deadline(BOUND)
    with deadline:
        await asyncio.sleep(0)
    await asyncio.sleep(BOUND / 2)  # no wait meanwhile
    assert await timed_out(deadline) >= BOUND


async def test_a_shorter_bound_is_kept_while_a_longer_one_waits() -> None:
    # The timer is set for the end of the long wait when the short one begins.
    task = await waiting_under(Deadline(LONG))
    assert BOUND <= await timed_out(Deadline(BOUND)) < BOUND + SLACK
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_wait_that_ends_in_time_is_untouched() -> None:
    in_time, cut_off = Deadline(BOUND), Deadline(BOUND)
    with in_time:
        await asyncio.sleep(0)
    await timed_out(cut_off)  # the sweep passed the end of in_time's bound
    await no_timer(Sweep.of(asyncio.get_running_loop()))
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # no cancellation pending either


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    task = await waiting_under(Deadline(LONG))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_as_the_bound_ends_stays_a_cancellation() -> None:
    async def waiting() -> None:
        task = asyncio.current_task()
        assert task is not None
        waited = asyncio.get_running_loop().create_future()
        # Cancelled from elsewhere in the turn the sweep cuts the wait off.
        waited.add_done_callback(lambda _: task.cancel())
        with Deadline(BOUND):
            await waited

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(waiting())


async def test_a_cancellation_before_the_bound_ends_stays_a_cancellation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Cancelled from elsewhere in the turn the sweep cuts the wait off, just before it
    # (a socket's reader stopped as it goes idle): the task has not run in between.
    # The sweep is patched before the wait begins: it sets the loop's timer then.
    entered = asyncio.Event()

    async def waiting() -> None:
        with Deadline(BOUND):
            entered.set()
            await forever()

    task = asyncio.create_task(waiting())
    fire = Sweep._fire

    def cancelled_first(sweep: Sweep) -> None:
        task.cancel()
        fire(sweep)

    monkeypatch.setattr(Sweep, "_fire", cancelled_first)
    await entered.wait()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_ended_wait_leaves_nothing_behind() -> None:
    sweep = Sweep.of(asyncio.get_running_loop())
    with Deadline(BOUND):  # ends in time
        await asyncio.sleep(0)
    await timed_out(Deadline(BOUND))
    task = await waiting_under(Deadline(BOUND))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not sweep.waits(BOUND)
    await no_timer(sweep)  # nothing waits: no timer either


def test_each_loop_has_its_own_sweep() -> None:
    # Two loops, each cutting its own waits off; the one that ends is not kept alive,
    # though its timer was still set when it closed.
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []
    sweeps: list[Sweep] = []

    async def bounded() -> None:
        loop = asyncio.get_running_loop()
        loops.append(weakref.ref(loop))
        sweeps.append(Sweep.of(loop))
        assert BOUND <= await timed_out(Deadline(BOUND)) < BOUND + SLACK
        with Deadline(LONG):  # ends in time; the timer is set for its end
            await asyncio.sleep(0)

    async def both() -> None:
        await asyncio.gather(bounded(), asyncio.to_thread(asyncio.run, bounded()))

    asyncio.run(both())
    assert len(loops) == 2 and sweeps[0] is not sweeps[1]
    del sweeps[:]
    gc.collect()
    assert [loop() for loop in loops] == [None, None]


# -- the frame path ----------------------------------------------------------------

TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>{{ live_container }}",
    "crowd.html": "<p id='n'>{{ n }}</p><p id='handed'>{{ handed }}</p>"
    "<p id='heard'>{{ heard }}</p>",
}


class CrowdLive(LiveView[dict[str, t.Any]]):
    """Counts clicks; ``publish`` broadcasts to the crowd and shows how many were handed it."""

    template_name = "crowd.html"
    handed: t.ClassVar[list[t.Any]] = []  # the messages handed to the test's crowd so far

    async def mount(self, socket: LiveViewSocket[dict[str, t.Any]], session: t.Any) -> None:
        socket.context = {"n": 0, "handed": "", "heard": ""}
        await socket.subscribe("crowd")

    async def handle_event(self, event: str, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        socket.context["n"] += 1
        if event == "publish":
            await socket.broadcast("crowd", "hello")
            socket.context["handed"] = len(self.handed)  # as the reply leaves

    async def handle_info(self, event: InfoEvent, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        socket.context["heard"] = event.payload


def make_app(pubsub: MemoryPubSub) -> Starlette:
    routes = LiveRoutes(LiveEnvironment(loader=DictLoader(TEMPLATES)), "secret", pubsub=pubsub)
    routes.add("/crowd", CrowdLive)
    return Starlette(
        routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key="secret")]
    )


async def test_frames_make_no_timer_each(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each event is a frame read and a frame sent, both bounded (idle_timeout, send_timeout).
    events = 50
    async with live(make_app(MemoryPubSub()), "/crowd") as view:
        # The server's tasks' timers: the test's own waits for replies are bounded too.
        timers = counting_timers(monkeypatch, apart_from=asyncio.current_task())
        for _ in range(events):
            await view.hook("count")
        assert view.text("#n") == str(events)
    assert len(timers) <= 1, timers  # the loop's sweep, once at most


async def test_a_closed_socket_leaves_no_wait_behind() -> None:
    app = make_app(MemoryPubSub())
    async with live(app, "/crowd") as view:
        await view.hook("count")
        assert view.text("#n") == "1"
    config = LiveConfig()
    sweep = Sweep.of(asyncio.get_running_loop())
    assert not sweep.waits(config.idle_timeout) and not sweep.waits(config.send_timeout)


async def test_the_publisher_s_reply_does_not_wait_for_the_crowd() -> None:
    pubsub = MemoryPubSub()
    handed = CrowdLive.handed = []
    crowd = 2 * HANDOFFS_PER_TICK
    for _ in range(crowd):
        await pubsub.subscribe("crowd", lambda topic, event, message: handed.append(message))
    async with live(make_app(pubsub), "/crowd") as view:
        await view.hook("publish")
        assert view.text("#handed") == "0"  # the reply left before anyone was handed the message
        await view.wait_for("#heard", text="hello")  # the publisher's own view hears it too
    assert handed == ["hello"] * crowd
{%- endraw %}
