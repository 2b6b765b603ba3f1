"""Edge cases found by review: a channel ending while the socket's reader waits, a view's
own ``CancelledError``, percent-encoded paths, what parsed frames cost, and annotations
that exist only for type checkers; an idle view holds no worker, and the infos it gets
are handled in order whether they wait alone or in an inbox.
"""

from __future__ import annotations

import asyncio
import json
import tracemalloc
import typing as t

import pytest
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from {{ cookiecutter.package_name }}.live import (
    InfoEvent,
    LiveConfig,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
)
from {{ cookiecutter.package_name }}.live.binding import bind
from {{ cookiecutter.package_name }}.live.channel import LiveChannel
from {{ cookiecutter.package_name }}.live.protocol import parsed_size
from {{ cookiecutter.package_name }}.live.socket import Broadcast
from {{ cookiecutter.package_name }}.live.testing import ServerError, live, scaled
from {{ cookiecutter.package_name }}.live.transport import Transport

from live_client import LiveClient, ok
from servers import serve

if t.TYPE_CHECKING:  # names a type checker sees and the running program does not
    from {{ cookiecutter.package_name }}.live import ConnectedLiveViewSocket as TypeOnlySocket
{%- raw %}

SECRET = "secret"
TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>"
    "<title>{{ title }}</title>{{ live_container }}",
    "work.html": "<p id='n'>{{ n }}</p><p id='name'>{{ name }}</p>",
}


class WorkLive(LiveView[dict[str, t.Any]]):
    """``crash`` raises after a while, ``sleep`` holds the view, ``cancelled`` awaits a
    task cancelled elsewhere, ``later`` sends the view an info that adds 10; ``name``
    comes from the path."""

    template_name = "work.html"

    async def mount(self, socket: t.Any, session: dict[str, t.Any]) -> None:
        socket.context = {"n": 0, "name": ""}

    async def handle_params(self, socket: TypeOnlySocket[t.Any], name: str = "") -> None:
        socket.context["name"] = name

    async def handle_event(self, event: str, socket: TypeOnlySocket[t.Any]) -> None:
        if event == "crash":
            await asyncio.sleep(0.2)
            raise RuntimeError("expected by the test")
        if event == "sleep":
            await asyncio.sleep(0.6)
        if event == "cancelled":
            task = asyncio.create_task(asyncio.sleep(10))
            task.cancel()
            await task  # raises CancelledError in the handler
        if event == "later":
            socket.schedule_info_once(InfoEvent("add"))
        socket.context["n"] += 1

    async def handle_info(self, event: InfoEvent, socket: TypeOnlySocket[t.Any]) -> None:
        socket.context["n"] += 10


class HearLive(WorkLive):
    """Keeps the names of the infos it handles, in the order it handles them."""

    heard: t.ClassVar[list[str]] = []

    async def handle_info(self, event: InfoEvent, socket: TypeOnlySocket[t.Any]) -> None:
        self.heard.append(event.name)


class Transports(list[Transport]):
    """The server's transports, for the test to look at their budgets."""


def make_app(transports: Transports, **config: t.Any) -> Starlette:
    routes = LiveRoutes(
        LiveEnvironment(loader=DictLoader(TEMPLATES)), SECRET, config=LiveConfig(**config)
    )
    routes.add("/work", WorkLive)
    routes.add("/hello/{name}", WorkLive)
    routes.add("/café", WorkLive)
    routes.add("/hear", HearLive)

    async def endpoint(websocket: WebSocket) -> None:
        transport = Transport(websocket, routes)
        transports.append(transport)
        await transport.run()

    return Starlette(
        routes=[WebSocketRoute("/live/websocket", endpoint), *routes.routes],
        middleware=[Middleware(SessionMiddleware, secret_key=SECRET)],
    )


async def replies(
    client: LiveClient, refs: list[str], timeout: float = scaled(15.0)
) -> dict[str, t.Any]:
    """The reply to each of ``refs``, in whatever order the views answer."""
    got: dict[str, t.Any] = {}
    async with asyncio.timeout(timeout):
        while len(got) < len(refs):
            frame = await client.receive()
            if frame.event == "phx_reply":
                got[t.cast(str, frame.ref)] = frame.payload
    return got


async def send_click(client: LiveClient, topic: str, event: str, pad: int = 0) -> str:
    ref = client.next_ref()
    payload = {"type": "click", "event": event, "value": {"pad": "x" * pad}}
    await client.send(client.join_refs[topic], ref, topic, "event", payload)
    return ref


async def test_a_channel_ending_while_the_reader_waits_for_room_loses_nothing() -> None:
    transports = Transports()
    with serve(make_app(transports, max_queued_bytes=10_000)) as base_url:
        async with LiveClient.open(base_url, "/work") as client:
            first = client.page
            second = await client.load("/work")
            assert (await client.join())["status"] == "ok"
            assert (await client.join(page=second))["status"] == "ok"
            refs = [
                await send_click(client, first.topic, "crash"),  # ends its channel at +0.2 s
                await send_click(client, second.topic, "sleep"),  # busy until +0.6 s
                await send_click(client, second.topic, "inc", pad=12_000),  # over the budget
                # Read only once there is room again, after the first channel ended.
                await send_click(client, first.topic, "inc", pad=9_000),
            ]
            got = await replies(client, refs)
            assert [got[ref]["status"] for ref in refs] == ["error", "ok", "ok", "error"]
            assert got[refs[0]]["response"] == {"reason": "crash"}
            assert got[refs[3]]["response"] == {"reason": "unmatched topic"}
            # Every queued byte was given back, and the socket reads on.
            (transport,) = transports
            assert transport._queued == 0 and transport._room.is_set()
            assert (await client.heartbeat())["status"] == "ok"
            assert set(transport.channels) == {second.topic}


async def test_a_rejoin_waiting_for_room_behind_a_leave_joins() -> None:
    # A mailbox of one: the leave waits behind a busy click, the rejoin (a live navigation
    # on the same topic) waits for room. The channel the leave empties takes it.
    with serve(make_app(Transports(), mailbox_size=1)) as base_url:
        async with LiveClient.open(base_url, "/work") as client:
            assert (await client.join())["status"] == "ok"
            topic = client.page.topic
            busy = await send_click(client, topic, "sleep")
            leave = client.next_ref()
            await client.send(client.join_ref, leave, topic, "phx_leave", {})
            ok(await client.join())
            ok(await client.reply_to(busy))
            ok(await client.reply_to(leave))


async def resting(channel: LiveChannel) -> None:
    """Until the channel holds no worker and no queue (its view is idle), within a bound."""
    async with asyncio.timeout(scaled(5.0)):
        while (
            channel._worker
            or channel._messages is not None
            or channel._inbox is not None
            or channel._lone is not None
        ):
            await asyncio.sleep(0.01)


async def test_an_idle_view_holds_no_task_and_no_queue_until_something_comes() -> None:
    """A worker and its queues for each of thousands of idle views would be most of their
    memory: a message or an info starts a worker, which ends once the view is idle."""
    transports = Transports()
    with serve(make_app(transports)) as base_url:
        async with LiveClient.open(base_url, "/work") as client:
            assert (await client.join())["status"] == "ok"
            (transport,) = transports
            channel = transport.channels[client.page.topic]
            assert isinstance(channel, LiveChannel)
            await resting(channel)
            assert ok(await client.click("inc"))["diff"] == {"0": "1"}
            await resting(channel)
            assert ok(await client.click("later"))["diff"] == {"0": "2"}
            async with asyncio.timeout(scaled(5.0)):
                push = await client.receive()
            assert (push.event, push.payload) == ("diff", {"0": "12"})  # the info's
            await resting(channel)
            assert channel.joined is not None and not channel.finished
            assert ok(await client.click("inc"))["diff"] == {"0": "13"}


async def test_infos_for_an_idle_view_are_handled_in_the_order_they_came() -> None:
    # One info alone waits without an inbox; a second one makes it, and it takes both.
    transports = Transports()
    heard = HearLive.heard = []
    async with live(make_app(transports), "/hear", lifespan=False):
        (transport,) = transports
        (channel,) = transport.channels.values()
        assert isinstance(channel, LiveChannel) and channel.joined is not None
        socket = channel.joined.socket
        await resting(channel)
        channel.deliver_info(socket, InfoEvent("alone"), Broadcast("news"))
        assert channel._inbox is None
        await resting(channel)
        for name in ("first", "second", "third"):
            channel.deliver_info(socket, InfoEvent(name), Broadcast("news"))
        assert channel._inbox is not None and channel._lone is None
        await resting(channel)
        assert heard == ["alone", "first", "second", "third"]


async def test_a_views_own_cancelled_error_is_a_crash_and_the_view_rejoins() -> None:
    async with live(make_app(Transports()), "/work", lifespan=False) as view:
        with pytest.raises(ServerError, match="crash"):
            await view.hook("cancelled")
        await view.hook("inc")  # the client rejoined: a fresh mount
        assert view.text("#n") == "1"


@pytest.mark.parametrize(
    ("path", "name"),
    [("/hello/J%C3%BCrgen", "Jürgen"), ("/hello/Ada%20Lovelace", "Ada Lovelace")],
)
async def test_path_params_are_decoded_alike_over_http_and_the_join(path: str, name: str) -> None:
    async with live(make_app(Transports()), path, lifespan=False) as view:
        assert view.text("#name") == name  # after the join: the same as the HTTP render


async def test_a_route_with_non_ascii_characters_joins() -> None:
    async with live(make_app(Transports()), "/caf%C3%A9", lifespan=False) as view:
        await view.hook("inc")
        assert view.text("#n") == "1"


N = 5_000
SHAPES = {
    "dicts": "[" + ",".join(["{}"] * N) + "]",
    "lists": "[" + ",".join(["[]"] * N) + "]",
    "nested lists": "[" * 500 + "]" * 500,
    "short strings": "[" + ",".join([f'"{i}"' for i in range(N)]) + "]",
    "floats": "[" + ",".join(["1.5"] * N) + "]",
    "big ints": "[" + ",".join(["123456789012"] * N) + "]",
    "keys": "{" + ",".join([f'"{i}":{{}}' for i in range(N)]) + "}",
    "ascii text": json.dumps("x" * 100_000),
    "wide text": json.dumps("\U0001f600" * 10_000, ensure_ascii=False),
}


@pytest.mark.parametrize("text", SHAPES.values(), ids=list(SHAPES))
def test_a_frames_charge_on_the_budget_covers_its_parsed_size(text: str) -> None:
    tracemalloc.start()
    try:
        data = json.loads(text)
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del data
    assert used <= parsed_size(text) <= 40 * max(used, len(text))


class OnlyForTypes(LiveView[dict[str, t.Any]]):
    template_name = "work.html"

    async def handle_event(
        self, event: str, socket: TypeOnlySocket[t.Any], n: Missing  # noqa: F821
    ) -> None:
        """``n`` is a value parameter: its type is needed, and ``Missing`` does not resolve."""


async def test_annotations_only_for_type_checkers_are_fine_where_nothing_reads_them() -> None:
    # WorkLive's socket parameters are annotated with a TYPE_CHECKING-only name.
    async with live(make_app(Transports()), "/hello/x", lifespan=False) as view:
        await view.hook("inc")
        assert view.text("#n") == "1"


def test_an_annotation_that_is_needed_and_does_not_resolve_is_named() -> None:
    with pytest.raises(TypeError, match=r"OnlyForTypes.handle_event: .*'n' does not resolve"):
        bind(OnlyForTypes().handle_event, {"n": "1"}, {})
{%- endraw %}
