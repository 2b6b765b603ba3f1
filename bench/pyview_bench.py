"""PyView's side of ``bench_realtime``'s broadcast section: the same page, served by PyView.

The view is the baked counter page (``counter.html``, without its flash group,
which PyView renders otherwise) plus the number of the last broadcast it received; it
subscribes to ``?topic=`` and ``publish`` broadcasts a number, as
``bench_realtime.BenchLive`` does. Served by ``uvicorn --factory
pyview_bench:create_app`` with the options ``bench_realtime`` gives its own.
"""

from __future__ import annotations

import gc
import typing as t

from pyview import ConnectedLiveViewSocket, LiveView, LiveViewSocket, PyView  # type: ignore[import-untyped]
from pyview.events import InfoEvent  # type: ignore[import-untyped]
from pyview.template import LiveRender, LiveTemplate  # type: ignore[import-untyped]
from pyview.vendor.ibis import Template  # type: ignore[import-untyped]
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness import TEMPLATE as TEMPLATE_ROOT

PAGE = "/bench"
# The baked counter page itself, but for its flash group (PyView renders flash otherwise).
COUNTER = (
    TEMPLATE_ROOT
    / "{{cookiecutter.project_slug}}/src/{{cookiecutter.package_name}}/templates/counter.html"
)
TEMPLATE = LiveTemplate(
    Template(
        COUNTER.read_text().replace('{% include "flash.html" %}', "")
        + '\n<p id="seq">{{ seq }}</p>'
    )
)

Context = dict[str, t.Any]


class BenchLive(LiveView[Context]):  # type: ignore[misc]
    """The counter, subscribed to ``?topic=`` when given; ``publish`` broadcasts a number."""

    async def mount(self, socket: LiveViewSocket[Context], session: dict[str, t.Any]) -> None:
        socket.context = {"count": 0, "step": 1, "seq": 0, "root_path": ""}

    async def handle_params(
        self, url: t.Any, params: dict[str, list[str]], socket: LiveViewSocket[Context]
    ) -> None:
        topic = params.get("topic", [""])[0]
        if topic and isinstance(socket, ConnectedLiveViewSocket):
            await socket.subscribe(topic)

    async def handle_event(
        self, event: str, payload: dict[str, t.Any], socket: ConnectedLiveViewSocket[Context]
    ) -> None:
        if event == "increment":
            socket.context["count"] += 1
        elif event == "publish":
            await socket.broadcast(payload["topic"], {"seq": int(payload["seq"])})

    async def handle_info(self, event: InfoEvent, socket: ConnectedLiveViewSocket[Context]) -> None:
        socket.context["seq"] = event.payload["seq"]

    async def render(self, assigns: Context, meta: t.Any) -> LiveRender:
        return LiveRender(TEMPLATE, assigns, meta)


async def collect(request: Request) -> JSONResponse:
    """As ``bench_realtime``'s: collect garbage now, so the RSS read next is settled."""
    gc.collect()
    return JSONResponse({"tasks": 0})


def create_app() -> PyView:
    """PyView's server for the bench (``uvicorn --factory``)."""
    app = PyView()
    app.add_live_view(PAGE, BenchLive)
    app.routes.append(Route("/_bench/gc", collect))
    return app
