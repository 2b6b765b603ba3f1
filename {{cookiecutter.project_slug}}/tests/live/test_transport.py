"""The WebSocket transport under abuse: strict frames, bounded memory, idle sockets, short logs.

Each test serves a small app under a real uvicorn (``servers.serve``) with
small ``LiveConfig`` bounds and talks to it over real sockets, since close
codes, TCP backpressure and uvicorn's log records only exist there. Whatever
one socket sends, the others keep working, the server holds a bounded amount
for it, and the log gets a few short lines.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import threading
import time
import typing as t
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
import websockets
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from websockets.exceptions import InvalidStatus

from {{ cookiecutter.package_name }}.live import (
    ConnectedLiveViewSocket,
    LiveConfig,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
    is_connected,
    transport,
)
from {{ cookiecutter.package_name }}.live.logs import ClientLog, clip, redact_query_tokens
from {{ cookiecutter.package_name }}.live.protocol import ProtocolError, encode_frame, parse_frame
from {{ cookiecutter.package_name }}.live.testing import scaled
from {{ cookiecutter.package_name }}.websocket_protocol import WebSocketProtocol

from live_client import LiveClient
from servers import serve
{%- raw %}

SECRET = "secret"
TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>{{ live_container }}",
    "probe.html": "<p id='n'>{{ n }}</p><div id='blob'>{{ blob }}</div>",
}
LIVE_LOGGER = transport.logger.name.rpartition(".")[0]  # the runtime's loggers: "<app>.live.…"
WAIT = scaled(15.0)  # the longest a test lets a view block
UNSENDABLE: dict[str, t.Any] = {"nan": float("nan"), "object": object(), "surrogate": "\ud800"}


class Probe:
    """What the views did in the server's thread, for the test to read."""

    def __init__(self) -> None:
        self.gate = threading.Event()  # a "wait" event blocks until the test sets it
        self.events: list[str] = []
        self.disconnects: list[int] = []
        self.frames_read = 0  # counted by ``counting_frames``


class ProbeLive(LiveView[dict[str, t.Any]]):
    """Counts events; ``big`` renders ``size`` characters, ``wait`` blocks on the gate."""

    template_name = "probe.html"
    current: t.ClassVar[Probe]  # the running test's

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        self.probe = self.current  # a view outliving its test reports to that test's probe
        socket.context = {"n": 0, "blob": ""}

    async def handle_event(
        self,
        event: str,
        socket: ConnectedLiveViewSocket[dict[str, t.Any]],
        size: int = 0,
        scores: dict[str, int] | None = None,
    ) -> None:
        self.probe.events.append(event)
        context = socket.context
        context["n"] += 1
        if event in ("big", "flood"):
            context["blob"] = "ab"[context["n"] % 2] * size  # a whole new blob each time
        elif event == "wait":
            await asyncio.to_thread(self.probe.gate.wait, WAIT)
        elif event in UNSENDABLE:
            socket.push_event("unsendable", UNSENDABLE[event])
        elif event == "navigate":
            await socket.push_navigate("/probe?to=\ud800")

    async def disconnect(self, socket: ConnectedLiveViewSocket[dict[str, t.Any]]) -> None:
        self.probe.disconnects.append(id(self))


class AwayLive(ProbeLive):
    """Sends a connected browser to a URL no frame can carry."""

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        await super().mount(socket, session)
        if is_connected(socket):
            await socket.push_navigate("/probe?to=\ud800")


def probe_app(**limits: t.Any) -> Starlette:
    routes = LiveRoutes(
        LiveEnvironment(loader=DictLoader(TEMPLATES)), SECRET, config=LiveConfig(**limits)
    )
    routes.add("/probe", ProbeLive)
    routes.add("/away", AwayLive)
    return Starlette(
        routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key=SECRET)]
    )


def counting_frames(app: ASGIApp, probe: Probe) -> ASGIApp:
    """``app``, counting in ``probe.frames_read`` the WebSocket frames it has taken from uvicorn."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def counted() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                probe.frames_read += 1
            return message

        await app(scope, counted if scope["type"] == "websocket" else receive, send)

    return wrapped


@pytest.fixture
def probe() -> Iterator[Probe]:
    ProbeLive.current = probe = Probe()
    yield probe
    probe.gate.set()  # never leave a view blocked


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """One server with the default limits, for the tests that do not change them."""
    with serve(probe_app()) as base_url:
        yield base_url


@asynccontextmanager
async def joined(base_url: str, **options: t.Any) -> AsyncIterator[LiveClient]:
    """A socket with ``/probe`` joined (``options`` go to ``websockets``' ``connect``)."""
    async with LiveClient.open(base_url, "/probe", **options) as client:
        assert (await client.join())["status"] == "ok"
        yield client


async def click_unread(client: LiveClient, event: str, **value: t.Any) -> str:
    """Send a click without waiting for its reply; its ref."""
    ref = client.next_ref()
    payload = {"type": "click", "event": event, "value": {"value": "", **value}}
    await client.send(client.join_ref, ref, client.page.topic, "event", payload)
    return ref


def runtime_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name.startswith(LIVE_LOGGER)]


async def eventually(condition: t.Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait (bounded) for something the server's thread does."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# -- frames that are not strict JSON -------------------------------------------

# Raw text, as a hostile client sends it: "\ud800" is the JSON escape of a lone surrogate.
BAD_FRAMES = {
    "lone surrogate in a heartbeat ref": r'[null,"\ud800","phoenix","heartbeat",{}]',
    "lone surrogate in a topic": r'[null,"1","\ud800","heartbeat",{}]',
    "lone surrogate in an lv topic": r'["1","1","lv:\ud800","event",{}]',
    "lone surrogate deep down": "[" * 900 + r'"\ud800"' + "]" * 900,
    "1,000 nested arrays": "[" * 1000 + "]" * 1000,
    "100,000 nested objects": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "NaN in cids_destroyed": '["JOIN_REF","2","TOPIC","cids_destroyed",{"cids":[NaN,Infinity]}]',
}


@pytest.mark.parametrize("text", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
async def test_a_frame_that_is_not_strict_json_closes_only_its_socket(
    server: str, probe: Probe, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    async with joined(server) as bad, joined(server) as good:
        assert bad.join_ref is not None
        await bad.ws.send(text.replace("JOIN_REF", bad.join_ref).replace("TOPIC", bad.page.topic))
        assert await bad.close_code() == 1007
        assert (await good.click("inc"))["status"] == "ok"
        assert (await good.heartbeat())["status"] == "ok"
    (record,) = runtime_records(caplog)
    line = record.getMessage()
    assert "\n" not in line and len(line) < 200 and record.exc_info is None, line


OFF_UPLOADS = "a binary frame off an upload topic"
NOT_UTF8 = "a binary frame's header is not UTF-8"


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        ("not json", 1007, "frame is not JSON"),
        ("[" * 100_000 + "]" * 100_000, 1007, "frame is nested too deeply"),
        (BAD_FRAMES["lone surrogate in a topic"], 1007, "frame has a lone UTF-16 surrogate"),
        (b"[]", 1003, "a binary frame that is not a push"),
        (b"\x00\x00\x01\x07\x05" + b"1lv:abcchunk" + b"data", 1003, OFF_UPLOADS),
        (b"\x00\x00\x01\x09\x05" + b"1lvu:0\xff\xfe\xfdchunk", 1003, NOT_UTF8),
        (b"\x00\x00\x01\xff\x05" + b"1lvu:0", 1003, "a binary frame shorter than its header says"),
    ],
)
async def test_the_close_frame_says_why(
    server: str, probe: Probe, frame: str | bytes, code: int, reason: str
) -> None:
    async with joined(server) as client:
        await client.ws.send(frame)
        assert await client.close_code() == code
        assert client.ws.close_reason == reason


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), "\ud800", {"k": "\udfff"}])
def test_encode_frame_refuses_what_a_browser_cannot_parse(value: t.Any) -> None:
    with pytest.raises(ValueError):
        encode_frame(None, "1", "lv:x", "diff", {"e": [["event", value]]})


def test_parse_frame_keeps_valid_surrogate_pairs() -> None:
    message = parse_frame(r'[null,"1","phoenix","heartbeat",{"emoji":"\ud83d\ude00"}]')
    assert message.payload == {"emoji": "😀"}
    assert encode_frame(None, "1", "phoenix", "phx_reply", message.payload).count("😀") == 1


def test_parse_frame_refuses_a_lone_surrogate_at_any_depth() -> None:
    # Checking for the surrogate re-encodes the frame, one level deeper on the stack
    # than decoding it: around the recursion limit, one may fail and not the other.
    limit = sys.getrecursionlimit()
    for depth in range(limit - 200, limit + 10):
        with pytest.raises(ProtocolError):
            parse_frame("[" * depth + r'"\ud800"' + "]" * depth)


# -- replies that cannot be encoded --------------------------------------------


@pytest.mark.parametrize("event", [*UNSENDABLE, "navigate"])
async def test_a_reply_that_cannot_be_encoded_crashes_only_its_view(
    server: str, probe: Probe, event: str
) -> None:
    async with joined(server) as client:
        other = await client.load("/probe")
        assert (await client.join(page=other))["status"] == "ok"
        join_ref = client.join_ref
        assert await client.click(event) == {"status": "error", "response": {"reason": "crash"}}
        crash = (join_ref, join_ref, client.page.topic, "phx_error", {"reason": "channel_crash"})
        assert await client.receive() == crash
        assert len(probe.disconnects) == 1  # the crashed view cleaned up
        # Its neighbour on the same socket, and the socket itself, work on.
        assert (await client.click("inc", topic=other.topic))["status"] == "ok"
        assert (await client.heartbeat())["status"] == "ok"
        # The client rejoins the crashed view, as the official one does.
        assert (await client.join(mounts=1))["status"] == "ok"
        assert (await client.click("inc"))["response"]["diff"]


async def test_a_join_whose_refusal_cannot_be_encoded_crashes_only_that_join(
    server: str, probe: Probe
) -> None:
    async with LiveClient.open(server, "/away") as client:
        assert await client.join() == {"status": "error", "response": {"reason": "crash"}}
        assert len(probe.disconnects) == 1  # mounted, then dropped: it cleaned up
        assert (await client.heartbeat())["status"] == "ok"
        other = await client.load("/probe")
        assert (await client.join(page=other))["status"] == "ok"


# -- bounded memory --------------------------------------------------------------

MAILBOX = 2
PADDING = "x" * 65_536  # per flood frame: TCP buffers fill after a few megabytes
MAX_FLOOD = 2_000  # frames; far more than loopback buffers can hold
# Uncompressed, so that every byte a view renders or a client pads is a byte on the wire.
RAW = {"compression": None}


async def test_a_full_mailbox_stops_reading_the_socket(probe: Probe) -> None:
    with serve(counting_frames(probe_app(mailbox_size=MAILBOX), probe)) as base_url:
        async with joined(base_url, **RAW) as client:
            read_before = probe.frames_read
            refs = [await click_unread(client, "wait")]
            blocked = False
            while not blocked and len(refs) < MAX_FLOOD:
                ref = client.next_ref()
                frame = client.send(
                    client.join_ref,
                    ref,
                    client.page.topic,
                    "event",
                    {"type": "click", "event": "inc", "value": {"pad": PADDING}},
                )
                try:
                    await asyncio.wait_for(frame, 0.25)
                except TimeoutError:
                    blocked = True  # the frame is in the client's buffer: it is sent
                refs.append(ref)
            # TCP pushed back: the server stopped reading, its buffers are full.
            assert blocked, f"{len(refs)} frames of 64 KB were all taken"
            # The app took the blocking event, what fills the mailbox, and one waiting for room.
            assert probe.frames_read - read_before <= 1 + MAILBOX + 1
            probe.gate.set()
            for ref in refs:  # then every frame is read and answered, in order
                assert (await client.reply_to(ref))["status"] == "ok"
            assert probe.events.count("inc") == len(refs) - 1


async def test_one_budget_bounds_what_all_of_a_sockets_views_queue(probe: Probe) -> None:
    # Mailboxes of 64 in three blocked views could hold 192 frames of 64 KB;
    # the socket's budget of 200,000 characters holds about three.
    app = probe_app(mailbox_size=64, max_queued_bytes=200_000)
    with serve(counting_frames(app, probe)) as base_url:
        async with joined(base_url, **RAW) as client:
            topics = [client.page.topic]
            for _ in range(2):
                page = await client.load("/probe")
                assert (await client.join(page=page))["status"] == "ok"
                topics.append(page.topic)
            refs = []
            for topic in topics:  # every view blocks on the gate
                ref = client.next_ref()
                payload = {"type": "click", "event": "wait", "value": {}}
                await client.send(client.join_refs[topic], ref, topic, "event", payload)
                refs.append(ref)
            await eventually(lambda: probe.events.count("wait") == len(topics))
            read_before = probe.frames_read
            blocked = False
            while not blocked and len(refs) < MAX_FLOOD:
                topic = topics[len(refs) % len(topics)]
                ref = client.next_ref()
                payload = {"type": "click", "event": "inc", "value": {"pad": PADDING}}
                frame = client.send(client.join_refs[topic], ref, topic, "event", payload)
                try:
                    await asyncio.wait_for(frame, 0.25)
                except TimeoutError:
                    blocked = True
                refs.append(ref)
            assert blocked, f"{len(refs)} frames of 64 KB were all taken"
            # What fits the budget, the frame that crossed it, and one waiting for room.
            assert probe.frames_read - read_before <= 200_000 // len(PADDING) + 2
            probe.gate.set()
            # Each view answers in its own order; together they answer everything.
            replies: dict[str, str] = {}
            async with asyncio.timeout(WAIT):
                while len(replies) < len(refs):
                    frame = await client.receive()
                    if frame.event == "phx_reply":
                        replies[t.cast(str, frame.ref)] = frame.payload["status"]
            assert replies == dict.fromkeys(refs, "ok")


async def test_what_a_free_view_takes_does_not_make_room_for_a_blocked_ones(
    probe: Probe,
) -> None:
    # One view blocks while its neighbour answers at once: each answer gives
    # back only its own frame's share of the budget.
    app = probe_app(mailbox_size=64, max_queued_bytes=200_000)
    with serve(counting_frames(app, probe)) as base_url:
        async with joined(base_url, **RAW, close_timeout=0.2) as client:
            free = await client.load("/probe")
            assert (await client.join(page=free))["status"] == "ok"
            await click_unread(client, "wait")
            await eventually(lambda: probe.events == ["wait"])
            read_before = probe.frames_read
            padded = {"type": "click", "event": "inc", "value": {"pad": PADDING}}
            small = {"type": "click", "event": "inc", "value": {}}
            frames = [(client.page.topic, padded), (free.topic, small)] * (MAX_FLOOD // 2)
            blocked, sent = False, 0
            while not blocked and sent < len(frames):
                topic, payload = frames[sent]
                frame = client.send(
                    client.join_refs[topic], client.next_ref(), topic, "event", payload
                )
                try:
                    await asyncio.wait_for(frame, 0.25)
                except TimeoutError:
                    blocked = True
                sent += 1
            assert blocked, f"{sent} frames were all taken"
            # Padded frames within the budget, each with its small neighbour, and one waiting.
            assert probe.frames_read - read_before <= 2 * (200_000 // len(PADDING) + 2)
            probe.gate.set()


async def test_a_socket_closed_with_a_full_mailbox_drops_it_and_cleans_up(
    probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    with serve(probe_app(mailbox_size=MAILBOX, close_grace=0.1)) as base_url:
        async with joined(base_url) as client:
            topic = client.page.topic
            await click_unread(client, "wait")
            for _ in range(MAILBOX):  # read before the close frame: the mailbox is full
                await click_unread(client, "inc")
        await eventually(lambda: len(probe.disconnects) == 1, timeout=WAIT / 2)  # before the gate
        probe.gate.set()  # the cancelled handler's thread ends too
    assert probe.events == ["wait"]  # what was queued was dropped
    lines = [record.getMessage() for record in runtime_records(caplog)]
    assert f"a handler on {clip(topic)} outlived the close grace; cancelled" in lines


async def test_a_flood_on_one_socket_does_not_starve_another(server: str, probe: Probe) -> None:
    options = {**RAW, "max_queue": 1, "close_timeout": 0.2}
    async with joined(server, **options) as flooder, joined(server) as other:
        for _ in range(MAX_FLOOD):  # 32 MB of diffs it never reads
            await click_unread(flooder, "flood", size=16_384)
        started = time.monotonic()
        assert (await other.click("inc"))["status"] == "ok"
        waited = time.monotonic() - started
        assert probe.events.count("flood") < MAX_FLOOD  # the flood was still going on
        assert waited < scaled(2.0)


async def test_a_client_that_does_not_read_is_closed_after_send_timeout(
    probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    send_timeout = 0.2
    with serve(probe_app(send_timeout=send_timeout)) as base_url:
        options = {**RAW, "max_queue": 1, "max_size": None, "close_timeout": 0.2}
        async with joined(base_url, **options) as client:
            started = time.monotonic()
            for _ in range(40):  # 40 MB of diffs
                await click_unread(client, "big", size=1_000_000)
            await eventually(lambda: bool(probe.disconnects))
            assert time.monotonic() - started < send_timeout + scaled(5.0)
    assert any("stopped reading" in record.getMessage() for record in runtime_records(caplog))


async def sending(
    send: t.Callable[[str], t.Awaitable[None]],
    write: t.Callable[[str], bool] | None = None,
    **limits: t.Any,
) -> transport.Transport:
    """A transport on an accepted WebSocket whose server takes each frame with ``send``
    (and offers to ``write`` frames itself, as the app's server does, when given)."""

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def server_send(message: Message) -> None:
        if message["type"] == "websocket.send":
            await send(message["text"])

    scope: dict[str, t.Any] = {"type": "websocket", "path": "/live/websocket", "headers": []}
    if write is not None:
        scope["extensions"] = {transport.WRITE_EXTENSION: {"text": write}}
    websocket = WebSocket(scope, receive, server_send)
    await websocket.accept()
    routes = LiveRoutes(
        LiveEnvironment(loader=DictLoader(TEMPLATES)), SECRET, config=LiveConfig(**limits)
    )
    return transport.Transport(websocket, routes)


async def test_frames_leave_in_the_order_sent_while_one_waits_to_leave() -> None:
    # The first frame waits (the client is slow to take it) while a second is sent, and a
    # third is sent as the first leaves, before the second's turn has come: none jumps ahead.
    room = asyncio.get_running_loop().create_future()
    waiting = asyncio.Event()
    left: list[str] = []
    later: list[asyncio.Task[None]] = []

    async def send(text: str) -> None:
        if text == "first":
            waiting.set()
            await room
            later.append(asyncio.create_task(socket.send("third")))
        left.append(text)

    socket = await sending(send)
    first = asyncio.create_task(socket.send("first"))
    second = asyncio.create_task(socket.send("second"))
    await waiting.wait()  # and the second, started after the first, waits for its turn
    room.set_result(None)
    await asyncio.gather(first, second)
    await asyncio.gather(*later)
    assert left == ["first", "second", "third"]


async def test_a_server_that_writes_frames_itself_is_asked_first_and_keeps_their_order() -> None:
    # It takes the first frame; it has no room for the second, which ASGI's send takes
    # and holds; the third, sent meanwhile, waits behind it rather than being written.
    room = asyncio.get_running_loop().create_future()
    written: list[str] = []
    left: list[str] = []

    def write(text: str) -> bool:
        if text == "second":
            return False
        written.append(text)
        left.append(text)
        return True

    async def send(text: str) -> None:
        if text == "second":
            await room
        left.append(text)

    socket = await sending(send, write)
    await socket.send("first")
    second = asyncio.create_task(socket.send("second"))
    third = asyncio.create_task(socket.send("third"))
    await asyncio.sleep(0)
    assert left == ["first"]
    room.set_result(None)
    await asyncio.gather(second, third)
    assert left == ["first", "second", "third"]
    assert written == ["first"]
    await socket.send("fourth")  # nothing waits any more: asked first again
    assert written == ["first", "fourth"]


async def test_a_send_cancelled_while_it_waits_is_cancelled_where_it_waits() -> None:
    waiting = asyncio.Event()
    cancelled: list[str] = []
    left: list[str] = []

    async def send(text: str) -> None:
        if text == "stuck":
            waiting.set()
            try:
                await asyncio.get_running_loop().create_future()  # the client never takes it
            except asyncio.CancelledError:
                cancelled.append(text)
                raise
        left.append(text)

    socket = await sending(send)
    stuck = asyncio.create_task(socket.send("stuck"))
    await waiting.wait()
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    assert cancelled == ["stuck"]  # in the server's send, as when it is awaited whole
    await socket.send("next")  # the cancelled send holds nothing up
    assert left == ["next"]
    assert not socket.closed


async def test_a_send_that_waits_past_send_timeout_drops_the_socket(
    caplog: pytest.LogCaptureFixture,
) -> None:
    timed_out: list[str] = []

    async def send(text: str) -> None:
        try:
            await asyncio.get_running_loop().create_future()  # the client never takes it
        except asyncio.CancelledError:
            timed_out.append(text)
            raise

    socket = await sending(send, send_timeout=0.05)
    await socket.send("stuck")
    assert timed_out == ["stuck"]
    assert socket.closed
    await socket.send("after")  # a closed socket sends nothing more
    assert timed_out == ["stuck"]
    assert any("stopped reading" in record.getMessage() for record in runtime_records(caplog))


def server_ends(port: int) -> dict[int, tuple[str, int]]:
    """The server's ends of TCP connections to ``port`` of 127.0.0.1, as the kernel lists them.

    Client port → (state, bytes in the send queue), from ``/proc/net/tcp``:
    what the server holds whatever the app believes.
    """
    ends: dict[int, tuple[str, int]] = {}
    with open("/proc/net/tcp") as table:
        next(table)  # the header
        for line in table:
            local, remote, state, queues = line.split()[1:5]
            if int(local.rpartition(":")[2], 16) == port:
                ends[int(remote.rpartition(":")[2], 16)] = (state, int(queues.split(":")[0], 16))
    return ends


ESTABLISHED = "01"


async def test_a_client_that_stopped_reading_is_let_go_at_the_tcp_level(probe: Probe) -> None:
    # The client stops reading its socket while the server pushes diffs of 1 MB:
    # once send_timeout passes, the server's end of the connection is gone, its
    # descriptor and its megabytes of send queue with it, whatever the client does.
    send_timeout = 0.5
    app = probe_app(send_timeout=send_timeout)
    with serve(app, ws=WebSocketProtocol) as base_url:
        port = int(base_url.rpartition(":")[2])
        async with joined(base_url, **RAW, close_timeout=0.2) as client:
            client_port = client.ws.transport.get_extra_info("sockname")[1]
            assert server_ends(port)[client_port][0] == ESTABLISHED
            client.ws.transport.pause_reading()  # nothing more leaves the kernel's buffer
            for _ in range(40):  # 40 MB of diffs: far more than the kernel buffers hold
                await click_unread(client, "big", size=1_000_000)
            await eventually(lambda: server_ends(port).get(client_port, ("", 0))[1] > 0)
            await eventually(lambda: client_port not in server_ends(port), send_timeout + WAIT)


async def test_the_apps_server_writes_a_frame_itself_only_when_it_can_go_at_once() -> None:
    # What the server's own write says at each step of a connection, from the app's side.
    said: dict[str, bool] = {}
    gone = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        write = scope["extensions"][transport.WRITE_EXTENSION]["text"]
        said["before accept"] = write("early")
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        said["open"] = write("hello")
        protocol = write.__self__
        protocol.writable.clear()  # as when the client is slow to read
        said["no room"] = write("held")
        protocol.writable.set()
        said["room again"] = write("again")
        await receive()  # the client's close
        said["client gone"] = write("late")
        gone.set()

    with serve(app, ws=WebSocketProtocol) as base_url:
        url = base_url.replace("http", "ws", 1) + "/ws"
        async with websockets.connect(url, compression=None) as ws:
            assert [await ws.recv(), await ws.recv()] == ["hello", "again"]
        await asyncio.wait_for(gone.wait(), WAIT)
    assert said == {
        "before accept": False,
        "open": True,
        "no room": False,
        "room again": True,
        "client gone": False,
    }


def test_an_upgrade_the_server_refuses_is_answered_and_let_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # websockets refuses a handshake with no key (400): it never reaches the app, there is
    # no scope to offer the server's write in, and the connection must not stay the server's.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("a refused upgrade reached the app")

    # Without a grace time, the server's shutdown waits for every connection it holds.
    with serve(app, ws=WebSocketProtocol, timeout_graceful_shutdown=None) as base_url:
        port = int(base_url.rpartition(":")[2])
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as client:
            client.sendall(
                b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            assert client.recv(4096).startswith(b"HTTP/1.1 400")
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []


# -- origins -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        ("https://{host}", True),  # the page's own host behind TLS
        ("ftp://{host}", False),
        ("https://Allowed.Example/", True),  # as browsers and people spell an allowed one
        ("https://allowed.example.evil", False),
    ],
)
async def test_the_origin_is_the_pages_host_or_an_allowed_one(
    probe: Probe, origin: str, accepted: bool
) -> None:
    with serve(probe_app(allowed_origins=("https://allowed.example",))) as base_url:
        origin = origin.format(host=base_url.removeprefix("http://"))
        if accepted:
            async with joined(base_url, origin=origin) as client:
                assert (await client.heartbeat())["status"] == "ok"
        else:
            with pytest.raises(InvalidStatus, match="403"):
                async with joined(base_url, origin=origin):
                    pass


# -- idle sockets ------------------------------------------------------------------

IDLE = scaled(1.0)  # seconds: a heartbeat every IDLE / 4 arrives in time on a busy machine


async def test_a_silent_socket_is_closed_after_idle_timeout(probe: Probe) -> None:
    with serve(probe_app(idle_timeout=IDLE)) as base_url:
        async with LiveClient.open(base_url, "/probe") as client:
            started = time.monotonic()  # the server hears the join after this
            assert (await client.join())["status"] == "ok"
            assert await client.close_code(timeout=IDLE + WAIT) == 1000
            assert time.monotonic() - started >= IDLE * 0.9
            await eventually(lambda: len(probe.disconnects) == 1)


async def test_heartbeats_keep_a_socket_open(probe: Probe) -> None:
    with serve(probe_app(idle_timeout=IDLE)) as base_url:
        async with joined(base_url) as client:
            for _ in range(10):  # two and a half idle timeouts
                await asyncio.sleep(IDLE / 4)
                assert (await client.heartbeat())["status"] == "ok"
            assert (await client.click("inc"))["status"] == "ok"
            assert not probe.disconnects


# -- log lines -------------------------------------------------------------------

HUGE = "x" * 1_000_000


async def test_client_text_in_log_lines_is_clipped(
    server: str, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LIVE_LOGGER)
    async with joined(server) as client:
        await client.call(HUGE, "phx_join", {})  # unmatched topic
        await client.call("phoenix", HUGE, {})  # unknown event
        await client.push(HUGE, {})  # unknown channel event
        await client.push("event", {"type": "click", "event": HUGE, "value": {"size": HUGE}})
        many_keys = {f"{i}{HUGE[:1000]}": "not a number" for i in range(1000)}
        await client.push("event", {"type": "click", "event": "x", "value": {"scores": many_keys}})
    lines = [record.getMessage() for record in runtime_records(caplog)]
    assert len(lines) == 5
    assert all("\n" not in line and len(line) < 800 for line in lines), [len(x) for x in lines]


async def test_a_socket_logs_at_most_warnings_per_minute_then_a_summary(
    probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    with serve(probe_app(warnings_per_minute=5)) as base_url:
        async with LiveClient.open(base_url, "/probe") as client:
            for _ in range(200):
                await client.send(None, client.next_ref(), "lv:nobody", "event", {})
            assert (await client.heartbeat())["status"] == "ok"  # all 200 were handled
    # The server stopped, so the socket is closed: the summary is out.
    lines = [record.getMessage() for record in runtime_records(caplog)]
    assert len(lines) == 6, lines
    assert lines[:5] == ["'event' on 'lv:nobody': 'unmatched topic'"] * 5
    assert "195" in lines[5]


def test_client_log_summarises_what_it_dropped_when_a_minute_is_over(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    log = ClientLog(logging.getLogger(LIVE_LOGGER), per_minute=2, limit=20)
    for i in range(5):
        log.warning("bad %s", i)
    clock[0] += 60
    log.warning("bad %s", "again")
    assert [record.getMessage() for record in caplog.records] == [
        "bad 0",
        "bad 1",
        "3 more warnings from this client not logged",
        "bad 'again'",
    ]


def test_clip_cuts_long_values_and_escapes_newlines() -> None:
    assert clip("a\nb") == "'a\\nb'"
    assert clip("y" * 1000, 10) == "'yyyyyyyyy…(+992 chars)"


# -- the CSRF token in uvicorn's logs --------------------------------------------

TOKEN = "s3cr3t-t0k3n"
CLIENT = "127.0.0.1:5000"
UVICORN_RECORDS = [  # (logger, msg, args) as uvicorn logs a socket and a request
    (
        "uvicorn.error",
        '%s - "WebSocket %s" [accepted]',
        (CLIENT, f"/live/websocket?_csrf_token={TOKEN}&vsn=2.0.0"),
    ),
    (
        "uvicorn.error",
        '%s - "WebSocket %s" 403',
        (CLIENT, f"/live/websocket?vsn=2.0.0&_csrf_token={TOKEN}"),
    ),
    (
        "uvicorn.access",
        '%s - "%s %s HTTP/%s" %d',
        (CLIENT, "GET", f"/live/websocket?_csrf_token={TOKEN}", "1.1", 400),
    ),
    ("uvicorn.error", f"> GET /live/websocket?_csrf_token={TOKEN}&vsn=2.0.0 HTTP/1.1", ()),
]


@pytest.mark.parametrize(("name", "msg", "args"), UVICORN_RECORDS)
def test_the_csrf_token_is_redacted_from_uvicorn_records(
    name: str, msg: str, args: tuple[t.Any, ...]
) -> None:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    expected = (msg % args).replace(TOKEN, "[redacted]")  # the rest of the line kept
    assert redact_query_tokens(record) is True  # redacted, never dropped
    assert record.getMessage() == expected


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_a_real_servers_log_never_shows_the_csrf_token(server: str, probe: Probe) -> None:
    handler = Collect()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn.access")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    try:
        async with joined(server) as client:
            token = client.page.csrf_token
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
    socket_lines = [line for line in handler.lines if "/live/websocket" in line]
    assert socket_lines and all("_csrf_token=[redacted]" in line for line in socket_lines)
    assert not [line for line in handler.lines if token in line]
{%- endraw %}
