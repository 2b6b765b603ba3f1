"""The state rules of a channel (one ``lv:`` topic), each of which a plausible bug breaks.

A stale ``join_ref`` is refused; the page's flash shows on the first join
only; pushed events go out once; a rejoin replaces the view; endless patches
crash the view, not the socket; heartbeats are matched on topic and event;
frames with fields of the wrong type are refused; a socket holds a bounded
number of channels and forgets those whose view left. Served by a real
uvicorn (``servers.serve``); the app keeps its ``Transport`` objects so the
tests can count the channels a socket holds.
"""

from __future__ import annotations

import asyncio
import json
import typing as t
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from {{ cookiecutter.package_name }}.live import (
    ConnectedLiveViewSocket,
    LiveConfig,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
    is_connected,
)
from {{ cookiecutter.package_name }}.live.channel import MAX_PATCHES
from {{ cookiecutter.package_name }}.live.router import view_id
from {{ cookiecutter.package_name }}.live.session import LiveSession, browser_digest
from {{ cookiecutter.package_name }}.live.transport import Transport

from live_client import LiveClient, Reply
from servers import serve
{%- raw %}

SECRET = "secret"
TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>{{ live_container }}",
    "rules.html": "<p id='flash'>{{ flash.get('info', '') }}</p>"
    "<p id='n'>{{ n }}</p><p id='hops'>{{ hops }}</p>",
}
PAGE_FLASH = "put by the HTTP render"


class Record:
    """What the views did in the server's thread, for the test to read."""

    def __init__(self) -> None:
        self.mounts: list[int] = []  # connected mounts, by view id
        self.disconnects: list[int] = []
        self.patches = 0  # handle_params calls with hops


class RulesLive(LiveView[dict[str, t.Any]]):
    template_name = "rules.html"
    current: t.ClassVar[Record]  # the running test's

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        self.record = self.current  # a view outliving its test reports to that test's record
        if is_connected(socket):
            self.record.mounts.append(id(self))
        else:
            socket.put_flash("info", PAGE_FLASH)
        socket.context = {"n": 0, "hops": 0}

    async def handle_params(self, socket: LiveViewSocket[dict[str, t.Any]], hops: int = 0) -> None:
        socket.context["hops"] = hops
        if hops:  # every patch patches again: a loop
            self.record.patches += 1
            await socket.push_patch("/rules", {"hops": hops + 1})

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[dict[str, t.Any]]
    ) -> None:
        socket.context["n"] += 1
        if event == "push":
            socket.push_event("pinged", {"n": socket.context["n"]})
        elif event == "loop":
            await socket.push_patch("/rules", {"hops": 1})

    async def disconnect(self, socket: ConnectedLiveViewSocket[dict[str, t.Any]]) -> None:
        self.record.disconnects.append(id(self))


class RulesApp:
    """A small app whose WebSocket endpoint keeps each socket's ``Transport``."""

    def __init__(self, **limits: t.Any) -> None:
        self.routes = LiveRoutes(
            LiveEnvironment(loader=DictLoader(TEMPLATES)), SECRET, config=LiveConfig(**limits)
        )
        self.routes.add("/rules", RulesLive)
        self.transports: list[Transport] = []
        pages = [route for route in self.routes.routes if not isinstance(route, WebSocketRoute)]
        socket = WebSocketRoute(f"{self.routes.socket_path}/websocket", self.websocket)
        self.app = Starlette(
            routes=[*pages, socket],
            middleware=[Middleware(SessionMiddleware, secret_key=SECRET)],
        )

    async def websocket(self, websocket: WebSocket) -> None:
        transport = Transport(websocket, self.routes)
        self.transports.append(transport)
        await transport.run()

    def channels(self) -> int:
        """Channels held by the only socket (read from the test's thread: a dict's size)."""
        (transport,) = self.transports
        return len(transport.channels)

    def token(self, client: LiveClient, container_id: str) -> str:
        """A page token for ``container_id`` in the client's browser session, as a render issues."""
        browser = browser_digest({"_csrf_token": client.page.csrf_token})
        return self.routes.tokens.issue(
            LiveSession(container_id, view_id(RulesLive), browser, {}, {})
        )


@pytest.fixture
def record() -> Record:
    RulesLive.current = record = Record()
    return record


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """One server with the default limits, for the tests that do not change them."""
    with serve(RulesApp().app) as base_url:
        yield base_url


@asynccontextmanager
async def joined(base_url: str) -> AsyncIterator[LiveClient]:
    async with LiveClient.open(base_url, "/rules") as client:
        ok(await client.join())
        yield client


def ok(reply: Reply) -> dict[str, t.Any]:
    assert reply["status"] == "ok", reply
    return reply["response"]


def error(reply: Reply) -> dict[str, t.Any]:
    assert reply["status"] == "error", reply
    return reply["response"]


def click(event: str) -> dict[str, t.Any]:
    return {"type": "click", "event": event, "value": {"value": ""}}


async def eventually(condition: t.Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait (bounded) for something the server's thread does."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# -- joins -------------------------------------------------------------------------


async def test_a_stale_join_ref_is_refused(server: str, record: Record) -> None:
    async with joined(server) as client:
        stale = client.join_ref
        ok(await client.join(mounts=1))  # the client rejoins: a new join_ref
        topic = client.page.topic
        assert error(await client.call(topic, "event", click("inc"), stale)) == {
            "reason": "unmatched topic"
        }
        assert ok(await client.call(topic, "event", click("inc"), client.join_ref))["diff"]


async def test_the_pages_flash_shows_on_the_first_join_only(server: str, record: Record) -> None:
    async with LiveClient.open(server, "/rules") as client:
        first = ok(await client.join())["rendered"]
        assert PAGE_FLASH in json.dumps(first)
        rejoined = ok(await client.join(mounts=1))["rendered"]  # after a crash or reconnect
        assert PAGE_FLASH not in json.dumps(rejoined)


async def test_a_rejoin_drops_the_old_view_once(record: Record) -> None:
    with serve(RulesApp().app) as base_url:
        async with joined(base_url) as client:
            ok(await client.join(mounts=1))
            first, second = record.mounts
            assert record.disconnects == [first]  # before the new view answered
            ok(await client.leave())
            assert record.disconnects == [first, second]
    # The server has stopped: closing the socket dropped nothing twice.
    assert record.disconnects == [first, second]


# -- replies -----------------------------------------------------------------------


async def test_pushed_events_are_sent_once(server: str, record: Record) -> None:
    async with joined(server) as client:
        assert ok(await client.click("push"))["diff"]["e"] == [["pinged", {"n": 1}]]
        assert "e" not in ok(await client.click("inc"))["diff"]


async def test_a_patch_loop_crashes_the_view_not_the_socket(server: str, record: Record) -> None:
    async with joined(server) as client:
        join_ref, topic = client.join_ref, client.page.topic
        assert error(await client.click("loop")) == {"reason": "crash"}
        crash = (join_ref, join_ref, topic, "phx_error", {"reason": "channel_crash"})
        assert await client.receive() == crash
        assert record.patches == MAX_PATCHES  # each ran, then the loop was cut
        assert record.disconnects == record.mounts
        assert ok(await client.heartbeat()) == {}
        ok(await client.join(mounts=1))  # the client rejoins
        assert ok(await client.click("inc"))["diff"]


# -- frames --------------------------------------------------------------------------


async def test_a_heartbeat_is_matched_on_topic_and_event(server: str, record: Record) -> None:
    async with LiveClient.open(server, "/rules") as client:
        topic = client.page.topic
        assert error(await client.call(topic, "heartbeat", {})) == {"reason": "unmatched topic"}
        ok(await client.join())
        assert error(await client.call(topic, "heartbeat", {}, client.join_ref)) == {
            "reason": "unknown event"
        }
        for event in ("phx_join", "phx_leave", "event"):
            assert error(await client.call("phoenix", event, {})) == {"reason": "unknown event"}
        assert ok(await client.call("phoenix", "heartbeat", {})) == {}


@pytest.mark.parametrize(
    "frame",
    [
        [1, "1", "phoenix", "heartbeat", {}],
        [None, 1, "phoenix", "heartbeat", {}],
        [None, ["1"], "phoenix", "heartbeat", {}],
        [None, True, "phoenix", "heartbeat", {}],
        [None, "1", None, "heartbeat", {}],
        [None, "1", ["phoenix"], "heartbeat", {}],
        [None, "1", "phoenix", 7, {}],
        [None, "1", "phoenix", {"heartbeat": 1}, {}],
    ],
)
async def test_a_frame_with_fields_of_the_wrong_type_is_refused(
    server: str, record: Record, frame: list[t.Any]
) -> None:
    async with joined(server) as client:
        await client.ws.send(json.dumps(frame))
        assert await client.close_code() == 1007


# -- channels a socket holds -------------------------------------------------------


async def test_more_than_max_channels_joins_are_refused(record: Record) -> None:
    with serve(RulesApp(max_channels=2).app) as base_url:
        async with joined(base_url) as client:
            second, third = await client.load("/rules"), await client.load("/rules")
            ok(await client.join(page=second))
            assert error(await client.join(page=third)) == {"reason": "too many channels"}
            ok(await client.push("phx_leave", {}, second.topic))
            ok(await client.join(page=third))  # a channel left: room for another


CYCLES = 1_000


async def test_a_channel_whose_view_left_is_forgotten(record: Record) -> None:
    app = RulesApp()
    with serve(app.app) as base_url:
        async with LiveClient.open(base_url, "/rules") as client:
            for i in range(CYCLES):
                # Join a new topic and leave it; and a join refused (a token of
                # another container) leaves nothing behind either.
                topic, refused = f"lv:phx-{i}", f"lv:other-{i}"
                join, leave, other = client.next_ref(), client.next_ref(), client.next_ref()
                payload = {
                    "url": client.page.url,
                    "params": {"_csrf_token": client.page.csrf_token},
                    "session": app.token(client, f"phx-{i}"),
                }
                await client.send(join, join, topic, "phx_join", payload)
                await client.send(join, leave, topic, "phx_leave", {})
                await client.send(other, other, refused, "phx_join", payload)
                ok(await client.reply_to(join))
                ok(await client.reply_to(leave))
                assert error(await client.reply_to(other)) == {"reason": "unauthorized"}
                assert app.channels() <= 2  # at most the last two, being forgotten
            await eventually(lambda: app.channels() == 0)
    assert len(record.mounts) == len(record.disconnects) == CYCLES
{%- endraw %}
