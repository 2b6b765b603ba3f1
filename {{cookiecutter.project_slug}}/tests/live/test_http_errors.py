"""An ``HTTPException`` raised by a view is its status page, however the view is reached.

A view raises one when the URL names nothing (a deleted record): the HTTP
render answers with that status in the app's layout; a live navigation's
join answers ``reason: "reload"`` with the status, as Phoenix does, so the
official client loads the page and shows it; a live patch is a page load too.
"""

from __future__ import annotations

import logging
import typing as t

import pytest
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
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
from {{ cookiecutter.package_name }}.live.testing import HTTPError, Redirect, ServerError, live
{%- raw %}

SECRET = "test-secret-for-http-errors"
TEMPLATES = {
    "layout.html": '<meta name="csrf-token" content="{{ csrf_token }}">{{ live_container }}',
    "error.html": (
        '<p class="status">{{ status }}</p><h1>{{ title }}</h1><p class="message">{{ message }}</p>'
    ),
    "thing.html": (
        '<p id="thing">Thing {{ id }}</p><a id="go" href="/things/{{ id + 1 }}"'
        ' data-phx-link="patch" data-phx-link-state="push">next</a>'
    ),
}
MISSING = {3}  # the things that do not exist
GONE_WHEN_CONNECTED = {5}  # found by the HTTP render, not by the connected mount
UNNAMED = {7}  # raise a status HTTP has no name for


Thing = dict[str, int]


class ThingLive(LiveView[Thing]):
    template_name = "thing.html"

    async def mount(self, socket: LiveViewSocket[Thing], session: dict[str, t.Any]) -> None:
        socket.context = {"id": 0}

    async def handle_params(self, socket: LiveViewSocket[Thing], id: int) -> None:
        if id in MISSING or id in GONE_WHEN_CONNECTED and is_connected(socket):
            raise HTTPException(404, f"There is no thing {id}.")
        if id in UNNAMED:
            raise HTTPException(499, "The client went away.")
        socket.context["id"] = id

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[Thing], to: int
    ) -> None:
        await socket.push_navigate(f"/things/{to}")


@pytest.fixture
def app() -> Starlette:
    routes = LiveRoutes(LiveEnvironment(loader=DictLoader(TEMPLATES)), SECRET)
    routes.add("/things/{id:int}", ThingLive)
    return Starlette(
        routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key=SECRET)]
    )


async def test_the_http_render_is_the_status_page(app: Starlette) -> None:
    with pytest.raises(HTTPError) as raised:
        async with live(app, "/things/3", lifespan=False):
            pass
    assert raised.value.status_code == 404
    assert '<p class="status">404</p><h1>Not Found</h1>' in raised.value.text
    assert '<p class="message">There is no thing 3.</p>' in raised.value.text


async def test_a_live_navigation_to_it_loads_the_status_page(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    async with live(app, "/things/2", lifespan=False) as view:
        await view.hook("go", {"to": 3})
        assert view.redirect == Redirect("/things/3", "live_redirect")
        with caplog.at_level(logging.ERROR), pytest.raises(HTTPError) as raised:
            await view.follow_redirect()  # the join says reload; the page load says 404
    assert raised.value.status_code == 404
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_live_patch_to_it_is_a_page_load(app: Starlette) -> None:
    async with live(app, "/things/2", lifespan=False) as view:
        redirect = await view.click("#go")
        assert redirect == Redirect("http://testserver/things/3", "redirect")
        with pytest.raises(HTTPError) as raised:
            await view.follow_redirect()
    assert raised.value.status_code == 404


async def test_a_status_http_does_not_name_is_an_error_page(app: Starlette) -> None:
    with pytest.raises(HTTPError) as raised:
        async with live(app, "/things/7", lifespan=False):
            pass
    assert raised.value.status_code == 499
    assert "<h1>Error</h1>" in raised.value.text


async def test_a_page_whose_connected_mount_keeps_failing_is_reloaded_once(
    app: Starlette,
) -> None:
    """The page renders, its join says reload, the reloaded page's join says it again: stop."""
    with pytest.raises(ServerError) as raised:
        async with live(app, "/things/5", lifespan=False):
            pass
    assert raised.value.reason == "reload"
{%- endraw %}
