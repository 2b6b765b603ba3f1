"""Navigation stays on this site unless a view leaves it on purpose.

``push_patch``, ``push_navigate`` and ``redirect`` take local paths only, in
every spelling a browser would read as another host; ``redirect_external``
is the one explicit way out. ``push_event`` works awaited or not.
"""

from __future__ import annotations

import logging
import typing as t
from urllib.parse import urlparse

import httpx
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
    UnsafeRedirect,
)
from {{ cookiecutter.package_name }}.live.socket import Navigation
from {{ cookiecutter.package_name }}.live.testing import PushedEvent, Redirect, ServerError, live
{%- raw %}

SECRET = "test-secret-for-navigation"
Method = t.Literal["push_patch", "push_navigate", "redirect"]
LOCAL_METHODS: list[Method] = ["push_patch", "push_navigate", "redirect"]
KINDS: dict[Method, t.Literal["patch", "navigate", "redirect"]] = {
    "push_patch": "patch",
    "push_navigate": "navigate",
    "redirect": "redirect",
}

# Each is another site (or not a path) to a browser: scheme, host, a backslash
# read as "/", or a control character that browsers drop or that splits a header.
HOSTILE_TARGETS = [
    "https://evil.example/",
    "HTTP://evil.example",
    "http:evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "/ok\\..\\..\\evil",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    " //evil.example",
    "\t//evil.example",
    "\x00//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\nSet-Cookie: a=b",
    "/\x7f",
    "evil.example",
    "?page=2",
    "",
]
# Percent-escapes are part of the path: browsers do not decode them to find a host.
LOCAL_TARGETS = [
    "/",
    "/items?page=2#top",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%09/evil.example",
    "/search?next=//evil.example",
    "/café",
]
EXTERNAL_TARGETS = [
    "https://example.com",
    "http://example.com:8080/a?b=1#c",
    "HTTPS://Example.COM/docs",
    "https://[::1]:8443/",
]
NOT_EXTERNAL_TARGETS = [
    "javascript:alert(1)",
    "data:text/html,x",
    "ftp://example.com/",
    "//evil.example",
    "/local/path",
    "https:evil.example",
    "https://",
    "https:///path",
    " https://example.com",
    "https://example.com/\r\nSet-Cookie: a=b",
    "https://good.example\\@evil.example",
    "http://[::1",
    "",
]


def socket() -> LiveViewSocket[None]:
    return LiveViewSocket(urlparse("http://testserver/here"))


async def navigate(socket: LiveViewSocket[None], method: Method, target: str) -> None:
    await getattr(socket, method)(target)


# -- the socket ----------------------------------------------------------------


@pytest.mark.parametrize("method", LOCAL_METHODS)
@pytest.mark.parametrize("target", HOSTILE_TARGETS)
async def test_local_navigation_refuses_another_site(method: Method, target: str) -> None:
    sock = socket()
    with pytest.raises(UnsafeRedirect) as error:
        await navigate(sock, method, target)
    assert str(error.value).startswith(f"{method}() takes a path on this site, such as ")
    assert f"not {target!r}:" in str(error.value)
    assert "socket.redirect_external(url)" in str(error.value)
    assert sock.navigation is None


@pytest.mark.parametrize("method", LOCAL_METHODS)
@pytest.mark.parametrize("target", LOCAL_TARGETS)
async def test_local_navigation_accepts_paths(method: Method, target: str) -> None:
    sock = socket()
    await navigate(sock, method, target)
    assert sock.navigation == Navigation(KINDS[method], target)


async def test_params_are_added_to_a_checked_path() -> None:
    sock = socket()
    await sock.push_patch("/items?sort=name", {"page": 2, "tag": ["a b", "c"]}, replace=True)
    assert sock.navigation == Navigation("patch", "/items?sort=name&page=2&tag=a+b&tag=c", True)
    with pytest.raises(UnsafeRedirect):
        await sock.push_navigate("//evil.example", {"page": 2})


def test_unsafe_redirect_is_a_value_error() -> None:
    assert issubclass(UnsafeRedirect, ValueError)


async def test_a_long_refused_url_is_cut_in_the_message() -> None:
    with pytest.raises(UnsafeRedirect) as error:
        await socket().redirect("//" + "e" * 10_000)
    assert f"not {'//' + 'e' * 198!r}…:" in str(error.value)
    assert len(str(error.value)) < 500


@pytest.mark.parametrize("target", EXTERNAL_TARGETS)
async def test_redirect_external_accepts_http_and_https(target: str) -> None:
    sock = socket()
    await sock.redirect_external(target)
    assert sock.navigation == Navigation("redirect", target)


@pytest.mark.parametrize("target", NOT_EXTERNAL_TARGETS)
async def test_redirect_external_refuses_anything_else(target: str) -> None:
    sock = socket()
    with pytest.raises(UnsafeRedirect) as error:
        await sock.redirect_external(target)
    assert str(error.value) == (
        "redirect_external() takes an absolute http or https URL, such as "
        f"'https://example.com/docs', not {target!r}."
    )
    assert sock.navigation is None


async def test_push_event_works_awaited_or_not() -> None:
    sock = socket()
    await sock.push_event("saved", {"id": 1})
    sock.push_event("plain")
    assert sock.pushed_events == [["saved", {"id": 1}], ["plain", {}]]


# -- through the protocol ------------------------------------------------------------

TEMPLATES = {
    "layout.html": "<html><head><meta name='csrf-token' content='{{ csrf_token }}'>"
    "</head><body>{{ live_container }}</body></html>",
    "leaver.html": "<button id='docs' phx-click='docs'>docs</button>"
    "<button id='hostile' phx-click='hostile' phx-value-to='//evil.example/login'>x</button>"
    "<button id='push' phx-click='push'>push</button>",
}


class LeaverLive(LiveView[None]):
    template_name = "leaver.html"

    async def mount(self, socket: LiveViewSocket[None], session: dict[str, t.Any]) -> None:
        if socket.url.path == "/away":
            await socket.redirect_external("https://example.com/login?next=%2F")

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[None], to: str = ""
    ) -> None:
        if event == "docs":
            await socket.redirect_external("https://example.com/docs?from=app")
        elif event == "hostile":
            await socket.push_patch(to)  # a target taken from the browser
        elif event == "push":
            await socket.push_event("saved", {"id": 1})
            socket.push_event("plain")


@pytest.fixture
def app() -> Starlette:
    routes = LiveRoutes(LiveEnvironment(loader=DictLoader(TEMPLATES)), SECRET)
    routes.add("/leaver", LeaverLive)
    routes.add("/away", LeaverLive)
    return Starlette(
        routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key=SECRET)]
    )


async def test_an_external_redirect_reaches_the_client_as_a_redirect(app: Starlette) -> None:
    async with live(app, "/leaver", lifespan=False) as view:
        redirect = await view.click("#docs")
        assert redirect == Redirect("https://example.com/docs?from=app", "redirect")


async def test_an_external_redirect_from_the_http_render_is_a_302(app: Starlette) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/away")
    assert response.status_code == 302
    assert response.headers["location"] == "https://example.com/login?next=%2F"
    async with live(app, "/away", lifespan=False) as view:
        assert view.redirect == Redirect("https://example.com/login?next=%2F", "redirect")


async def test_a_hostile_patch_target_crashes_the_view(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    async with live(app, "/leaver", lifespan=False) as view:
        with caplog.at_level(logging.ERROR), pytest.raises(ServerError) as error:
            await view.click("#hostile")
        assert error.value.reason == "crash"
        assert view.redirect is None
        assert view.path == "/leaver"
    refused = [r.exc_info[1] for r in caplog.records if r.exc_info and r.exc_info[1]]
    assert [type(exception) for exception in refused] == [UnsafeRedirect]
    assert "'//evil.example/login'" in str(refused[0])


async def test_push_event_reaches_the_client_awaited_or_not(app: Starlette) -> None:
    async with live(app, "/leaver", lifespan=False) as view:
        await view.click("#push")
        assert view.pushed_events == [PushedEvent("saved", {"id": 1}), PushedEvent("plain", {})]
{%- endraw %}
