"""Phases 5 and 6 of the lifecycle: ``handle_info`` from schedules and broadcasts, pushed as
diffs; everything a view started ends when it closes, before ``disconnect``, once.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket as sockets
import subprocess
import sys
import time
import typing as t
import weakref
from pathlib import Path
from urllib.parse import urlparse

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
    is_connected,
)
from {{ cookiecutter.package_name }}.live.presence import Presence
from {{ cookiecutter.package_name }}.live.pubsub.memory import MemoryPubSub
from {{ cookiecutter.package_name }}.live.scheduler import Job, Scheduler
from {{ cookiecutter.package_name }}.live.testing import (
    LiveTestError,
    ServerError,
    live,
    run_lifespan,
    scaled,
)

from live_client import LiveClient
from servers import serve
{%- raw %}

Calls = list[t.Any]
TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>"
    "<title>{{ title }}</title>{{ live_container }}",
    "ticker.html": "<p id='ticks'>{{ ticks }}</p><p id='news'>{{ news }}</p>"
    "{% for kind, message in flash.items() %}<p id='flash-{{ kind }}'>{{ message }}</p>"
    "{% endfor %}",
}
NAP = scaled(3.0)  # seconds the "nap" info holds its view: longer than any reply may take


class TickerLive(LiveView[dict[str, t.Any]]):
    """Ticks on a schedule given by ``?every=``, and follows the ``news`` topic."""

    template_name = "ticker.html"
    calls: t.ClassVar[Calls] = []
    sockets: t.ClassVar[list[ConnectedLiveViewSocket[t.Any]]] = []

    async def mount(self, socket: LiveViewSocket[dict[str, t.Any]], session: t.Any) -> None:
        socket.context = {"ticks": 0, "news": ""}
        job = socket.schedule_info(InfoEvent("tick"), 0.02)
        self.calls.append(("mount", is_connected(socket), job.active))
        if isinstance(socket, ConnectedLiveViewSocket):
            self.sockets.append(socket)
            await socket.subscribe("news")
            socket.cleanup(self._cleaned)

    async def _cleaned(self) -> None:
        self.calls.append(("cleanup", None))

    async def handle_event(self, event: str, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        self.calls.append(("event", event))
        if event == "publish":
            await socket.broadcast("news", {"text": "hello", "from": "a view"})
        elif event == "publish-set":
            try:
                await socket.broadcast("news", {"tags": {"a", "b"}})
            except TypeError as exc:
                socket.put_flash("error", str(exc))
        elif event == "once":
            socket.schedule_info_once(InfoEvent("once", {"n": 1}), 0.01)
        elif event == "nap":
            socket.schedule_info_once(InfoEvent("nap"))
        elif event == "stop":
            await socket.unsubscribe("news")
        elif event == "slow":
            await asyncio.sleep(0.1)
        self.calls.append(("event done", event))

    async def handle_info(self, event: InfoEvent, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        self.calls.append(("info", event.name))
        context = socket.context
        if event.name == "tick":
            context["ticks"] += 1
            if context["ticks"] == 3:
                socket.live_title = "three"
                socket.push_event("ticked", {"ticks": 3})
        elif event.name == "news":
            context["news"] = event.payload["text"]
            self.calls.append(("heard", event.payload["text"]))
            if event.payload.get("slow"):
                await asyncio.sleep(0.1)
            if event.payload.get("away"):
                await socket.push_navigate("/quiet")
        elif event.name == "nap":
            await asyncio.sleep(NAP)
        elif event.name == "quiet":
            raise RuntimeError("expected by the test")
        elif event.name == "once":
            socket.put_flash("info", f"once {event.payload['n']}")
        self.calls.append(("info done", event.name))

    async def disconnect(self, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        self.calls.append(("disconnect", (socket.jobs, socket.subscriptions)))


class QuietLive(TickerLive):
    """No schedule: only broadcasts, and the ``quiet`` topic, which crashes it."""

    async def mount(self, socket: LiveViewSocket[dict[str, t.Any]], session: t.Any) -> None:
        socket.context = {"ticks": 0, "news": ""}
        await socket.subscribe("news")
        await socket.subscribe("quiet")


@pytest.fixture
def calls() -> Calls:
    TickerLive.calls = []
    TickerLive.sockets = []
    return TickerLive.calls


@pytest.fixture
def pubsub() -> MemoryPubSub:
    return MemoryPubSub()


def make_app(pubsub: MemoryPubSub, **config: t.Any) -> Starlette:
    routes = LiveRoutes(
        LiveEnvironment(loader=DictLoader(TEMPLATES)),
        "secret",
        config=LiveConfig(**config),
        pubsub=pubsub,
    )
    routes.add("/ticker", TickerLive)
    routes.add("/quiet", QuietLive)
    return Starlette(
        routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key="secret")]
    )


# -- schedules ---------------------------------------------------------------------


async def test_a_schedule_repeats_and_its_changes_are_pushed(
    calls: Calls, pubsub: MemoryPubSub
) -> None:
    async with live(make_app(pubsub), "/ticker") as view:
        await view.wait_for("#ticks", text="3")
        assert view.title == "three"  # title and pushed events ride on the pushed diff
        assert [event.name for event in view.pushed_events] == ["ticked"]
        await view.wait_for("#ticks", text="5")
    # The HTTP render's schedule did nothing; the connected one ran.
    assert calls[:2] == [("mount", False, False), ("mount", True, True)]


async def test_a_one_shot_fires_once(calls: Calls, pubsub: MemoryPubSub) -> None:
    async with live(make_app(pubsub), "/ticker") as view:
        await view.hook("once")
        await view.wait_for("#flash-info", text="once 1")
        await view.wait_for("#ticks", text="4")
    assert calls.count(("info", "once")) == 1


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), "1"])
def test_a_period_must_be_positive_seconds(seconds: t.Any) -> None:
    socket: ConnectedLiveViewSocket[None] = ConnectedLiveViewSocket(urlparse("http://h/"))
    with pytest.raises(ValueError, match="seconds > 0"):
        socket.schedule_info(InfoEvent("x"), seconds)


def test_jobs_on_the_http_render_do_nothing() -> None:
    socket: LiveViewSocket[None] = LiveViewSocket(urlparse("http://h/"))
    job = socket.schedule_info_once(InfoEvent("x"), 1)
    assert isinstance(job, Job) and not job.active
    job.cancel()  # harmless


async def test_nothing_starts_on_a_closed_view() -> None:
    # A view's own background task, or disconnect(), may outlive the view:
    # whatever it starts then would never be stopped, so it is refused.
    pubsub = MemoryPubSub()
    socket: ConnectedLiveViewSocket[None] = ConnectedLiveViewSocket(urlparse("http://h/"), pubsub)
    presence = Presence(pubsub)
    await socket.close()
    with pytest.raises(RuntimeError, match="closed"):
        socket.schedule_info(InfoEvent("x"), 1)
    with pytest.raises(RuntimeError, match="closed"):
        socket.schedule_info_once(InfoEvent("x"))
    with pytest.raises(RuntimeError, match="closed"):
        await socket.subscribe("news")
    async with presence:
        with pytest.raises(RuntimeError, match="closed"):
            await presence.track(socket, "room", "me", {})
        closed = weakref.ref(socket)
        del socket
        gc.collect()
        assert closed() is None  # nothing holds the closed view: presence kept no reference
    assert pubsub.subscribers() == 0


# -- the scheduler's timing: on the loop's clock, asserting lower bounds and counts only,
# which a busy machine cannot break (it only makes things later) ---------------------


def recorded() -> tuple[list[float], Scheduler]:
    """A scheduler whose infos are recorded as the loop time each was delivered at."""
    times: list[float] = []
    loop = asyncio.get_running_loop()
    return times, Scheduler(lambda event, key: times.append(loop.time()), max_jobs=3)


async def until(condition: t.Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(10):  # generous: waits on the condition, not on a guess
        while not condition():
            await asyncio.sleep(0.01)


async def test_the_first_tick_comes_after_one_period_and_each_next_one_period_later() -> None:
    times, scheduler = recorded()
    start = asyncio.get_running_loop().time()
    scheduler.every(InfoEvent("tick"), 0.2)
    await until(lambda: len(times) >= 3, "three ticks")
    scheduler.cancel_all()
    assert [tick - start >= 0.2 * n for n, tick in enumerate(times[:3], 1)] == [True] * 3


async def test_schedule_info_once_waits_its_delay() -> None:
    times, scheduler = recorded()
    start = asyncio.get_running_loop().time()
    scheduler.once(InfoEvent("later"), 0.3)
    scheduler.once(InfoEvent("now"))
    await until(lambda: len(times) == 2 and len(scheduler) == 0, "both infos, and the jobs end")
    assert times[1] - start >= 0.3


async def test_max_jobs_is_reached_exactly_and_a_finished_job_frees_its_place() -> None:
    times, scheduler = recorded()  # max_jobs=3
    jobs = [scheduler.every(InfoEvent("tick"), 60) for _ in range(3)]
    with pytest.raises(RuntimeError, match="at most 3 scheduled jobs"):
        scheduler.once(InfoEvent("one more"))
    jobs[0].cancel()
    await until(lambda: len(scheduler) == 2, "the cancelled job to end")
    scheduler.once(InfoEvent("now there is room"))
    await until(lambda: len(times) == 1 and len(scheduler) == 2, "the one-off to fire and end")
    scheduler.cancel_all()


async def test_after_a_stall_missed_ticks_are_not_replayed_back_to_back() -> None:
    period = 0.05
    times, scheduler = recorded()
    scheduler.every(InfoEvent("tick"), period)
    await until(lambda: len(times) >= 1, "the first tick")
    time.sleep(20 * period)  # the loop stalls (blocked, or a laptop suspended): 20 ticks missed
    resumed = asyncio.get_running_loop().time()
    window = 10 * period
    await until(lambda: times[-1] >= resumed + window, "ticks past the window")
    scheduler.cancel_all()
    # One tick for the stall, then one a period: not the 20 missed ones at once.
    assert len([tick for tick in times if resumed <= tick < resumed + window]) <= 12


# -- pub/sub ---------------------------------------------------------------------------


async def test_a_broadcast_reaches_every_subscribed_view(
    calls: Calls, pubsub: MemoryPubSub
) -> None:
    app = make_app(pubsub)
    async with run_lifespan(app):
        async with live(app, "/ticker", lifespan=False) as one, live(
            app, "/quiet", lifespan=False
        ) as other:
            await one.hook("publish")
            await one.wait_for("#news", text="hello")
            await other.wait_for("#news", text="hello")
            # From plain code, with no socket: the same pub/sub object.
            await pubsub.broadcast("news", {"text": "from a task"})
            await other.wait_for("#news", text="from a task")
            await one.wait_for("#news", text="from a task")


async def test_a_message_json_cannot_carry_fails_at_the_broadcast(
    calls: Calls, pubsub: MemoryPubSub
) -> None:
    async with live(make_app(pubsub), "/ticker") as view:
        await view.hook("publish-set")
        assert "not JSON" in view.text("#flash-error")
    with pytest.raises(TypeError, match="not JSON"):
        await pubsub.broadcast("news", {"when": object()})


async def test_unsubscribed_views_hear_nothing_more(calls: Calls, pubsub: MemoryPubSub) -> None:
    async with live(make_app(pubsub), "/quiet") as view:
        await view.hook("stop")
        await pubsub.broadcast("news", {"text": "unheard"})
        await view.hook("noop")  # anything pushed before this reply has been applied
        assert view.text("#news") == ""


async def test_a_raising_handle_info_crashes_only_its_view(
    calls: Calls, pubsub: MemoryPubSub
) -> None:
    app = make_app(pubsub)
    async with run_lifespan(app):
        async with live(app, "/quiet", lifespan=False) as doomed, live(
            app, "/ticker", lifespan=False
        ) as bystander:
            await pubsub.broadcast("quiet", "boom")
            with pytest.raises(ServerError, match="crash"):
                await doomed.wait_for("#news", text="never")
            await bystander.wait_for("#ticks", text="3")  # the other view ticks on
            await doomed.hook("noop")  # the crashed one rejoined: a fresh mount
            assert doomed.text("#news") == ""


async def test_handle_info_can_navigate(calls: Calls, pubsub: MemoryPubSub) -> None:
    async with live(make_app(pubsub), "/ticker") as view:
        await pubsub.broadcast("news", {"text": "go", "away": True})
        with pytest.raises(LiveTestError, match="navigated away to '/quiet'"):
            await view.wait_for("#never")
        assert view.redirect is not None and view.redirect.to == "/quiet"


# -- order ---------------------------------------------------------------------------


async def test_infos_and_events_of_a_view_never_interleave(
    calls: Calls, pubsub: MemoryPubSub
) -> None:
    async with live(make_app(pubsub), "/quiet") as view:
        await pubsub.broadcast("news", {"text": "slow", "slow": True})
        await view.hook("slow")
        await view.wait_for("#news", text="slow")
    started = [call for call in calls if call[0] in ("info", "event", "info done", "event done")]
    # Each callback runs to its end before the next one starts.
    for begin, end in zip(started[::2], started[1::2], strict=True):
        assert (begin[0] + " done", begin[1]) == end


async def test_a_slow_handle_info_holds_up_no_other_view_and_diffs_are_pushed(
    calls: Calls, pubsub: MemoryPubSub
) -> None:
    with serve(make_app(pubsub)) as base_url:
        async with LiveClient.open(base_url, "/quiet") as client:
            napper = client.page
            assert (await client.join())["status"] == "ok"
            ticker = await client.load("/ticker")
            assert (await client.join(page=ticker))["status"] == "ok"
            assert (await client.click("nap", topic=napper.topic))["status"] == "ok"
            started = asyncio.get_running_loop().time()
            reply = await client.click("noop", topic=ticker.topic)
            assert reply["status"] == "ok"
            assert asyncio.get_running_loop().time() - started < NAP / 2  # not after the nap
            # The ticker's ticks arrive as pushes: [its join_ref, null, topic, "diff", diff].
            pushed = [frame for frame in client.pushes if frame.event == "diff"]
            async with asyncio.timeout(scaled(10.0)):
                while not pushed:
                    frame = await client.receive()
                    if frame.event == "diff":
                        pushed.append(frame)
            frame = pushed[0]
            assert (frame.join_ref, frame.ref, frame.topic) == (
                client.join_refs[ticker.topic],
                None,
                ticker.topic,
            )
            assert set(frame.payload) == {"0"}  # only the tick count's slot


# -- closing -------------------------------------------------------------------------


async def test_closing_stops_jobs_and_subscriptions_before_disconnect_once(
    calls: Calls, pubsub: MemoryPubSub
) -> None:
    async with live(make_app(pubsub), "/ticker") as view:
        await view.wait_for("#ticks", text="2")
    (socket,) = TickerLive.sockets
    # Jobs and subscriptions were gone when disconnect ran, after the cleanup.
    assert calls[-2:] == [("cleanup", None), ("disconnect", (0, []))]
    assert calls.count(("disconnect", (0, []))) == 1
    assert pubsub.subscribers("news") == 0
    ticks = calls.count(("info", "tick"))
    await asyncio.sleep(0.1)
    assert calls.count(("info", "tick")) == ticks  # no tick after the close


async def test_a_slow_view_does_not_pile_up_ticks(pubsub: MemoryPubSub, calls: Calls) -> None:
    # A 20 ms period while the view is busy for 100 ms: one tick waits, the rest are skipped.
    async with live(make_app(pubsub, mailbox_size=4), "/ticker") as view:
        await view.hook("slow")
        await view.hook("slow")
        await view.wait_for("#ticks", text="3")
    assert ("info", "news") not in calls


async def test_broadcasts_a_view_keeps_up_with_are_handled_in_order_one_each(
    pubsub: MemoryPubSub, calls: Calls
) -> None:
    async with live(make_app(pubsub, mailbox_size=2, info_backlog=16), "/quiet") as view:
        for n in range(10):  # more than the mailbox, fewer than the backlog
            await pubsub.broadcast("news", {"text": f"news {n}"})
        await view.wait_for("#news", text="news 9")
    assert [call[1] for call in calls if call[0] == "heard"] == [f"news {n}" for n in range(10)]


async def test_a_view_under_a_burst_of_broadcasts_sees_the_latest_and_never_crashes(
    pubsub: MemoryPubSub, calls: Calls
) -> None:
    async with live(make_app(pubsub, mailbox_size=2, info_backlog=2), "/quiet") as view:
        # Ten broadcasts while the view is busy with the first: past the backlog of 2,
        # each replaces the one of its topic still waiting (latest wins).
        for n in range(10):
            await pubsub.broadcast("news", {"text": f"slow {n}", "slow": True})
        await view.wait_for("#news", text="slow 9")
        await view.hook("noop")  # the same view answers: it never crashed
    assert [call[1] for call in calls if call[0] == "heard"] == ["slow 0", "slow 9"]


async def test_sigterm_closes_views_cleanly_within_a_bound(tmp_path: Path) -> None:
    log = tmp_path / "shutdown.log"
    with sockets.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    here = Path(__file__).parent
    env = {
        **os.environ,
        "SHUTDOWN_LOG": str(log),
        "PYTHONPATH": os.pathsep.join([str(here.parents[1] / "src"), str(here)]),
    }
    command = [sys.executable, "-m", "uvicorn", "shutdown_app:app", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        base_url = f"http://127.0.0.1:{port}"
        async with asyncio.timeout(scaled(60.0)):  # uvicorn starts
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                except OSError:
                    await asyncio.sleep(0.05)
        async with LiveClient.open(base_url, "/busy") as client:
            assert (await client.join())["status"] == "ok"
            await client.receive()  # a tick's diff: the job runs
            server.send_signal(signal.SIGTERM)
            assert await client.close_code() == 1012  # "service restart"
        # uvicorn shuts down, then ends as the signal asks (status -SIGTERM).
        assert server.wait(timeout=scaled(30.0)) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=scaled(30.0))
    assert log.read_text() == "disconnect jobs=0 subscriptions=[]\n"
{%- endraw %}
