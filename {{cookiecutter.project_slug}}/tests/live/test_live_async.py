"""Async work (``assign_async``, ``start_async``) and hook replies (dicts from ``handle_event``).

Work runs beside the view; its outcome goes through the view's mailbox, so it
is applied between events, never during one. A failure is shown, never a
crash; closing the view or navigating away cancels the work; a patch does not.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
import typing as t
from urllib.parse import urlparse

import pytest
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from {{ cookiecutter.package_name }}.live import (
    AsyncResult,
    Cancelled,
    ConnectedLiveViewSocket,
    LiveConfig,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
)
from {{ cookiecutter.package_name }}.live.async_result import AsyncDone, AsyncTasks
from {{ cookiecutter.package_name }}.live.testing import ServerError, live, scaled

from live_client import LiveClient
from servers import serve
{%- raw %}

TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>"
    "<title>{{ title }}</title>{{ live_container }}",
    "stats.html": "{% if stats.loading %}<p id='loading'>Loading…"
    "{% if stats.ok %} (was {{ stats.result }}){% endif %}</p>"
    "{% elif stats.failed %}<p id='failed'>Could not load: {{ stats.failed }}</p>"
    "{% else %}<p id='stats'>{{ stats.result }}</p>{% endif %}"
    "<p id='pair'>{% if a.failed %}failed: {{ a.failed }}{% else %}{{ a.result }} {{ b.result }}"
    "{% endif %}</p><p id='note'>{{ note }}</p>",
    "other.html": "<p id='other'>other</p>",
}
WAIT = scaled(10.0)


class Gates:
    """What the test lets the work do, and what happened, shared by views and test."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.calls: list[t.Any] = []
        self.value: t.Any = 42


gates = Gates()


async def gated() -> t.Any:
    gates.started.set()
    try:
        await gates.release.wait()
    except asyncio.CancelledError:
        gates.calls.append("cancelled")
        raise
    if isinstance(gates.value, Exception):
        raise gates.value
    return gates.value


class StatsLive(LiveView[dict[str, t.Any]]):
    template_name = "stats.html"

    async def mount(self, socket: LiveViewSocket[dict[str, t.Any]], session: t.Any) -> None:
        socket.context = {"a": AsyncResult(), "b": AsyncResult(), "note": ""}
        socket.assign_async("stats", gated)

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[dict[str, t.Any]], payload: t.Any
    ) -> dict[str, t.Any] | None:
        gates.calls.append(("event", event))
        if event == "reload":
            socket.assign_async("stats", gated)
        elif event == "pair":
            socket.assign_async(["a", "b"], lambda: {"a": 1, "b": threading.current_thread().name})
        elif event == "half-pair":
            socket.assign_async(["a", "b"], lambda: {"a": 1})
        elif event == "start":
            socket.start_async("job", gated)
        elif event == "cancel":
            return {"cancelled": socket.cancel_async(payload.get("key", ["stats"]))}
        elif event == "start-and-cancel":  # before the work's task ever ran
            socket.start_async(payload["name"], gated)
            socket.assign_async(payload["name"], gated)
            return {"cancelled": socket.cancel_async(payload["name"])}
        elif event == "release-and-wait":
            # The work ends while this handler runs: its result must wait for the handler.
            gates.release.set()
            async with asyncio.timeout(WAIT):
                while _work_tasks():  # done, its outcome queued
                    await asyncio.sleep(0)
            gates.calls.append(("event done", event))
        elif event == "copy":
            return {"copied": payload["email"], "at": "server"}
        elif event == "bad-reply":
            return ["not", "a", "dict"]  # type: ignore[return-value]
        elif event == "patch":
            await socket.push_patch("/stats?page=2")
        elif event == "away":
            await socket.push_navigate("/other")
        return None

    async def handle_async(
        self, name: str, result: AsyncResult[t.Any], socket: ConnectedLiveViewSocket[t.Any]
    ) -> None:
        gates.calls.append(("handle_async", name, result.ok, result.result, result.failed))
        socket.context["note"] = f"{name}: {result.result if result.ok else 'failed'}"


class OtherLive(LiveView[None]):
    template_name = "other.html"


def _work_tasks() -> list[asyncio.Task[t.Any]]:
    return [task for task in asyncio.all_tasks() if "AsyncTasks._run" in repr(task.get_coro())]


@pytest.fixture(autouse=True)
def fresh_gates() -> None:
    global gates
    gates = Gates()


def make_app(**config: t.Any) -> Starlette:
    routes = LiveRoutes(
        LiveEnvironment(loader=DictLoader(TEMPLATES)), "secret", config=LiveConfig(**config)
    )
    routes.add("/stats", StatsLive)
    routes.add("/other", OtherLive)
    return Starlette(
        routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key="secret")]
    )


# -- assign_async --------------------------------------------------------------------


async def test_loading_is_rendered_then_the_result_is_pushed() -> None:
    async with live(make_app(), "/stats") as view:
        assert "id='loading'" in view.dead_html or 'id="loading"' in view.dead_html
        view.assert_has("#loading")  # connected: still loading until the work ends
        await asyncio.wait_for(gates.started.wait(), WAIT)
        gates.release.set()
        await view.wait_for("#stats", text="42")
        # Reloading keeps the last result while the new one loads, as Phoenix does.
        gates.release.clear()
        await view.hook("reload")
        assert view.text("#loading") == "Loading… (was 42)"
        gates.value = 43
        gates.release.set()
        await view.wait_for("#stats", text="43")


async def test_a_failure_is_shown_and_the_view_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    gates.value = RuntimeError("the report server is down")
    gates.release.set()
    async with live(make_app(), "/stats") as view:
        await view.wait_for("#failed", text="the report server is down")
        assert await view.hook("copy", {"email": "a@b.c"}) == {"copied": "a@b.c", "at": "server"}
    assert any(
        record.levelno == logging.ERROR and "async work" in record.getMessage()
        for record in caplog.records
    )


async def test_several_keys_come_from_one_dict_and_plain_functions_run_in_a_thread() -> None:
    async with live(make_app(), "/stats") as view:
        await view.hook("pair")
        node = await view.wait_for("#pair", text="1 ")
        assert node.text() != f"1 {threading.current_thread().name}"  # not the event loop's


async def test_a_key_missing_from_the_dict_fails_every_key() -> None:
    async with live(make_app(), "/stats") as view:
        await view.hook("half-pair")
        await view.wait_for("#pair", text="failed: assign_async: the work returned no b")


async def test_results_wait_for_the_handler_running() -> None:
    async with live(make_app(), "/stats") as view:
        await asyncio.wait_for(gates.started.wait(), WAIT)
        await view.hook("release-and-wait")
        await view.wait_for("#stats", text="42")
    assert gates.calls == [("event", "release-and-wait"), ("event done", "release-and-wait")]


async def test_cancel_async_fails_the_result_with_cancelled() -> None:
    async with live(make_app(), "/stats") as view:
        await asyncio.wait_for(gates.started.wait(), WAIT)
        assert await view.hook("cancel") == {"cancelled": True}
        await view.wait_for("#failed", text="cancelled")
        assert "cancelled" in gates.calls
        assert await view.hook("cancel") == {"cancelled": False}  # nothing runs any more


async def test_a_newer_run_replaces_the_one_running() -> None:
    async with live(make_app(), "/stats") as view:
        await asyncio.wait_for(gates.started.wait(), WAIT)
        await view.hook("reload")
        assert gates.calls.count("cancelled") == 1  # the first run, dropped
        gates.release.set()
        await view.wait_for("#stats", text="42")


# -- start_async and handle_async --------------------------------------------------------


async def test_start_async_hands_its_result_to_handle_async() -> None:
    gates.release.set()
    async with live(make_app(), "/stats") as view:
        await view.hook("start")
        await view.wait_for("#note", text="job: 42")
    assert ("handle_async", "job", True, 42, None) in gates.calls


async def test_start_async_hands_its_failure_to_handle_async() -> None:
    failure = ValueError("no")
    gates.value = failure
    gates.release.set()
    async with live(make_app(), "/stats") as view:
        await view.hook("start")
        await view.wait_for("#note", text="job: failed")
    assert ("handle_async", "job", False, None, failure) in gates.calls


# -- cancellation ------------------------------------------------------------------------


async def test_closing_the_view_cancels_its_work() -> None:
    async with live(make_app(), "/stats") as view:
        await asyncio.wait_for(gates.started.wait(), WAIT)
        await view.close()
    async with asyncio.timeout(WAIT):
        while _work_tasks():
            await asyncio.sleep(0)
    assert gates.calls == ["cancelled"]


async def test_navigating_away_cancels_but_a_patch_does_not() -> None:
    async with live(make_app(), "/stats") as view:
        await asyncio.wait_for(gates.started.wait(), WAIT)
        await view.hook("patch")
        assert view.path == "/stats?page=2"
        assert "cancelled" not in gates.calls and len(_work_tasks()) == 1
        redirect = await view.hook("away")
        assert redirect is None and view.redirect is not None
        await view.follow_redirect()
        view.assert_has("#other")
        async with asyncio.timeout(WAIT):
            while _work_tasks():
                await asyncio.sleep(0)
    assert "cancelled" in gates.calls


async def test_work_is_bounded_per_view() -> None:
    socket: ConnectedLiveViewSocket[dict[str, t.Any]] = ConnectedLiveViewSocket(
        urlparse("http://h/"), max_async=2
    )
    socket.context = {}
    socket.start_async("one", gated)
    socket.assign_async("two", gated)
    socket.start_async("one", gated)  # replaces: still two
    with pytest.raises(RuntimeError, match="at most 2 async tasks"):
        socket.start_async("three", gated)
    await socket.close()
    with pytest.raises(RuntimeError, match="closed"):
        socket.start_async("four", gated)


async def test_work_cancelled_before_it_began_still_fails_with_cancelled() -> None:
    async with live(make_app(max_async=3), "/stats") as view:
        for round in range(4):  # more than max_async: each cancelled run frees its seat
            name = f"job{round}"
            assert await view.hook("start-and-cancel", {"name": name}) == {"cancelled": True}
            await view.wait_for("#note", text=f"{name}: failed")
            assert view.text("#pair") == "None None"
        assert [call[1:3] for call in gates.calls if call[0] == "handle_async"] == [
            (f"job{round}", False) for round in range(4)
        ]
        assert all(
            isinstance(call[4], Cancelled) for call in gates.calls if call[0] == "handle_async"
        )
        await view.hook("cancel")  # the mount's "stats" run
        await view.wait_for("#failed", text="cancelled")


class Stop(BaseException):
    """Not an ``Exception``: work may still raise it."""


async def test_a_base_exception_from_work_is_a_failure_and_frees_the_seat() -> None:
    delivered: list[AsyncDone] = []
    tasks = AsyncTasks(delivered.append, limit=1)

    async def stop() -> None:
        raise Stop("out")

    tasks.start("a", stop)
    async with asyncio.timeout(WAIT):
        while not delivered:
            await asyncio.sleep(0)
    assert isinstance(delivered[0].outcome.failed, Stop) and tasks.finish(delivered[0])
    tasks.start("b", stop)  # the seat is free again
    tasks.close()


async def test_a_view_never_keeps_more_threads_busy_than_max_async() -> None:
    release, lock = threading.Event(), threading.Lock()
    busy = {"now": 0, "most": 0, "runs": 0}

    def blocking() -> int:
        with lock:
            busy["now"] += 1
            busy["most"] = max(busy["most"], busy["now"])
            busy["runs"] += 1
        release.wait(WAIT)
        with lock:
            busy["now"] -= 1
        return busy["runs"]

    delivered: list[AsyncDone] = []
    tasks = AsyncTasks(delivered.append, limit=2)
    for _ in range(20):  # a view spamming "reload": each run replaces the last
        tasks.start("stats", blocking)
        await asyncio.sleep(0)
    async with asyncio.timeout(WAIT):
        while busy["now"] < 2:
            await asyncio.sleep(0.01)
    assert busy["most"] == 2  # the replaced runs' threads keep their seats
    release.set()
    async with asyncio.timeout(WAIT):
        while not delivered:
            await asyncio.sleep(0.01)
    assert busy["most"] == 2 and delivered[-1].outcome.result == 3  # the last run, after two
    assert tasks.finish(delivered[-1])


async def test_a_coroutine_returned_by_a_cancelled_thread_is_closed() -> None:
    release, made = threading.Event(), []

    def calls_async() -> t.Any:
        made.append(coroutine := asyncio.sleep(0))
        release.wait(WAIT)
        return coroutine

    tasks = AsyncTasks(lambda done: None, limit=1)
    tasks.start("a", calls_async)
    async with asyncio.timeout(WAIT):
        while not made:
            await asyncio.sleep(0.01)
    assert tasks.cancel("a")
    await asyncio.sleep(0)
    release.set()
    async with asyncio.timeout(WAIT):
        while inspect.getcoroutinestate(made[0]) != inspect.CORO_CLOSED:
            await asyncio.sleep(0.01)


async def test_async_callables_run_on_the_event_loop() -> None:
    async def where(tag: str) -> str:
        return f"{tag} {threading.current_thread().name}"

    class Where:
        async def __call__(self) -> str:
            return await where("callable")

    delivered: list[AsyncDone] = []
    tasks = AsyncTasks(delivered.append, limit=2)
    tasks.start("a", functools.partial(where, "partial"))
    tasks.start("b", Where())
    async with asyncio.timeout(WAIT):
        while len(delivered) < 2:
            await asyncio.sleep(0)
    loop = threading.current_thread().name
    assert {done.outcome.result for done in delivered} == {f"partial {loop}", f"callable {loop}"}


def test_the_http_render_only_shows_loading() -> None:
    socket: LiveViewSocket[dict[str, t.Any]] = LiveViewSocket(urlparse("http://h/"))
    socket.context = {"stats": AsyncResult(ok=True, result=1)}
    socket.assign_async("stats", gated)
    socket.start_async("job", gated)
    assert socket.context["stats"] == AsyncResult(ok=True, loading=True, result=1)
    assert not socket.cancel_async("job")
    socket.assign_async("stats", gated, reset=True)
    assert socket.context["stats"] == AsyncResult(loading=True)


def test_async_result_states() -> None:
    result: AsyncResult[int] = AsyncResult()
    assert not (result.ok or result.loading or result.failed)
    loading = result.with_loading()
    failed = loading.with_failure(Cancelled("x"))
    assert (failed.loading, failed.ok, str(failed.failed)) == (False, False, "x")
    done = failed.with_loading().with_ok(3)
    assert (done.ok, done.loading, done.failed, done.result) == (True, False, None, 3)


# -- hook replies --------------------------------------------------------------------


async def test_a_returned_dict_is_the_hook_reply() -> None:
    async with live(make_app(), "/stats") as view:
        assert await view.hook("copy", {"email": "x@y.z"}) == {"copied": "x@y.z", "at": "server"}
        assert await view.hook("patch") is None  # no dict: no reply


async def test_a_reply_that_is_not_a_dict_crashes_the_view() -> None:
    async with live(make_app(), "/stats") as view:
        with pytest.raises(ServerError, match="crash"):
            await view.hook("bad-reply")


async def test_protocol_the_reply_rides_in_the_diff_and_results_are_pushed() -> None:
    gates.value = "late"
    with serve(make_app()) as base_url:
        async with LiveClient.open(base_url, "/stats") as client:
            assert (await client.join())["status"] == "ok"
            reply = await client.push(
                "event", {"type": "hook", "event": "copy", "value": {"email": "a@b.c"}}
            )
            assert reply == {
                "status": "ok",
                "response": {"diff": {"r": {"copied": "a@b.c", "at": "server"}}},
            }
            reply = await client.push(
                "event", {"type": "hook", "event": "release-and-wait", "value": {}}
            )
            assert reply["status"] == "ok" and "r" not in reply["response"].get("diff", {})
            # The work's result arrives after the reply, as a pushed diff.
            async with asyncio.timeout(WAIT):
                while not any(f.event == "diff" for f in client.pushes):
                    client.pushes.append(await client.receive())
            diff = next(f for f in client.pushes if f.event == "diff").payload
            assert "late" in repr(diff)
{%- endraw %}
