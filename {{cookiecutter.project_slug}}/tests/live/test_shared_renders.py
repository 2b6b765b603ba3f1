"""One broadcast, shared work: views that render the same template from equal contexts render
once between them, and send the same diff, encoded once.

Every test acts through the protocol (the official client's merge, in ``live``) and counts
the renders with a template global; frames are checked as sent, byte for byte.
"""

from __future__ import annotations

import gc
import json
import time
import typing as t
import weakref
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import DictLoader
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from {{ cookiecutter.package_name }}.live import (
    ComponentSocket,
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveComponent,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
    Stream,
    is_connected,
    pure,
)
from {{ cookiecutter.package_name }}.live import shared_renders as shared_module
from {{ cookiecutter.package_name }}.live.diff import diff_tree as live_diff_tree
from {{ cookiecutter.package_name }}.live.protocol import encode_frame, encode_json, frame_head
from {{ cookiecutter.package_name }}.live.pubsub.memory import MemoryPubSub
from {{ cookiecutter.package_name }}.live.shared_renders import (
    DIFFS_KEPT,
    SharedRenders,
)
from {{ cookiecutter.package_name }}.live.testing import LiveViewTest, live, run_lifespan
from {{ cookiecutter.package_name }}.live.transport import Transport

from properties import examples
{%- raw %}

TOPIC = "board"
CROWD = 5
TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>"
    "<title>{{ title }}</title>{{ live_container }}",
    "board.html": "{{ rendered() }}<p id='news'>{{ news }}</p><p id='who'>{{ who }}</p>"
    "<p id='n'>{{ n }}</p><ul>{% for tag in tags %}<li>{{ tag }}</li>{% endfor %}</ul>"
    "{% for kind, message in flash.items() %}<p id='flash-{{ kind }}'>{{ message }}</p>"
    "{% endfor %}",
    "badged.html": "{{ rendered() }}<p id='news'>{{ news }}</p>"
    "{% if news %}{{ live_component(Badge, id='badge', news=news) }}{% endif %}",
    "badge.html": "<b id='badge'>{{ news }}</b>",
    "streamed.html": "{{ rendered() }}<p id='news'>{{ news }}</p>"
    "<ul id='rows' phx-update='stream'>{% for dom_id, row in rows %}"
    '<li id="{{ dom_id }}">{{ row.text }}</li>{% endfor %}</ul>',
}


@dataclass
class Counts:
    """Renders of the views' templates, as the template global ``rendered()`` counts them."""

    renders: int = 0

    def __call__(self) -> str:
        self.renders += 1
        return ""


class BoardLive(LiveView[dict[str, t.Any]]):
    """Shows the board's news; ``?who=`` is a value of its own. A broadcast may also set
    the title, push an event, put a flash or patch the URL: each view's own part of the
    message."""

    template_name = "board.html"

    async def mount(self, socket: LiveViewSocket[dict[str, t.Any]], session: t.Any) -> None:
        socket.context = {"news": "", "who": "", "n": 0, "tags": ("a", "b")}
        if is_connected(socket):
            await socket.subscribe(TOPIC)

    async def handle_params(self, socket: LiveViewSocket[dict[str, t.Any]], who: str = "") -> None:
        socket.context["who"] = who

    async def handle_event(self, event: str, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        socket.context["n"] += 1

    async def handle_info(self, event: InfoEvent, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        message = event.payload
        socket.context["news"] = message["text"]
        socket.context["tags"] += (message["text"],)
        if "title" in message:
            socket.live_title = message["title"]
        if "push" in message:
            socket.push_event("heard", {"text": message["text"]})
        if "flash" in message:
            socket.put_flash("info", message["flash"])
        if "patch" in message:
            await socket.push_patch(message["patch"])


class Badge(LiveComponent[dict[str, t.Any]]):
    template_name = "badge.html"

    async def update(self, socket: ComponentSocket[dict[str, t.Any]], assigns: t.Any) -> None:
        socket.context = dict(assigns)


class BadgedLive(BoardLive):
    """The news in a component too, once there is news: its first render makes the component."""

    template_name = "badged.html"


class StreamedLive(LiveView[dict[str, t.Any]]):
    """Each broadcast's news is a row of a stream too."""

    template_name = "streamed.html"

    async def mount(self, socket: LiveViewSocket[dict[str, t.Any]], session: t.Any) -> None:
        socket.context = {"news": "", "rows": Stream(name="rows")}
        if is_connected(socket):
            await socket.subscribe(TOPIC)

    async def handle_info(self, event: InfoEvent, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        text = event.payload["text"]
        socket.context["news"] = text
        socket.context["rows"].insert({"id": text, "text": text})


@pytest.fixture
def counts() -> Counts:
    return Counts()


@pytest.fixture
def pubsub() -> MemoryPubSub:
    return MemoryPubSub()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every frame the server sends, as sent."""
    frames: list[str] = []
    send = Transport.send

    async def recorded(self: Transport, text: str) -> None:
        frames.append(text)
        await send(self, text)

    monkeypatch.setattr(Transport, "send", recorded)
    return frames


@pytest.fixture
def app(pubsub: MemoryPubSub, counts: Counts) -> Starlette:
    environment = LiveEnvironment(loader=DictLoader(TEMPLATES))
    environment.globals.update(rendered=pure(counts), Badge=Badge)  # it counts, and is shared
    routes = LiveRoutes(environment, "secret", pubsub=pubsub)
    routes.add("/board", BoardLive)
    routes.add("/badged", BadgedLive)
    routes.add("/streamed", StreamedLive)
    return Starlette(
        routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key="secret")]
    )


@asynccontextmanager
async def joined(app: Starlette, urls: list[str]) -> AsyncIterator[list[LiveViewTest]]:
    """Views of ``app`` joined on ``urls``, one after the other."""
    async with run_lifespan(app), AsyncExitStack() as stack:
        yield [await stack.enter_async_context(live(app, url, lifespan=False)) for url in urls]


async def broadcast(
    pubsub: MemoryPubSub, counts: Counts, views: list[LiveViewTest], **message: t.Any
) -> int:
    """Broadcast ``message`` and wait until every view shows its news; the renders it took."""
    before = counts.renders
    await pubsub.broadcast(TOPIC, message)
    for view in views:
        await view.wait_for("#news", text=message["text"])
    return counts.renders - before


def diffs(frames: list[str]) -> list[str]:
    """The pushed diffs among ``frames``, as their payloads' JSON."""
    return [encode_json(frame[4]) for frame in map(json.loads, frames) if frame[3] == "diff"]


# -- sharing -----------------------------------------------------------------------


async def test_views_on_one_topic_render_once_and_send_the_same_diff(
    app: Starlette, pubsub: MemoryPubSub, counts: Counts, sent: list[str]
) -> None:
    async with joined(app, ["/board"] * CROWD) as views:
        for text in ("one", "two", "three"):
            sent.clear()
            assert await broadcast(pubsub, counts, views, text=text) == 1
            pushed = diffs(sent)
            assert len(pushed) == CROWD and len(set(pushed)) == 1
            for frame in sent:  # as the unshared path encodes its payload
                assert frame == encode_frame(*json.loads(frame))
        for view in views:
            assert view.html() == views[0].html()
            assert [li.text() for li in view.find("li")] == ["a", "b", "one", "two", "three"]


async def test_the_diff_is_made_once_the_views_hold_the_same_tree(
    app: Starlette, pubsub: MemoryPubSub, counts: Counts, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[object] = []

    def counted(old: t.Any, new: t.Any) -> t.Any:
        made.append(new)
        return live_diff_tree(old, new)

    monkeypatch.setattr(shared_module, "diff_tree", counted)
    async with joined(app, ["/board"] * CROWD) as views:
        await broadcast(pubsub, counts, views, text="one")
        assert len(made) == CROWD  # each view had its own tree, from its join
        made.clear()
        await broadcast(pubsub, counts, views, text="two")
        assert len(made) == 1  # the tree they now share: one diff, encoded once


async def test_a_view_with_a_value_of_its_own_gets_its_own_render(
    app: Starlette, pubsub: MemoryPubSub, counts: Counts
) -> None:
    urls = ["/board?who=ada", "/board?who=bo", "/board?who=ada", "/board?who=bo"]
    async with joined(app, urls) as views:
        assert await broadcast(pubsub, counts, views, text="one") == 2
        assert await broadcast(pubsub, counts, views, text="two") == 2
        for view, url in zip(views, urls, strict=True):
            assert view.text("#who") == url.rpartition("=")[2]
            assert view.text("#news") == "two"


async def test_a_view_that_rendered_alone_then_shares_again_correctly(
    app: Starlette, pubsub: MemoryPubSub, counts: Counts
) -> None:
    # Views that took shared trees render their own later, their change tracking (of the
    # tags' loop) last fed by a render of their own: what they send is right all the same.
    async with joined(app, ["/board"] * 3) as views:
        await broadcast(pubsub, counts, views, text="one")
        await views[1].hook("bump")  # its own render, from the tree it shares
        assert await broadcast(pubsub, counts, views, text="two") == 2  # its n differs
        await views[0].hook("bump")
        await views[2].hook("bump")
        assert await broadcast(pubsub, counts, views, text="three") == 1  # equal again
        for view in views:
            assert view.text("#n") == "1"
            assert [li.text() for li in view.find("li")] == ["a", "b", "one", "two", "three"]


@pytest.mark.parametrize(
    ("extra", "check"),
    [
        ({"title": "News!"}, lambda view: view.title == "News!"),
        ({"push": True}, lambda view: [event.name for event in view.pushed_events] == ["heard"]),
        ({"flash": "read me"}, lambda view: view.text("#flash-info") == "read me"),
        ({"patch": "/board?who=zed"}, lambda view: view.text("#who") == "zed"),
    ],
    ids=["title", "pushed event", "flash", "navigation"],
)
async def test_a_message_with_a_part_of_each_view_s_own_is_not_shared(
    app: Starlette,
    pubsub: MemoryPubSub,
    counts: Counts,
    extra: dict[str, t.Any],
    check: t.Callable[[LiveViewTest], bool],
) -> None:
    async with joined(app, ["/board"] * 3) as views:
        assert await broadcast(pubsub, counts, views, text="one", **extra) == 3
        for view in views:
            assert check(view)


@pytest.mark.parametrize("url", ["/badged", "/streamed"])
async def test_views_with_components_or_streams_are_not_shared(
    app: Starlette, pubsub: MemoryPubSub, counts: Counts, url: str
) -> None:
    async with joined(app, [url] * 3) as views:
        for text in ("one", "two"):
            assert await broadcast(pubsub, counts, views, text=text) == 3
        for view in views:
            if url == "/badged":
                assert view.text("#badge") == "two"
            else:
                assert [li.text() for li in view.find("li")] == ["one", "two"]


STATUS = {"now": "a"}


class StatusLive(LiveView[dict[str, t.Any]]):
    """Shows a status the app keeps outside the view's context (a global reads it); a
    broadcast says it changed. ``template_context`` counts its calls."""

    template_name = "status.html"
    contexts = 0

    async def mount(self, socket: LiveViewSocket[dict[str, t.Any]], session: t.Any) -> None:
        socket.context = {"title": "Status", "items": []}
        if is_connected(socket):
            await socket.subscribe(TOPIC)

    async def handle_info(self, event: InfoEvent, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        if event.payload.get("flat"):
            socket.context.pop("items", None)  # shareable but for the global

    def template_context(self, socket: LiveViewSocket[dict[str, t.Any]]) -> dict[str, t.Any]:
        StatusLive.contexts += 1
        return super().template_context(socket)


@pytest.fixture
def status_app(pubsub: MemoryPubSub) -> Starlette:
    templates = {**TEMPLATES, "status.html": "<p id='status'>{{ status() }}</p>"}
    environment = LiveEnvironment(loader=DictLoader(templates))
    environment.globals["status"] = lambda: STATUS["now"]  # not pure: it reads the app
    routes = LiveRoutes(environment, "secret", pubsub=pubsub)
    routes.add("/status", StatusLive)
    return Starlette(
        routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key="secret")]
    )


async def test_a_template_reading_a_global_that_is_not_pure_renders_in_each_view(
    status_app: Starlette, pubsub: MemoryPubSub
) -> None:
    # Shared, a second refresh within the share's lifetime would show the first one's.
    STATUS["now"] = "a"
    async with joined(status_app, ["/status", "/status"]) as views:
        for now in ("b", "c", "d"):
            STATUS["now"] = now
            await pubsub.broadcast(TOPIC, {"flat": True})
            for view in views:
                await view.wait_for("#status", text=now)


async def test_a_view_whose_context_is_not_shareable_reads_it_once_an_update(
    status_app: Starlette, pubsub: MemoryPubSub
) -> None:
    async with joined(status_app, ["/status"]) as (view,):
        STATUS["now"] = "b"
        before = StatusLive.contexts
        await pubsub.broadcast(TOPIC, {})
        await view.wait_for("#status", text="b")
        assert StatusLive.contexts - before == 1


SHAPES = LiveEnvironment(
    loader=DictLoader(
        {
            "t.html": "{{ a }}",
            "clock.html": "{{ now() }}",
            "includes_clock.html": "<p>{% include 'clock.html' %}</p>",
            "imports_clock.html": "{% from 'macros.html' import stamp %}{{ stamp() }}",
            "macros.html": "{% macro stamp() %}{{ now() }}{% endmacro %}",
            "filtered.html": "{{ a | shout }}",
            "dynamic.html": "{% include name %}",
            "pure.html": "{{ app_name }} {{ twice(a) }} {{ range(a) | list }}"
            "<b phx-click=\"{{ js.hide('#x') }}\"></b>{% include 't.html' %}",
        }
    )
)
SHAPES.globals.update(now=time.time, app_name="app", twice=pure(lambda n: n * 2))
SHAPES.filters["shout"] = lambda text: str(text).upper()  # not marked pure


@pytest.mark.parametrize(
    "name",
    ["clock.html", "includes_clock.html", "imports_clock.html", "filtered.html", "dynamic.html"],
)
def test_a_template_whose_output_is_not_its_context_s_alone_is_never_shared(name: str) -> None:
    assert SharedRenders().key(SHAPES.get_template(name), {"a": 1, "name": "t.html"}) is None


def test_a_template_reading_pure_globals_filters_and_includes_is_shared() -> None:
    share = SharedRenders()
    assert share.key(SHAPES.get_template("pure.html"), {"a": 2}) is not None
    # A context value under a global's name is what the template reads: compared as such.
    assert share.key(SHAPES.get_template("clock.html"), {"now": 1}) is not None


def test_the_values_of_the_globals_a_template_reads_are_part_of_its_key() -> None:
    environment = LiveEnvironment(loader=DictLoader({"g.html": "{{ settings.banner }}"}))
    settings = {"banner": "a"}
    environment.globals["settings"] = settings  # the app changes it as it runs
    template, share = environment.get_template("g.html"), SharedRenders()
    before = share.key(template, {})
    settings["banner"] = "b"
    assert before is not None and share.key(template, {}) != before
    assert share.key(template, {"settings": {"banner": "b"}}) != share.key(template, {})


class Held(dict[str, t.Any]):
    """A tree that can be referred to weakly."""


def test_a_render_past_its_lifetime_is_let_go_with_the_trees_it_held() -> None:
    clock = Clock()
    share = SharedRenders(lifetime=1.0, clock=clock)
    key = t.cast(t.Any, share.key(TEMPLATE, {"a": 1}))
    tree, previous = Held(s=["<p>", "</p>"], **{"0": "new"}), Held(s=["<p>", "</p>"], **{"0": "x"})
    held = weakref.ref(tree), weakref.ref(previous)
    share.put(key, tree).diff_from(previous)
    del tree, previous
    clock.now = 3600.0  # an hour on, no broadcast since
    assert share.get(key) is None
    gc.collect()
    assert [ref() for ref in held] == [None, None]


# -- the share -----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


TREE = {"s": ["<p>", "</p>"], "0": "x"}
PLAIN = LiveEnvironment(loader=DictLoader({"t.html": "{{ a }}", "u.html": "{{ a }}"}))
TEMPLATE, OTHER = PLAIN.get_template("t.html"), PLAIN.get_template("u.html")


@pytest.mark.parametrize(
    "value",
    [[1, 2], {"a": [1]}, object(), {1, 2}, Stream(name="rows")],
    ids=["list", "nested", "object", "set", "stream"],
)
def test_a_context_holding_anything_but_flat_scalars_is_never_shared(value: t.Any) -> None:
    assert SharedRenders().key(TEMPLATE, {"a": 1, "b": value}) is None


def test_the_view_s_context_beside_its_keys_stands_for_their_names() -> None:
    key = SharedRenders().key
    tags, equal = tuple("ab"), tuple("ab")
    first = key(TEMPLATE, {"tags": tags, "context": {"tags": tags}})
    assert first is not None
    assert first == key(TEMPLATE, {"tags": equal, "context": {"tags": equal}})
    # Anything but the very objects of other variables, or more, is not one.
    assert key(TEMPLATE, {"tags": tags, "context": {"tags": equal}}) is None
    assert key(TEMPLATE, {"tags": tags, "context": {"tags": tags, "x": 1}}) is None


def test_equal_looking_values_that_render_differently_are_kept_apart() -> None:
    key = SharedRenders().key
    keys = {
        key(TEMPLATE, {"a": value})
        for value in ("<b>", Markup("<b>"), 1, True, 1.0, 0.0, -0.0, None, ("1",), {"1": 1})
    }
    assert len(keys) == 10
    assert key(TEMPLATE, {"a": 1}) != key(OTHER, {"a": 1})


def test_renders_are_kept_briefly_and_few() -> None:
    clock = Clock()
    share = SharedRenders(kept=3, lifetime=1.0, clock=clock)
    keys = [t.cast(t.Any, share.key(TEMPLATE, {"n": n})) for n in range(5)]
    for key in keys:
        share.put(key, dict(TREE))
    assert [share.get(key) is not None for key in keys] == [False, False, True, True, True]
    clock.now = 1.5
    assert all(share.get(key) is None for key in keys)  # too old to share
    assert not share._renders  # nor kept: they went as they were asked for


def test_a_diff_is_kept_by_the_very_tree_it_was_made_from() -> None:
    share = SharedRenders()
    key = t.cast(t.Any, share.key(TEMPLATE, {"n": 1}))
    render = share.put(key, {"s": ["<p>", "</p>"], "0": "new"})
    olds = [{"s": ["<p>", "</p>"], "0": "old"} for _ in range(DIFFS_KEPT + 1)]
    payload = render.diff_from(olds[0])
    assert payload == '{"0":"new"}'
    assert render.diff_from(olds[0]) is payload  # made once
    assert render.diff_from(olds[1]) is not payload  # an equal tree is another tree
    assert render.diff_from(render.tree) == ""  # nothing changed
    for old in olds[2:]:
        render.diff_from(old)
    assert len(render._diffs) == DIFFS_KEPT


SCALARS = st.floats(allow_nan=False, allow_infinity=False) | st.integers() | st.text()
JSON = st.recursive(
    st.none() | st.booleans() | SCALARS,
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@examples(200)
@given(
    join_ref=st.none() | st.text(),
    ref=st.none() | st.text(),
    topic=st.text(),
    payload=JSON,
)
def test_a_frame_head_and_an_encoded_payload_are_the_frame_encoded_whole(
    join_ref: str | None, ref: str | None, topic: str, payload: t.Any
) -> None:
    expected = encode_frame(join_ref, ref, topic, "diff", payload)
    assert frame_head(join_ref, ref, topic, "diff") + encode_json(payload) + "]" == expected
{%- endraw %}
