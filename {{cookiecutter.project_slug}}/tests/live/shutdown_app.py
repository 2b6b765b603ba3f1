"""An app for the shutdown test, run by uvicorn in a process of its own.

Its view schedules a job and subscribes; ``disconnect`` writes what was still
running into the file ``SHUTDOWN_LOG`` names, so the test can see that a
SIGTERM closed the view cleanly.
"""

from __future__ import annotations

import os
import typing as t
from pathlib import Path

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
{%- raw %}

TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>{{ live_container }}",
    "busy.html": "<p id='ticks'>{{ ticks }}</p>",
}


class BusyLive(LiveView[dict[str, t.Any]]):
    template_name = "busy.html"

    async def mount(self, socket: LiveViewSocket[dict[str, t.Any]], session: t.Any) -> None:
        socket.context = {"ticks": 0}
        socket.schedule_info(InfoEvent("tick"), 0.05)
        await socket.subscribe("news")

    async def handle_info(self, event: InfoEvent, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        socket.context["ticks"] += 1

    async def disconnect(self, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        with Path(os.environ["SHUTDOWN_LOG"]).open("a") as log:
            log.write(f"disconnect jobs={socket.jobs} subscriptions={socket.subscriptions}\n")


routes = LiveRoutes(LiveEnvironment(loader=DictLoader(TEMPLATES)), "secret")
routes.add("/busy", BusyLive)
app = Starlette(
    routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key="secret")]
)
{%- endraw %}
