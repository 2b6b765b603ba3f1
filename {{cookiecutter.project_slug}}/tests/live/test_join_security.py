"""Who may open the socket and join a view: Origin, session tokens, join URLs.

A page's ``data-phx-session`` token lets a join mount a view with the
session the HTTP render saw, so it must be good for nothing else: not for
another container, another view, another browser session, or after it
expired. The socket itself is refused to pages of other sites.
"""

from __future__ import annotations

import dataclasses
import typing as t
from urllib.parse import urlencode

import pytest
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from {{ cookiecutter.package_name }}.live import LiveConfig, LiveEnvironment, LiveRoutes, LiveView
from {{ cookiecutter.package_name }}.live.session import (
    InvalidToken,
    LiveSession,
    SessionTokens,
    browser_digest,
)
from {{ cookiecutter.package_name }}.live.testing import ServerError, live, scaled
from {{ cookiecutter.package_name }}.live.testing.asgi import WebSocket, websocket_scope
from {{ cookiecutter.package_name }}.live.testing.errors import LiveTestError

from live_client import TIMEOUT, VSN, LiveClient, fetch_page
{%- raw %}


def error(reply: t.Any) -> dict[str, t.Any]:
    assert reply["status"] == "error", reply
    return t.cast(dict[str, t.Any], reply["response"])


def at(client: LiveClient, url: str) -> None:
    """Make the client's next join claim ``url`` (as a tampered client could)."""
    client.page = dataclasses.replace(client.page, url=url)


# -- the session token -------------------------------------------------------


async def test_a_pages_token_joins_only_its_own_view(live_server: str) -> None:
    async with LiveClient.open(live_server, "/") as client:
        at(client, f"{live_server}/counter")
        assert error(await client.join()) == {"reason": "unauthorized"}
        at(client, f"{live_server}/")
        assert (await client.join())["status"] == "ok"


async def test_a_token_joins_only_its_own_container(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        assert error(await client.join(topic="lv:phx-another")) == {"reason": "unauthorized"}
        assert (await client.join())["status"] == "ok"


async def test_a_token_of_another_browser_session_is_refused(live_server: str) -> None:
    async with LiveClient.open(live_server) as mine, LiveClient.open(live_server) as theirs:
        # Their token, on my socket with my cookie and my CSRF token, and my topic id.
        stolen = theirs.page.session
        at(mine, theirs.page.url)
        mine.page = dataclasses.replace(mine.page, container_id=theirs.page.container_id)
        assert error(await mine.join(session=stolen)) == {"reason": "unauthorized"}


async def test_live_navigation_may_reach_any_view_of_the_app(live_server: str) -> None:
    # As Phoenix's live_session: a redirect join names the view by its URL.
    async with LiveClient.open(live_server, "/") as client:
        assert (await client.join(redirect="/counter"))["status"] == "ok"


def test_an_expired_token_is_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = SessionTokens("secret", max_age=60)
    clock = [1_000_000.0]
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: clock[0])
    cookie = {"_csrf_token": "csrf"}
    token = tokens.issue(LiveSession("phx-1", "view", browser_digest(cookie), {}, {}))
    assert tokens.verify(token, cookie).container_id == "phx-1"
    clock[0] += 61
    with pytest.raises(InvalidToken) as expired:
        tokens.verify(token, cookie)
    assert expired.value.reason == "stale"


class Plain(LiveView[dict[str, t.Any]]):
    template_name = "plain.html"

    async def mount(self, socket: t.Any, session: dict[str, t.Any]) -> None:
        socket.context = {}


def small_app(**config: t.Any) -> Starlette:
    routes = LiveRoutes(
        LiveEnvironment(
            loader=DictLoader(
                {
                    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>"
                    "{{ live_container }}",
                    "plain.html": "<p>plain</p>",
                }
            )
        ),
        "secret",
        config=LiveConfig(**config),
    )
    routes.add("/", Plain)
    return Starlette(
        routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key="secret")]
    )


async def test_a_join_with_an_expired_token_is_refused_as_stale() -> None:
    with pytest.raises(ServerError, match="stale"):
        async with live(small_app(session_max_age=-1), "/", lifespan=False):
            pass


# -- the join's URL ------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://[abc", "http://127.0.0.1:99999/counter"])
async def test_a_malformed_url_is_an_error_reply(live_server: str, url: str) -> None:
    async with LiveClient.open(live_server) as client:
        at(client, url)
        assert error(await client.join()) == {"reason": "invalid url"}
        at(client, f"{live_server}/counter")
        assert (await client.join())["status"] == "ok"  # the socket lives on


@pytest.mark.parametrize(
    "url", ["http://evil.example/counter", "ftp://127.0.0.1/counter", "/counter", "counter"]
)
async def test_a_url_of_another_site_is_refused(live_server: str, url: str) -> None:
    async with LiveClient.open(live_server) as client:
        at(client, url)
        assert error(await client.join()) == {"reason": "unauthorized"}


async def test_a_patch_to_another_origin_is_never_a_patch(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        assert (await client.join())["status"] == "ok"
        host = live_server.split("//")[1]
        for url in ("http://evil.example/counter?count=1", f"https://{host}/counter?count=1"):
            reply = await client.push("live_patch", {"url": url})
            assert reply == {"status": "ok", "response": {"link_redirect": True}}


# -- Origin ------------------------------------------------------------------


async def open_socket(base_url: str, origin: str | None) -> None:
    """Open the page's socket with ``origin`` (None: no Origin header, as non-browsers)."""
    page = await fetch_page(base_url, "/counter")
    query = urlencode({"_csrf_token": page.csrf_token, "vsn": VSN})
    url = base_url.replace("http", "ws", 1) + f"/live/websocket?{query}"
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in page.cookies.items())}
    if origin is not None:
        headers["Origin"] = origin
    async with connect(url, additional_headers=headers, open_timeout=TIMEOUT) as ws:
        await ws.send('[null,"1","phoenix","heartbeat",{}]')
        assert '"status":"ok"' in t.cast(str, await ws.recv())


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://127.0.0.1.evil.example", "file://"]
)
async def test_a_foreign_origin_is_refused(
    live_server: str, origin: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(live_server, origin)
    assert refused.value.response.status_code == 403
    assert any("origin" in record.getMessage() for record in caplog.records)


async def test_the_pages_own_origin_and_no_origin_are_accepted(live_server: str) -> None:
    await open_socket(live_server, live_server)
    await open_socket(live_server, None)


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        ("https://app.example.com", True),
        ("HTTPS://APP.EXAMPLE.COM", True),
        ("https://app.example.com:8443", False),
        ("http://app.example.com", False),
        ("http://testserver", True),  # the socket's own host
    ],
)
async def test_allowed_origins_extend_the_pages_own(origin: str, accepted: bool) -> None:
    app = small_app(allowed_origins=("https://app.example.com",))
    scope = websocket_scope("testserver", "/live/websocket", {}, "")
    scope["headers"] = [(b"host", b"testserver"), (b"origin", origin.encode())]
    socket = WebSocket(app, scope)
    if accepted:
        await socket.connect(timeout=scaled(10.0))
        await socket.close(timeout=scaled(10.0))
    else:
        with pytest.raises(LiveTestError, match="did not accept"):
            await socket.connect(timeout=scaled(10.0))


@pytest.mark.parametrize(
    ("host", "origin", "accepted"),
    [
        ("app.example.com", "https://app.example.com", True),
        ("App.Example.com", "http://app.example.COM", True),
        ("app.example.com:8000", "http://app.example.com:8000", True),
        ("app.example.com", "https://app.example.com.evil.net", False),  # extends the host
        ("app.example.com", "https://evil.app.example.com", False),  # ends with it
        ("app.example.com", "https://app.example.co", False),  # begins it
        ("app.example.com", "https://user@app.example.com", False),
        ("app.example.com", "https://app.example.com:8000", False),
        ("app.example.com:8000", "https://app.example.com", False),
        ("app.example.com:8000", "https://app.example.com:80001", False),
        (None, "https://app.example.com", False),  # no Host: no page of its own to compare
        (None, "https://", False),  # nor an empty one
    ],
)
async def test_the_pages_own_origin_is_its_exact_host_and_port(
    host: str | None, origin: str, accepted: bool
) -> None:
    scope = websocket_scope("testserver", "/live/websocket", {}, "")
    scope["headers"] = [(b"origin", origin.encode())]
    if host is not None:
        scope["headers"].append((b"host", host.encode()))
    socket = WebSocket(small_app(), scope)
    if accepted:
        await socket.connect(timeout=scaled(10.0))
        await socket.close(timeout=scaled(10.0))
    else:
        with pytest.raises(LiveTestError, match="did not accept"):
            await socket.connect(timeout=scaled(10.0))
{%- endraw %}
