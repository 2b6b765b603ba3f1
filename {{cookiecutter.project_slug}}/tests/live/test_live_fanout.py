"""The hot paths of a busy server: frames bounded without a timer each, broadcasts fanned out
after the publisher's reply.

A socket's reads and sends keep their bounds (``tests/test_transport.py``
cuts off real clients that stop reading or go silent); here the bound itself,
``Deadline``, and what it saves: no timer made and cancelled per frame.
"""

from __future__ import annotations

import asyncio
import time
import typing as t

import pytest
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from {{ cookiecutter.package_name }}.live import (
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
)
from {{ cookiecutter.package_name }}.live.deadline import Deadline
from {{ cookiecutter.package_name }}.live.pubsub import HANDOFFS_PER_TICK
from {{ cookiecutter.package_name }}.live.pubsub.memory import MemoryPubSub
from {{ cookiecutter.package_name }}.live.testing import live, scaled
{%- raw %}

BOUND = 0.05  # seconds: the bound under test; the waits it cuts off never end by themselves
SLACK = scaled(5.0)  # how much later than its bound a busy machine may cut a wait off


async def forever() -> None:
    await asyncio.Event().wait()


def counting_timers(
    monkeypatch: pytest.MonkeyPatch, apart_from: asyncio.Task[t.Any] | None = None
) -> list[t.Callable[..., t.Any]]:
    """The callbacks of the timers the running loop is asked for from now on, but those the
    task ``apart_from`` asks for."""
    loop = asyncio.get_running_loop()
    callbacks: list[t.Callable[..., t.Any]] = []
    call_at = loop.call_at

    def counted(
        when: float, callback: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any
    ) -> asyncio.TimerHandle:
        if apart_from is None or asyncio.current_task() is not apart_from:
            callbacks.append(callback)
        return call_at(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counted)
    return callbacks


# -- Deadline ----------------------------------------------------------------------


async def test_a_wait_past_its_bound_times_out() -> None:
    deadline = Deadline(BOUND)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        with deadline:
            await forever()
    assert BOUND <= time.monotonic() - started < BOUND + SLACK
    with deadline:  # the next wait is bounded afresh, and may end in time
        await asyncio.sleep(0)


async def test_one_timer_bounds_every_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    timers = counting_timers(monkeypatch)
    deadline = Deadline(scaled(60.0))
    for _ in range(1000):
        with deadline:
            await asyncio.sleep(0)
    assert len(timers) == 1
    deadline.close()


async def test_a_wait_has_its_whole_bound_from_when_it_began() -> None:
    # The timer was set by an earlier wait: it fires during this one, which is not cut short.
    deadline = Deadline(BOUND)
    with deadline:
        await asyncio.sleep(0)
    await asyncio.sleep(BOUND / 2)  # no wait meanwhile
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        with deadline:
            await forever()
    assert time.monotonic() - started >= BOUND


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadline = Deadline(scaled(60.0))
    entered = asyncio.Event()

    async def waiting() -> None:
        with deadline:
            entered.set()
            await forever()

    task = asyncio.create_task(waiting())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline.close()


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
    assert len(timers) <= 2, timers  # the read's and the send's, once each at most


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
