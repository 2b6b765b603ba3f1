"""Churn leaves nothing behind: 500 connect → subscribe → schedule → track → disconnect
cycles, half leaving cleanly and half dropping the TCP connection, end with no scheduled
task, subscription, presence, channel or runtime task left in the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import typing as t
from collections.abc import AsyncIterator

import httpx
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from {{ cookiecutter.package_name }}.live import (
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
)
from {{ cookiecutter.package_name }}.live.presence import Presence
from {{ cookiecutter.package_name }}.live.pubsub.memory import MemoryPubSub
from {{ cookiecutter.package_name }}.live.transport import Transport

from live_client import TIMEOUT, LiveClient, fetch_page
from servers import serve

CYCLES = 500
RUNTIME = "{{ cookiecutter.package_name }}.live."
{%- raw %}
TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>{{ live_container }}",
    "busy.html": "<p>{{ ticks }}</p>",
}


class BusyLive(LiveView[dict[str, t.Any]]):
    """Starts everything a view can start, and ends nothing itself."""

    template_name = "busy.html"
    presence: t.ClassVar[Presence]

    async def mount(self, socket: LiveViewSocket[dict[str, t.Any]], session: t.Any) -> None:
        socket.context = {"ticks": 0}
        socket.schedule_info(InfoEvent("tick"), 0.05)
        socket.schedule_info_once(InfoEvent("later"), 30)
        await socket.subscribe("busy")
        await socket.subscribe("busy:more")
        await self.presence.track(socket, "busy", "user", {"name": "x"})

    async def handle_info(self, event: InfoEvent, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        socket.context["ticks"] += 1


def runtime_task(task: asyncio.Task[t.Any]) -> bool:
    """A task running the runtime's own code (a channel, a reader, a scheduled job)."""
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and "/live/" in code.co_filename


def make_app(pubsub: MemoryPubSub, presence: Presence) -> Starlette:
    routes = LiveRoutes(LiveEnvironment(loader=DictLoader(TEMPLATES)), "secret", pubsub=pubsub)
    routes.add("/busy", BusyLive)
    transports: list[Transport] = []

    async def endpoint(websocket: WebSocket) -> None:
        transport = Transport(websocket, routes)
        transports.append(transport)
        await transport.run()

    async def stats(request: Request) -> JSONResponse:
        """What the server still holds, counted in its own event loop."""
        runtime_tasks = [task for task in asyncio.all_tasks() if runtime_task(task)]
        return JSONResponse(
            {
                "channels": sum(len(transport.channels) for transport in transports),
                "subscribers": pubsub.subscribers("busy") + pubsub.subscribers("busy:more"),
                "presences": presence.tracked,
                "listed": len((await presence.list("busy")).get("user", [])),
                "runtime_tasks": len(runtime_tasks),
                "transports": len(transports),
            }
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with presence:
            yield

    return Starlette(
        routes=[
            WebSocketRoute("/live/websocket", endpoint),
            Route("/stats", stats),
            *routes.routes,
        ],
        middleware=[Middleware(SessionMiddleware, secret_key="secret")],
        lifespan=lifespan,
    )


async def test_churn_leaves_nothing_behind() -> None:
    pubsub = MemoryPubSub()
    presence = BusyLive.presence = Presence(pubsub)
    with serve(make_app(pubsub, presence), lifespan="on") as base_url:
        page = await fetch_page(base_url, "/busy")
        for cycle in range(CYCLES):
            async with LiveClient.connect(base_url, page) as client:
                assert (await client.join())["status"] == "ok"
                if cycle % 2:
                    assert (await client.leave())["status"] == "ok"
                else:
                    client.ws.transport.abort()  # the tab is gone: no leave, no close frame
        async with httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT) as http:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    stats = (await http.get("/stats")).json()
                    if not stats["channels"] and not stats["runtime_tasks"]:
                        break
                    await asyncio.sleep(0.05)
    assert stats == {
        "channels": 0,
        "subscribers": 0,
        "presences": 0,
        "listed": 0,
        "runtime_tasks": 0,
        "transports": CYCLES,
    }
{%- endraw %}
