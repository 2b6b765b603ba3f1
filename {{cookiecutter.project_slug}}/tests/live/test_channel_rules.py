"""The state rules of a channel (one ``lv:`` topic), each of which a plausible bug breaks.

A stale ``join_ref`` is refused; the page's flash shows on the first join
only; pushed events go out once; a rejoin replaces the view; endless patches
crash the view, not the socket; heartbeats are matched on topic and event;
frames with fields of the wrong type are refused; a socket holds a bounded
number of channels and forgets those whose view left. Many of these were
found by mutation testing of ``channel.py`` (issue 6, section 7). Served by a real
uvicorn (``servers.serve``); the app keeps its ``Transport`` objects so the
tests can count the channels a socket holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import typing as t
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from {{ cookiecutter.package_name }}.live import (
    BindingError,
    ConnectedLiveViewSocket,
    LiveConfig,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
    UnhandledEvent,
    channel,
    is_connected,
)
from {{ cookiecutter.package_name }}.live.channel import MAX_PATCHES
from {{ cookiecutter.package_name }}.live.logs import clip
from {{ cookiecutter.package_name }}.live.router import view_id
from {{ cookiecutter.package_name }}.live.session import LiveSession, browser_digest
from {{ cookiecutter.package_name }}.live.testing import scaled
from {{ cookiecutter.package_name }}.live.transport import Transport

from live_client import LiveClient, error, ok
from servers import serve
{%- raw %}

SECRET = "secret"
TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>{{ live_container }}",
    "rules.html": "<p id='flash'>{{ flash.get('info', '') }}</p>"
    "<p id='alert'>{{ flash.get('error', '') }}</p>"
    "<p id='n'>{{ n }}</p><p id='hops'>{{ hops }}</p>",
}
PAGE_FLASH = "put by the HTTP render"
PAGE_ALERT = "also put by the HTTP render"


class Record:
    """What the views did in the server's thread, for the test to read."""

    def __init__(self) -> None:
        self.mounts: list[int] = []  # connected mounts, by view id
        self.disconnects: list[int] = []
        self.patches = 0  # handle_params calls with hops
        self.sessions: list[dict[str, t.Any]] = []  # what each connected mount was given
        self.binding_errors: list[str] = []  # events whose values did not bind


class RulesLive(LiveView[dict[str, t.Any]]):
    template_name = "rules.html"
    current: t.ClassVar[Record]  # the running test's

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        self.record = self.current  # a view outliving its test reports to that test's record
        if is_connected(socket):
            self.record.mounts.append(id(self))
            self.record.sessions.append(session)
        else:
            socket.put_flash("info", PAGE_FLASH)
            socket.put_flash("error", PAGE_ALERT)
        socket.context = {"n": 0, "hops": 0}

    async def handle_params(
        self,
        socket: LiveViewSocket[dict[str, t.Any]],
        hops: int = 0,
        patch_to: str = "",
        replace: bool = False,
    ) -> None:
        socket.context["hops"] = hops
        if hops:  # every patch patches again: a loop
            self.record.patches += 1
            await socket.push_patch("/rules", {"hops": hops + 1})
        elif patch_to:
            await socket.push_patch(patch_to, replace=replace)

    async def handle_event(
        self,
        event: str,
        socket: ConnectedLiveViewSocket[dict[str, t.Any]],
        by: int = 1,
        title: str = "",
    ) -> None:
        if event.startswith("unhandled"):
            raise UnhandledEvent()
        socket.context["n"] += by
        if event == "push":
            socket.push_event("pinged", {"n": socket.context["n"]})
        elif event == "loop":
            await socket.push_patch("/rules", {"hops": 1})
        elif event == "title":
            socket.live_title = title or None

    async def handle_binding_error(
        self, socket: ConnectedLiveViewSocket[dict[str, t.Any]], event: str, error: BindingError
    ) -> None:
        self.record.binding_errors.append(event)
        await super().handle_binding_error(socket, event, error)

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

    def token(
        self, client: LiveClient, container_id: str, session: dict[str, t.Any] | None = None
    ) -> str:
        """A page token for ``container_id`` in the client's browser session, as a render issues."""
        browser = browser_digest({"_csrf_token": client.page.csrf_token})
        return self.routes.tokens.issue(
            LiveSession(container_id, view_id(RulesLive), browser, session or {}, {})
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


def click(event: str) -> dict[str, t.Any]:
    return {"type": "click", "event": event, "value": {"value": ""}}


async def eventually(condition: t.Callable[[], bool], timeout: float = scaled(10.0)) -> None:
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


async def test_mount_is_given_the_session_the_pages_token_carries(record: Record) -> None:
    app = RulesApp()
    with serve(app.app) as base_url:
        async with LiveClient.open(base_url, "/rules") as client:
            session = app.token(client, client.page.container_id, {"user": "ada"})
            ok(await client.join(session=session))
    assert record.sessions == [{"user": "ada"}]


async def test_a_join_whose_params_do_not_bind_is_refused_naming_them(
    server: str, record: Record
) -> None:
    async with LiveClient.open(server, "/rules") as client:
        page = replace(client.page, url=f"{client.page.url}?hops=many")
        assert "hops" in error(await client.join(page=page))["reason"]
        assert record.disconnects == record.mounts  # mounted, then dropped
        ok(await client.join(mounts=1))


@pytest.mark.parametrize("kind", ["push", "replace"])
async def test_a_push_patch_from_mount_is_followed_before_the_join_replies(
    server: str, record: Record, kind: str
) -> None:
    async with LiveClient.open(server, "/rules") as client:
        query = f"patch_to=/rules&replace={kind == 'replace'}"
        page = replace(client.page, url=f"{client.page.url}?{query}")
        assert ok(await client.join(page=page))["live_patch"] == {"to": "/rules", "kind": kind}
        assert ok(await client.click("inc"))["diff"]  # the view joined


@pytest.mark.parametrize("kind", ["push", "replace"])
async def test_a_push_patch_to_no_view_of_its_own_navigates(
    server: str, record: Record, kind: str
) -> None:
    async with LiveClient.open(server, "/rules") as client:
        query = f"patch_to=/nowhere&replace={kind == 'replace'}"
        page = replace(client.page, url=f"{client.page.url}?{query}")
        assert error(await client.join(page=page, mounts=1)) == {
            "live_redirect": {"to": "/nowhere", "kind": kind}
        }
        assert record.disconnects == record.mounts


async def test_a_join_url_is_a_string_on_the_pages_host_http_or_https(
    server: str, record: Record
) -> None:
    async with LiveClient.open(server, "/rules") as client:
        not_a_url = {"url": 7, "params": {"_csrf_token": client.page.csrf_token}}
        not_a_url["session"] = client.page.session
        reply = await client.call(client.page.topic, "phx_join", not_a_url, client.next_ref())
        assert error(reply) == {"reason": "unauthorized"}
        behind_tls = client.page.url.replace("http://", "https://", 1)
        ok(await client.join(page=replace(client.page, url=behind_tls)))


# -- replies -----------------------------------------------------------------------


async def test_pushed_events_are_sent_once(server: str, record: Record) -> None:
    async with joined(server) as client:
        assert ok(await client.click("push"))["diff"]["e"] == [["pinged", {"n": 1}]]
        assert "e" not in ok(await client.click("inc"))["diff"]


async def test_a_title_set_then_cleared_is_sent_as_empty(server: str, record: Record) -> None:
    async with joined(server) as client:
        assert ok(await client.click("title", {"title": "Rules"}))["diff"]["t"] == "Rules"
        assert ok(await client.click("title"))["diff"]["t"] == ""
        assert "t" not in ok(await client.click("inc"))["diff"]


CLEAR_FLASH = "lv:clear-flash"
INFO, ALERT = "0", "1"  # the flash slots of rules.html


async def test_clear_flash_with_a_key_clears_that_flash_only(server: str, record: Record) -> None:
    async with joined(server) as client:
        assert ok(await client.click(CLEAR_FLASH, {"key": "info"}))["diff"] == {INFO: ""}
        assert ok(await client.click(CLEAR_FLASH))["diff"] == {ALERT: ""}


@pytest.mark.parametrize("value", [{"value": ""}, {"key": 5}, "junk"])
async def test_clear_flash_without_a_string_key_clears_every_flash(
    server: str, record: Record, value: t.Any
) -> None:
    async with joined(server) as client:
        payload = {"type": "click", "event": CLEAR_FLASH, "value": value}
        assert ok(await client.push("event", payload))["diff"] == {INFO: "", ALERT: ""}


async def test_values_that_do_not_bind_go_to_handle_binding_error(
    server: str, record: Record, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=channel.logger.name)
    async with joined(server) as client:
        diff = ok(await client.click("inc", {"by": "many"}))["diff"]
        assert "by" in diff[ALERT]  # the default handler's flash names the field
        (line,) = [r.getMessage() for r in caplog.records if r.name == channel.logger.name]
        assert line.startswith(f"event 'inc' on {clip(client.page.topic)}: ") and "by" in line
    assert record.binding_errors == ["inc"]


async def test_an_unhandled_event_is_answered_ok_and_logged_in_one_clipped_line(
    server: str, record: Record, caplog: pytest.LogCaptureFixture
) -> None:
    """As Phoenix: an error reply would leave the client's button loading for good."""
    caplog.set_level(logging.WARNING, logger=Transport.__module__)
    async with joined(server) as client:
        name = "unhandled" + "x" * 1000
        assert ok(await client.click(name)) == {}
        (line,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert line == f"event {clip(name)} on {clip(client.page.topic)} refused: 'unhandled'"
        assert ok(await client.click("inc"))["diff"]  # the view lives on


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("event", {"type": "click", "event": 7, "value": {}}),
        ("live_patch", {"url": 7}),
        ("cids_destroyed", {"cids": "1"}),
    ],
)
async def test_a_payload_with_fields_of_the_wrong_type_is_malformed(
    server: str, record: Record, event: str, payload: dict[str, t.Any]
) -> None:
    async with joined(server) as client:
        assert error(await client.push(event, payload)) == {"reason": "malformed payload"}


async def test_cids_are_integers_and_only_those_the_view_gave_are_destroyed(
    server: str, record: Record
) -> None:
    async with joined(server) as client:
        for event in ("cids_will_destroy", "cids_destroyed"):
            payload = {"cids": [1, "2", 3.0, True, None, 4]}
            assert error(await client.push(event, payload)) == {"reason": "malformed payload"}
        assert ok(await client.push("cids_will_destroy", {"cids": [1, 4]})) == {}
        assert ok(await client.push("cids_destroyed", {"cids": [1, 4]})) == {"cids": []}


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
