"""A view that keeps crashing is rejoined more and more slowly: no crash loop.

The official client rejoins a crashed view a second after ``phx_error`` and
starts its backoff over at every successful join, so a view that crashes
soon after each join would crash once a second for as long as its page is
open. The runtime paces the socket's joins instead (``live/crashes.py``).
Served by a real uvicorn; the client is ``live_client``, frame by frame.
"""

from __future__ import annotations

import time
import typing as t
from collections.abc import Iterator

import pytest
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from {{ cookiecutter.package_name }}.live import (
    ConnectedLiveViewSocket,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
    is_connected,
)
from {{ cookiecutter.package_name }}.live.crashes import FIRST_DELAY, MAX_DELAY, QUICK, CrashPacing

from live_client import LiveClient, Reply
from servers import serve
{%- raw %}

TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>{{ live_container }}",
    "crashy.html": "<p id='n'>{{ n }}</p>",
}
{%- endraw %}


class Outage:
    """Whether the crashy view's "database" is down (set by the test, read by the server)."""

    down = False


class CrashyLive(LiveView[dict[str, t.Any]]):
    """Mounts while its "database" is up; crashes on ``boom``, as a failing query would."""

    template_name = "crashy.html"

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        if is_connected(socket) and Outage.down:
            raise ConnectionRefusedError("the database is down")
        socket.context = {"n": 0}

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[dict[str, t.Any]]
    ) -> None:
        raise ConnectionRefusedError("the database is down")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    routes = LiveRoutes(LiveEnvironment(loader=DictLoader(TEMPLATES)), "crash-secret")
    routes.add("/crashy", CrashyLive)
    app = Starlette(
        routes=routes.routes,
        middleware=[Middleware(SessionMiddleware, secret_key="crash-secret")],
    )
    with serve(app) as base_url:
        yield base_url


@pytest.fixture(autouse=True)
def database_up() -> Iterator[None]:
    Outage.down = False
    yield
    Outage.down = False


def status(reply: Reply) -> str:
    return reply["status"]


async def timed_join(client: LiveClient) -> tuple[Reply, float]:
    started = time.monotonic()
    reply = await client.join(mounts=1)
    return reply, time.monotonic() - started


async def test_a_view_that_keeps_crashing_rejoins_more_and_more_slowly(server: str) -> None:
    async with LiveClient.open(server, "/crashy") as client:
        assert status(await client.join()) == "ok"
        waits = []
        for _ in range(5):
            crashed = await client.click("boom")
            assert crashed == {"status": "error", "response": {"reason": "crash"}}
            reply, took = await timed_join(client)  # at once: the client's wait is not ours
            assert status(reply) == "ok"
            waits.append(took)
        expected = [0.0, FIRST_DELAY, 2 * FIRST_DELAY, 4 * FIRST_DELAY, MAX_DELAY]
        assert all(took >= wait for took, wait in zip(waits, expected, strict=True)), waits
        assert waits[0] < FIRST_DELAY  # the first crash is rejoined at once, as Phoenix does


async def test_a_mount_that_fails_is_refused_and_paced(server: str) -> None:
    """The client falls back to reloading the page with jitter; the socket's joins slow down."""
    async with LiveClient.open(server, "/crashy") as client:
        Outage.down = True
        replies = [await timed_join(client) for _ in range(3)]
        assert [reply for reply, _ in replies] == [
            {"status": "error", "response": {"reason": "crash"}}
        ] * 3
        assert replies[2][1] >= FIRST_DELAY
        Outage.down = False
        reply, took = await timed_join(client)
        assert status(reply) == "ok" and took >= 2 * FIRST_DELAY


async def test_another_socket_is_not_slowed(server: str) -> None:
    async with LiveClient.open(server, "/crashy") as crashing:
        assert status(await crashing.join()) == "ok"
        for _ in range(3):
            await crashing.click("boom")
            assert status(await crashing.join(mounts=1)) == "ok"
        async with LiveClient.open(server, "/crashy") as other:
            _, took = await timed_join(other)
            assert took < FIRST_DELAY * 2  # no pacing: at most a join's own time


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_streak_doubles_the_wait_up_to_its_cap() -> None:
    pacing = CrashPacing(Clock())
    delays = []
    for _ in range(7):
        pacing.crashed(alive=1.0)
        delays.append(pacing.delay())
    assert delays == [0.0, FIRST_DELAY, 2 * FIRST_DELAY, 4 * FIRST_DELAY] + [MAX_DELAY] * 3


def test_a_quiet_spell_or_a_long_life_starts_the_count_over() -> None:
    clock = Clock()
    pacing = CrashPacing(clock)
    for _ in range(4):
        pacing.crashed(alive=1.0)
    clock.now += QUICK + 1
    assert pacing.delay() == 0.0  # nothing crashed for a while: a navigation joins at once
    pacing.crashed(alive=1.0)
    assert pacing.streak == 1
    pacing.crashed(alive=0.0)
    pacing.crashed(alive=QUICK + 5)  # this one lived: a crash like any other, not a loop
    assert (pacing.streak, pacing.delay()) == (1, 0.0)
