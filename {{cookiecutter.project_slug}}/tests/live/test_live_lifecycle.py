"""The lifecycle contract (LIFECYCLE.md), end to end through the protocol.

A small app records every callback, so each test checks which callbacks ran,
in which order, with which socket, for what the browser did.
"""

from __future__ import annotations

import asyncio
import typing as t
from dataclasses import dataclass, replace
from urllib.parse import ParseResult

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
from {{ cookiecutter.package_name }}.live.testing import HTTPError, ServerError, live
{%- raw %}

Calls = list[tuple[str, t.Any]]
TEMPLATES = {
    "layout.html": "<html><head><meta name='csrf-token' content='{{ csrf_token }}'>"
    "<title>{{ title }}</title></head><body>{{ live_container }}</body></html>",
    "paged.html": "<p id='page'>{{ page }}</p><p id='sort'>{{ sort }}</p>"
    "<button id='next' phx-click='next'>next</button>"
    "<button id='slow' phx-click='slow'>slow</button>"
    "<button id='away' phx-click='away'>away</button>"
    "<button id='leave' phx-click='leave'>leave</button>"
    "<button id='unsendable' phx-click='unsendable'>unsendable</button>",
    "legacy.html": "<p id='flash'>{{ flash.get('info', '') }}</p><p id='got'>{{ got }}</p>"
    "<button id='b' phx-click='go' phx-value-n='7'>go</button>",
}


@dataclass
class Paging:
    page: int = 1
    sort: str = "id"


class PagedLive(LiveView[dict[str, t.Any]]):
    """Records every callback in ``calls`` (set per test)."""

    template_name = "paged.html"
    calls: t.ClassVar[Calls]

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        self.calls.append(("mount", is_connected(socket)))
        socket.context = {"page": 0, "sort": ""}

    async def handle_params(
        self, socket: LiveViewSocket[dict[str, t.Any]], paging: Paging, url: ParseResult
    ) -> None:
        self.calls.append(("params", (paging.page, paging.sort, url.path)))
        socket.context.update(page=paging.page, sort=paging.sort)

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[dict[str, t.Any]]
    ) -> None:
        self.calls.append(("event", event))
        if event == "next":
            await socket.push_patch("/paged", {"page": socket.context["page"] + 1})
        elif event == "slow":
            await asyncio.sleep(0.05)
            self.calls.append(("slow done", None))
        elif event == "away":
            socket.put_flash("info", "moved")
            await socket.push_navigate("/legacy")
        elif event == "unsendable":
            socket.push_event("at", {"when": object()})  # JSON cannot encode it
        elif event == "leave":
            socket.put_flash("info", "left")
            await socket.redirect("/legacy?q=full")

    async def disconnect(self, socket: ConnectedLiveViewSocket[dict[str, t.Any]]) -> None:
        self.calls.append(("disconnect", is_connected(socket)))


class LegacyLive(LiveView[dict[str, t.Any]]):
    """Both legacy signatures: names to lists of strings."""

    template_name = "legacy.html"
    calls: t.ClassVar[Calls]

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        socket.context = {"got": ""}

    async def handle_params(self, url, params, socket):  # type: ignore[no-untyped-def]
        self.calls.append(("legacy params", (url.path, params.get("q", ["-"])[0])))

    async def handle_event(self, event, payload, socket):  # type: ignore[no-untyped-def]
        self.calls.append(("legacy event", (event, payload)))
        socket.context["got"] = payload.get("n", "")  # a click's value, as sent


class BounceLive(PagedLive):
    """Sends a connected browser elsewhere from ``mount``."""

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        await super().mount(socket, session)
        if is_connected(socket):
            await socket.push_navigate("/legacy")


@pytest.fixture
def calls() -> Calls:
    recorded: Calls = []
    PagedLive.calls = LegacyLive.calls = recorded
    return recorded


@pytest.fixture
def app() -> Starlette:
    routes = LiveRoutes(LiveEnvironment(loader=DictLoader(TEMPLATES)), "secret")
    routes.add("/paged", PagedLive)
    routes.add("/legacy", LegacyLive)
    routes.add("/bounce", BounceLive)
    return Starlette(
        routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key="secret")]
    )


async def test_http_render_then_join_mount_twice_with_typed_params(
    app: Starlette, calls: Calls
) -> None:
    async with live(app, "/paged?page=2&sort=name", lifespan=False) as view:
        assert view.text("#page") == "2" and view.text("#sort") == "name"
    assert calls == [
        ("mount", False),
        ("params", (2, "name", "/paged")),
        ("mount", True),
        ("params", (2, "name", "/paged")),
        ("disconnect", True),
    ]


async def test_patches_call_handle_params_only(app: Starlette, calls: Calls) -> None:
    async with live(app, "/paged", lifespan=False) as view:
        calls.clear()
        await view.click("#next")  # push_patch from an event
        await view.patch("/paged?page=5")  # a live link or back/forward
        assert view.text("#page") == "5"
        assert view.path == "/paged?page=5"
    assert calls == [
        ("event", "next"),
        ("params", (2, "id", "/paged")),
        ("params", (5, "id", "/paged")),
        ("disconnect", True),
    ]


async def test_navigation_leaves_the_view_and_mounts_the_next(
    app: Starlette, calls: Calls
) -> None:
    async with live(app, "/paged", lifespan=False) as view:
        redirect = await view.click("#away")
        assert redirect is not None and redirect.to == "/legacy"
        await view.follow_redirect()
        assert ("disconnect", True) in calls  # the old view cleaned up on leave
        assert calls[-1] == ("legacy params", ("/legacy", "-"))
        await view.click("#b")
        assert view.text("#got") == "7"
    assert calls[-1] == ("legacy event", ("go", {"n": "7", "value": ""}))


async def test_one_sockets_messages_run_one_at_a_time_in_order(
    app: Starlette, calls: Calls
) -> None:
    async with live(app, "/paged", lifespan=False) as view:
        calls.clear()
        await asyncio.gather(view.click("#slow"), view.click("#next"))
    assert calls[:4] == [
        ("event", "slow"),
        ("slow done", None),
        ("event", "next"),
        ("params", (2, "id", "/paged")),
    ]


async def test_a_patch_whose_params_do_not_convert_loads_the_page_which_says_why(
    app: Starlette, calls: Calls
) -> None:
    async with live(app, "/paged?page=3", lifespan=False) as view:
        redirect = await view.patch("/paged?page=abc")
        assert redirect is not None and redirect.kind == "redirect"
        assert redirect.to == "http://testserver/paged?page=abc"
        assert calls[-1] == ("params", (3, "id", "/paged"))  # no handle_params ran with it
        with pytest.raises(HTTPError) as error:
            await view.follow_redirect()
        assert error.value.status_code == 400 and "&#39;page&#39;" in error.value.text


async def test_flash_follows_live_and_full_page_navigation(app: Starlette, calls: Calls) -> None:
    async with live(app, "/paged", lifespan=False) as view:
        await view.click("#away")  # push_navigate: the flash rides on the next join
        await view.follow_redirect()
        assert view.text("#flash") == "moved"
    async with live(app, "/paged", lifespan=False) as view:
        redirect = await view.click("#leave")  # redirect: the flash rides in a cookie
        assert redirect is not None and redirect.kind == "redirect" and redirect.flash
        await view.follow_redirect()
        assert view.path == "/legacy?q=full"
        assert view.text("#flash") == "left"
        assert calls[-1] == ("legacy params", ("/legacy", "full"))


async def test_a_forged_flash_is_ignored(app: Starlette, calls: Calls) -> None:
    async with live(app, "/paged", lifespan=False) as view:
        redirect = await view.click("#away")
        assert redirect is not None and redirect.flash
        # Tampered with: one character of the signed payload changed (the last
        # characters of a signature can carry unused bits, so not those).
        token = redirect.flash
        forged = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
        view.redirect = replace(redirect, flash=forged)
        await view.follow_redirect()
        assert view.text("#flash") == ""


async def test_a_join_refused_after_mount_still_disconnects(app: Starlette, calls: Calls) -> None:
    async with live(app, "/bounce", lifespan=False) as view:
        assert view.redirect is not None and view.redirect.to == "/legacy"
    assert calls == [
        ("mount", False),
        ("params", (1, "id", "/bounce")),
        ("mount", True),
        ("disconnect", True),  # mounted, then sent away: it cleans up all the same
    ]


async def test_a_reply_that_cannot_be_sent_crashes_the_view_not_the_socket(
    app: Starlette, calls: Calls
) -> None:
    async with live(app, "/paged?page=3", lifespan=False) as view:
        with pytest.raises(ServerError):
            await view.click("#unsendable")
        # The browser rejoins: a fresh mount, and the socket works on.
        await view.click("#next")
        assert view.text("#page") == "4"
    assert calls.count(("mount", True)) == 2
{%- endraw %}
