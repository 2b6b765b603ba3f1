"""Bursts over real sockets: a flood of writes on one socket never crashes another's view.

One client floods its own view with writes, each broadcast on a topic; a
bystander's view on another socket hears every broadcast but handles them
slower than they come. The bystander's view must never crash (no
``phx_error``), must answer its own person meanwhile, and must end showing
the latest write: broadcasts it could not keep up with were coalesced, not
queued without end. On each pub/sub backend: in this process, and over Redis.
"""

from __future__ import annotations

import asyncio
import typing as t
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

import pubsub_support
from {{ cookiecutter.package_name }}.live import (
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
    UnhandledEvent,
)
from {{ cookiecutter.package_name }}.live.pubsub import PubSub
from {{ cookiecutter.package_name }}.live.pubsub.memory import MemoryPubSub
from {{ cookiecutter.package_name }}.live.pubsub.redis import RedisPubSub
from {{ cookiecutter.package_name }}.live.testing import Rendered, scaled

from live_client import LiveClient
from servers import serve
{%- raw %}

WRITES = 400  # more than a view's mailbox (64) many times over
TOPIC = "writes"
WAIT = scaled(30.0)  # seconds for the bystander to catch up on a busy machine
TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>{{ live_container }}",
    "reader.html": "<p id='last'>{{ last }}</p><p id='pings'>{{ pings }}</p>",
    "writer.html": "<p id='written'>{{ written }}</p>",
}


class ReaderLive(LiveView[dict[str, t.Any]]):
    """Shows the last write it heard, and handles each broadcast slower than they come."""

    template_name = "reader.html"
    heard: t.ClassVar[list[int]] = []
    mounts: t.ClassVar[int] = 0  # connected mounts: a crashed view mounts again

    async def mount(self, socket: LiveViewSocket[dict[str, t.Any]], session: t.Any) -> None:
        socket.context = {"last": -1, "pings": 0}
        if isinstance(socket, ConnectedLiveViewSocket):
            type(self).mounts += 1
            await socket.subscribe(TOPIC)

    async def handle_event(self, event: str, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        if event != "ping":
            raise UnhandledEvent(event)
        socket.context["pings"] += 1

    async def handle_info(self, event: InfoEvent, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        self.heard.append(event.payload["n"])
        socket.context["last"] = event.payload["n"]
        await asyncio.sleep(0.005)  # a database read, say: slower than the writes arrive


class WriterLive(LiveView[dict[str, t.Any]]):
    """Each ``write`` broadcasts its number, as a save broadcasts that something changed."""

    template_name = "writer.html"

    async def mount(self, socket: LiveViewSocket[dict[str, t.Any]], session: t.Any) -> None:
        socket.context = {"written": 0}

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[t.Any], n: int = 0
    ) -> None:
        await socket.broadcast(TOPIC, {"n": n})
        socket.context["written"] = n


def make_app(pubsub: PubSub) -> Starlette:
    routes = LiveRoutes(LiveEnvironment(loader=DictLoader(TEMPLATES)), "secret", pubsub=pubsub)
    routes.add("/reader", ReaderLive)
    routes.add("/writer", WriterLive)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with pubsub:  # started in the server's own event loop
            yield

    return Starlette(
        routes=routes.routes,
        middleware=[Middleware(SessionMiddleware, secret_key="secret")],
        lifespan=lifespan,
    )


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_a_flood_of_writes_on_one_socket_never_crashes_a_bystanders_view(
    backend: str, prefix: str
) -> None:
    ReaderLive.heard, ReaderLive.mounts = [], 0
    url = pubsub_support.redis_url()
    pubsub = MemoryPubSub() if backend == "memory" else RedisPubSub(url, prefix=prefix)
    with serve(make_app(pubsub), lifespan="on") as base_url:
        async with (
            LiveClient.open(base_url, "/reader") as bystander,
            LiveClient.open(base_url, "/writer", max_queue=None) as flooder,
        ):
            joined = await bystander.join()
            assert joined["status"] == "ok"
            page = Rendered(joined["response"]["rendered"])
            assert (await flooder.join())["status"] == "ok"
            # The flood: writes pushed back to back, no reply awaited.
            for n in range(WRITES):
                value = {"value": "", "n": str(n)}
                await flooder.send(
                    flooder.join_ref,
                    flooder.next_ref(),
                    flooder.page.topic,
                    "event",
                    {"type": "click", "event": "write", "value": value},
                )
            # Meanwhile the bystander's person is answered, by the same view.
            assert (await bystander.heartbeat())["status"] == "ok"
            assert (await bystander.click("ping"))["status"] == "ok"
            async with asyncio.timeout(WAIT):
                while f"<p id='last'>{WRITES - 1}</p>" not in page.html:
                    pushes = bystander.pushes
                    frame = pushes.pop(0) if pushes else await bystander.receive(WAIT)
                    assert frame.event != "phx_error", "the bystander's view crashed"
                    if frame.event == "diff":
                        page.merge(Rendered.extract(frame.payload).diff)
    assert ReaderLive.mounts == 1  # the same view all along
    heard = ReaderLive.heard
    assert heard == sorted(heard) and heard[-1] == WRITES - 1  # in order, the latest last
{%- endraw %}
