"""The connection around views: an app under a path prefix, closing with work in flight,
and the app's resources reaching views.
"""

from __future__ import annotations

import asyncio
import contextlib
import typing as t
from collections.abc import AsyncIterator

import httpx
import pytest
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount

from {{ cookiecutter.package_name }}.live import (
    ConnectedLiveViewSocket,
    LiveConfig,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
    is_connected,
)
from {{ cookiecutter.package_name }}.live.testing import live, scaled
{%- raw %}

Calls = list[t.Any]
TEMPLATES = {
    "layout.html": "<html><head><meta name='csrf-token' content='{{ csrf_token }}'>"
    "<link rel='stylesheet' href='{{ root_path }}/static/app.css'></head>"
    "<body>{{ live_container }}</body></html>",
    "work.html": "<p id='page'>{{ page }}</p><p id='resource'>{{ resource }}</p>"
    "<button id='next' phx-click='next'>next</button>"
    "<button id='away' phx-click='away'>away</button>"
    "<button id='slow' phx-click='slow'>slow</button>"
    "<button id='stuck' phx-click='stuck'>stuck</button>",
    "other.html": "<p id='other'>other</p>",
}


class WorkLive(LiveView[dict[str, t.Any]]):
    template_name = "work.html"
    calls: t.ClassVar[Calls] = []

    async def mount(self, socket: LiveViewSocket[dict[str, t.Any]], session: t.Any) -> None:
        # The app's lifespan state, as Starlette gives it to requests.
        resource = getattr(socket.state, "resource", "none")
        self.calls.append(("mount", is_connected(socket), resource))
        socket.context = {"page": 1, "resource": resource}

    async def handle_params(self, socket: LiveViewSocket[dict[str, t.Any]], page: int = 1) -> None:
        socket.context["page"] = page
        if page == 0:
            await socket.push_patch("/work", {"page": 1})

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[dict[str, t.Any]]
    ) -> None:
        self.calls.append(("event", event))
        if event == "next":
            await socket.push_patch("/work", {"page": socket.context["page"] + 1})
        elif event == "away":
            await socket.push_navigate("/other")
        elif event == "slow":
            await asyncio.sleep(0.2)  # a database write, say
            self.calls.append(("slow done", None))
        elif event == "stuck":
            await asyncio.sleep(30)
            self.calls.append(("stuck done", None))

    async def disconnect(self, socket: ConnectedLiveViewSocket[dict[str, t.Any]]) -> None:
        self.calls.append(("disconnect", None))


class OtherLive(LiveView[dict[str, t.Any]]):
    template_name = "other.html"

    async def mount(self, socket: LiveViewSocket[dict[str, t.Any]], session: t.Any) -> None:
        socket.context = {}


def make_app(**config: t.Any) -> Starlette:
    routes = LiveRoutes(
        LiveEnvironment(loader=DictLoader(TEMPLATES)), "secret", config=LiveConfig(**config)
    )
    routes.add("/work", WorkLive)
    routes.add("/other", OtherLive)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, t.Any]]:
        yield {"resource": "the database"}

    return Starlette(
        routes=routes.routes,
        middleware=[Middleware(SessionMiddleware, secret_key="secret")],
        lifespan=lifespan,
    )


@pytest.fixture
def calls() -> Calls:
    WorkLive.calls = []
    return WorkLive.calls


# -- resources ---------------------------------------------------------------


async def test_views_reach_the_lifespan_state(calls: Calls) -> None:
    async with live(make_app(), "/work") as view:
        assert view.text("#resource") == "the database"
    assert calls[:2] == [("mount", False, "the database"), ("mount", True, "the database")]


# -- under a path prefix -------------------------------------------------------


def prefixed() -> Starlette:
    return Starlette(routes=[Mount("/prefix", app=make_app())])


async def test_an_app_under_a_prefix_renders_and_joins(calls: Calls) -> None:
    app = prefixed()
    async with live(app, "/prefix/work?page=2", socket_path="/prefix/live/websocket") as view:
        assert view.text("#page") == "2"
        await view.click("#next")  # push_patch("/work") is sent as /prefix/work
        assert view.path == "/prefix/work?page=3"
        assert view.text("#page") == "3"
        await view.patch("/prefix/work?page=7")
        assert view.text("#page") == "7"
        redirect = await view.click("#away")
        assert redirect is not None and redirect.to == "/prefix/other"
        await view.follow_redirect()
        assert view.text("#other") == "other"


async def test_the_http_render_under_a_prefix(calls: Calls) -> None:
    transport = httpx.ASGITransport(app=prefixed())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        page = await http.get("/prefix/work")
        assert page.status_code == 200
        assert "href='/prefix/static/app.css'" in page.text
        patched = await http.get("/prefix/work?page=0")  # patches during the HTTP render
        assert patched.status_code == 302
        assert patched.headers["location"] == "/prefix/work?page=1"
        assert (await http.get("/work")).status_code == 404


# -- closing with work in flight -----------------------------------------------


async def wait_for(calls: Calls, call: t.Any) -> None:
    async with asyncio.timeout(scaled(10.0)):
        while call not in calls:
            await asyncio.sleep(0.005)


async def test_a_running_handler_finishes_before_disconnect(calls: Calls) -> None:
    async with live(make_app(), "/work") as view:
        slow = asyncio.create_task(view.click("#slow"))
        await wait_for(calls, ("event", "slow"))
        queued = asyncio.create_task(view.click("#next"))
        await asyncio.sleep(0.01)
        await view.close()
        for task in (slow, queued):
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    # The running handler finished its work, then disconnect ran, once; the
    # queued click was dropped, as Phoenix drops a dead channel's mailbox.
    assert calls[-3:] == [("event", "slow"), ("slow done", None), ("disconnect", None)]
    assert ("event", "next") not in calls


async def test_a_handler_outliving_the_grace_is_cancelled(calls: Calls) -> None:
    async with live(make_app(close_grace=0.05), "/work") as view:
        stuck = asyncio.create_task(view.click("#stuck"))
        await wait_for(calls, ("event", "stuck"))
        async with asyncio.timeout(scaled(10.0)):
            await view.close()
        stuck.cancel()
        await asyncio.gather(stuck, return_exceptions=True)
    assert calls[-2:] == [("event", "stuck"), ("disconnect", None)]
{%- endraw %}
