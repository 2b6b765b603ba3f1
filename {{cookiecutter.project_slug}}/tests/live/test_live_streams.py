"""Streams: the server sends a list's changed rows once and forgets them; clients keep them.

From the ``Stream`` itself, through the rendered tree and the diff on the
wire, to what the test client and the official client in Chromium show: rows
inserted at the top or the bottom, updated in place, deleted, reset by a
patch, trimmed to a ``limit``, and inserted by an info.
"""

from __future__ import annotations

import json
import re
import typing as t
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from jinja2 import ChoiceLoader, DictLoader, TemplateRuntimeError
from playwright.async_api import Browser, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from starlette.applications import Starlette

from {{ cookiecutter.package_name }} import app as app_module
from {{ cookiecutter.package_name }}.live import (
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
    Stream,
    diff_tree,
    is_connected,
    render_template,
    to_html,
)
from {{ cookiecutter.package_name }}.live.memo import Memo
from {{ cookiecutter.package_name }}.live.testing import DiffError, Rendered, live, run_lifespan
from {{ cookiecutter.package_name }}.live.tree import forget_streams
from {{ cookiecutter.package_name }}.settings import Settings

from browsing import assert_no_reload, open_live, set_marker, wait_until, watched
from conftest import app_settings
from live_client import LiveClient, Reply
from servers import serve

{%- raw %}

TOPIC = "feed"
FEED = """<section id="feed">
<ul id="items" phx-update="stream">
{% for dom_id, item in items %}<li id="{{ dom_id }}">{{ item.text }} \
<button class="delete" phx-click="delete" phx-value-id="{{ item.id }}">x</button></li>{% endfor %}
</ul>
<button id="top" phx-click="top">Top</button>
<button id="bottom" phx-click="bottom">Bottom</button>
<button id="limited" phx-click="limited">Top, keep three</button>
<button id="rename" phx-click="rename" phx-value-id="102">Rename 102</button>
<button id="rename-unknown" phx-click="rename" phx-value-id="999">Rename 999</button>
<button id="announce" phx-click="announce">Announce</button>
{% for at, limit in [(0, 3), (0, -3), (-1, -3), (-1, 3)] %}
<button id="burst-{{ at }}-{{ limit }}" phx-click="burst"
  phx-value-at="{{ at }}" phx-value-limit="{{ limit }}">Ten, keep three</button>
{% endfor %}
<a id="page-2" href="/feed?page=2" data-phx-link="patch" data-phx-link-state="push">Page 2</a>
</section>"""


def row(n: int, text: str | None = None) -> dict[str, t.Any]:
    return {"id": n, "text": text or f"Item {n}"}


@dataclass
class Feed:
    items: Stream[dict[str, t.Any]] = field(default_factory=lambda: Stream(name="items"))
    made: int = 0  # rows made by clicks: ids 1, 2, 3…

    def new(self) -> dict[str, t.Any]:
        self.made += 1
        return row(self.made)


class FeedLive(LiveView[Feed]):
    """Rows 101-103 on page 1 (201-203 on page 2); buttons for each stream operation."""

    template_name = "feed.html"

    async def mount(self, socket: LiveViewSocket[Feed], session: dict[str, t.Any]) -> None:
        socket.context = Feed()
        if is_connected(socket):
            await socket.subscribe(TOPIC)

    async def handle_params(self, socket: LiveViewSocket[Feed], page: int = 1) -> None:
        socket.context.items.reset([row(page * 100 + n) for n in (1, 2, 3)])

    async def handle_event(
        self,
        event: str,
        socket: ConnectedLiveViewSocket[Feed],
        id: int = 0,
        at: int = 0,
        limit: int = 0,
    ) -> None:
        feed = socket.context
        if event == "top":
            feed.items.insert(feed.new(), at=0)
        elif event == "bottom":
            feed.items.insert(feed.new())
        elif event == "limited":
            feed.items.insert(feed.new(), at=0, limit=3)
        elif event == "rename":
            feed.items.insert(row(id, f"Renamed {id}"), update_only=True)
        elif event == "delete":
            feed.items.delete(row(id))
        elif event == "announce":
            await socket.broadcast(TOPIC, row(7, "From elsewhere"))
        elif event == "burst":  # start over with ten rows within a limit; the 9th again
            feed.items.reset()
            rows = [feed.new() for _ in range(10)]
            feed.items.insert_many(rows, at=at, limit=limit)
            feed.items.insert(rows[8], at=at, limit=limit)

    async def handle_info(self, event: InfoEvent, socket: ConnectedLiveViewSocket[Feed]) -> None:
        socket.context.items.insert(event.payload, at=0)


@pytest.fixture
def feed_app(app_database_url: str, media_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Starlette:
    """The real app (layout, client bundle, pub/sub) with ``FeedLive`` at ``/feed``."""
    create = app_module.create_live_routes

    def with_feed(settings: Settings, pubsub: t.Any) -> LiveRoutes:
        routes = create(settings, pubsub)
        loader = routes.environment.loader
        assert loader is not None
        routes.environment.loader = ChoiceLoader([DictLoader({"feed.html": FEED}), loader])
        routes.add("/feed", FeedLive)
        return routes

    monkeypatch.setattr(app_module, "create_live_routes", with_feed)
    settings = app_settings(database_url=app_database_url, debug=False, media_dir=media_dir)
    return app_module.create_app(settings)


@pytest.fixture
def feed_server(feed_app: Starlette) -> Iterator[str]:
    with serve(feed_app, lifespan="on") as base_url:
        yield base_url


# -- the Stream ------------------------------------------------------------------


@dataclass
class User:
    id: int
    name: str


def test_dom_ids_come_from_the_id_attribute_or_key_or_a_function() -> None:
    assert list(Stream([User(1, "Ada")], name="users")) == [("users-1", User(1, "Ada"))]
    assert list(Stream([{"id": 2}], name="users")) == [("users-2", {"id": 2})]
    named = Stream([User(3, "Bo")], name="users", dom_id=lambda user: f"u-{user.name}")
    assert [dom_id for dom_id, _ in named] == ["u-Bo"]
    with pytest.raises(ValueError, match="Cannot generate DOM ID"):
        Stream([{"name": "no id"}], name="users")
    with pytest.raises(ValueError, match="name"):
        Stream(name="")
    with pytest.raises(ValueError, match="letters, digits"):
        Stream(name='a"]')  # would break the client's selector of the stream's rows


def test_the_wire_format_is_what_the_client_reads() -> None:
    stream = Stream([User(1, "Ada")], name="users")
    assert stream._get_wire_format() == ["users", [["users-1", -1, None]], []]
    assert stream._get_wire_format() is None  # taken: nothing pending
    stream.insert(User(2, "Bo"), at=0, limit=-50)
    stream.insert(User(3, "Cy"), update_only=True)
    stream.delete(User(1, "Ada"))
    assert stream._get_wire_format() == [
        "users",
        [["users-2", 0, -50], ["users-3", -1, None, True]],
        ["users-1"],
    ]
    stream.insert(User(4, "Di"))
    stream.reset([User(5, "Ed")])  # drops the insert before it
    assert stream._get_wire_format() == ["users", [["users-5", -1, None]], [], True]
    assert not stream and len(stream) == 0
    with pytest.raises(ValueError, match="at is -1"):
        stream.insert(User(6, "Fi"), at=-2)  # the client would show it nowhere


def test_a_row_inserted_again_before_a_render_is_sent_once_where_last_inserted() -> None:
    stream = Stream([User(1, "Ada"), User(2, "Bo")], name="users")
    stream.insert(User(1, "Ada!"))
    ops = stream._get_pending_ops()
    assert ops is not None
    assert [(i.dom_id, i.item.name) for i in ops.inserts] == [
        ("users-2", "Bo"),
        ("users-1", "Ada!"),
    ]


@pytest.mark.parametrize(
    ("at", "limit", "kept"),
    [(0, 3, [7, 8, 9]), (0, -3, [0, 1, 2]), (-1, -3, [7, 8, 9]), (-1, 3, [0, 1, 2])],
)
def test_after_a_reset_only_the_rows_a_limit_keeps_are_sent(
    at: int, limit: int, kept: list[int]
) -> None:
    """The client's container is empty after a reset, so each insert adds a row and the
    limit drops the others at once (the newest or the oldest, as the official client does)."""
    stream = Stream([User(n, "x") for n in range(5)], name="users")
    stream._get_pending_ops()  # rendered: the client shows them
    stream.reset()
    stream.insert_many([User(n, f"User {n}") for n in range(10)], at=at, limit=limit)
    wire = stream._get_wire_format()
    assert wire == ["users", [[f"users-{n}", at, limit] for n in kept], [], True]


def test_without_a_reset_every_row_is_sent_and_the_client_applies_the_limit() -> None:
    """A row the client shows already is updated in place and pushes none out: the server
    cannot know which of the earlier rows the limit drops."""
    stream = Stream(name="users")
    stream.insert_many([User(n, "x") for n in range(10)], at=0, limit=3)
    ops = stream._get_pending_ops()
    assert ops is not None and len(ops.inserts) == 10


# -- the rendered tree and its diffs ------------------------------------------------

LIST = (
    '<ul id="u" phx-update="stream">{% for dom_id, user in users %}'
    '<li id="{{ dom_id }}">{{ user.name }}</li>{% endfor %}</ul>'
)


def render(source: str, context: dict[str, t.Any], memo: Memo) -> dict[str, t.Any]:
    return render_template(LiveEnvironment().from_string(source), context, memo)


def test_a_render_takes_the_operations_and_the_sent_tree_holds_no_row() -> None:
    users = Stream([User(n, f"User {n}") for n in range(1000)], name="users")
    memo = Memo()
    joined = render(LIST, {"users": users}, memo)
    loop = joined["0"]
    assert loop["k"]["kc"] == 1000 and loop["stream"][1][0] == ["users-0", -1, None]
    assert not users  # the stream holds nothing once rendered
    forget_streams(joined)
    assert loop == {"s": ['<li id="', '">', "</li>"], "k": {"kc": 0}}

    assert diff_tree(joined, render(LIST, {"users": users}, memo)) == {}  # nothing happened
    users.insert(User(1000, "New"), at=0)
    diff = diff_tree(joined, render(LIST, {"users": users}, memo))
    assert diff == {
        "0": {
            "k": {"0": {"0": "users-1000", "1": "New"}, "kc": 1},
            "stream": ["users", [["users-1000", 0, None]], []],
        }
    }
    assert len(json.dumps(diff, separators=(",", ":"))) <= 300


def test_a_delete_alone_still_sends_the_comprehension() -> None:
    users = Stream([User(1, "Ada")], name="users")
    memo = Memo()
    tree = render(LIST, {"users": users}, memo)
    forget_streams(tree)
    users.delete_by_id("users-1")
    assert diff_tree(tree, render(LIST, {"users": users}, memo)) == {
        "0": {"k": {"kc": 0}, "stream": ["users", [], ["users-1"]]}
    }


def test_the_same_row_inserted_again_is_sent_whole_never_reused() -> None:
    """Change tracking skips rows equal to last render's: a stream's must always be sent."""
    source = (
        '<ul phx-update="stream" id="w">{% for pair in words %}'
        '<li id="{{ pair[0] }}">{{ pair[1] }}</li>{% endfor %}</ul>'
    )
    words = Stream(["a"], name="words", dom_id=lambda word: f"w-{word}")
    memo = Memo()
    tree = render(source, {"words": words}, memo)
    forget_streams(tree)
    words.insert("a")
    assert diff_tree(tree, render(source, {"words": words}, memo)) == {
        "0": {
            "k": {"0": {"0": "w-a", "1": "a"}, "kc": 1},
            "stream": ["words", [["w-a", -1, None]], []],
        }
    }


def test_a_stream_the_template_hides_is_emptied_by_the_render() -> None:
    users = Stream([User(1, "Ada")], name="users")
    hidden = "{% if shown %}{% for u in users %}{% endfor %}{% endif %}"
    render(f'<ul id="u" phx-update="stream">{hidden}</ul>', {"users": users, "shown": 0}, Memo())
    assert users._get_pending_ops() is None  # nothing piles up for a loop never rendered


def test_a_hidden_stream_inside_a_dict_or_a_dataclass_is_emptied_by_the_render() -> None:
    @dataclass
    class Streams:
        users: Stream[User]

    in_dict: Stream[User] = Stream(name="a")
    in_dataclass: Stream[User] = Stream(name="b")
    context = {"shown": False, "by_name": {"a": in_dict}, "all": Streams(in_dataclass)}
    hidden = (
        '{% if shown %}<ul id="a" phx-update="stream">{% for dom_id, u in by_name.a %}'
        '<li id="{{ dom_id }}"></li>{% endfor %}</ul>{% endif %}'
    )
    template, memo = LiveEnvironment().from_string(hidden), Memo()
    for n in range(100):
        in_dict.insert(User(n, ""), at=0, limit=10)
        in_dataclass.insert(User(n, ""))
        render_template(template, context, memo)
    assert in_dict._get_pending_ops() is None and in_dataclass._get_pending_ops() is None
    in_dict.insert(User(100, ""), at=0, limit=10)
    shown = render_template(template, {**context, "shown": True}, memo)
    assert shown["0"]["0"]["k"]["kc"] == 1  # only what happened since the last render


def test_a_stream_looped_over_twice_gives_each_loop_its_operations() -> None:
    twice = LIST + LIST.replace('id="u"', 'id="v"').replace('"{{ dom_id }}"', '"v-{{ dom_id }}"')
    users = Stream([User(1, "Ada")], name="users")
    memo = Memo()
    tree = render(twice, {"users": users}, memo)
    assert tree["0"]["stream"] == tree["1"]["stream"] == ["users", [["users-1", -1, None]], []]
    assert to_html(tree).count("Ada") == 2
    forget_streams(tree)
    users.delete_by_id("users-1")
    diff = diff_tree(tree, render(twice, {"users": users}, memo))
    assert diff["0"]["stream"] == diff["1"]["stream"] == ["users", [], ["users-1"]]


@pytest.mark.parametrize(
    ("source", "error"),
    [
        (
            '{% macro rows(s) %}{% for dom_id, u in s %}<li id="{{ dom_id }}"></li>'
            "{% endfor %}{% endmacro %}<ul>{{ rows(users) }}</ul>",
            "only be looped over by a {% for %}",
        ),
        (
            '{% set rows %}{% for dom_id, u in users %}<li id="{{ dom_id }}"></li>'
            "{% endfor %}{% endset %}<ul>{{ rows }}</ul>",
            "only be looped over by a {% for %}",
        ),
        (
            '{% macro box() %}<ul>{{ caller() }}</ul>{% endmacro %}{% call box() %}'
            '{% for dom_id, u in users %}<li id="{{ dom_id }}"></li>{% endfor %}{% endcall %}',
            "only be looped over by a {% for %}",
        ),
        (
            '{% for dom_id, u in users|reverse %}<li id="{{ dom_id }}"></li>{% endfor %}',
            "only be looped over by a {% for %}",
        ),
        ("{% if users %}<ul></ul>{% endif %}", "has no truth value"),
        (
            '{% for dom_id, u in users %}<li id="{{ dom_id }}"></li>{% else %}none{% endfor %}',
            "cannot have an {% else %}",
        ),
    ],
)
def test_a_stream_outside_a_live_loop_is_a_clear_error(source: str, error: str) -> None:
    users = Stream([User(1, "Ada")], name="users")
    with pytest.raises(TemplateRuntimeError, match=re.escape(error)):
        render(source, {"users": users}, Memo())
    assert bool(users) and list(users) == [("users-1", User(1, "Ada"))]  # PyView's meaning outside


def test_a_plain_render_shows_the_rows() -> None:
    users = Stream([User(1, "Ada")], name="users")
    html = LiveEnvironment().from_string(LIST).render(users=users)
    assert html == '<ul id="u" phx-update="stream"><li id="users-1">Ada</li></ul>'


# -- the test client -------------------------------------------------------------

COUNTED = '<p>{{ n }}</p>' + LIST


def test_the_port_keeps_rows_through_diffs_that_do_not_touch_them() -> None:
    users = Stream([User(1, "Ada"), User(2, "Bo")], name="users")
    memo = Memo()
    joined = render(COUNTED, {"users": users, "n": 1}, memo)
    client = Rendered(json.loads(json.dumps(joined)))
    forget_streams(joined)
    later = render(COUNTED, {"users": users, "n": 2}, memo)
    client.merge(json.loads(json.dumps(diff_tree(joined, later))))
    assert client.html == (
        '<p>2</p><ul id="u" phx-update="stream">'
        '<li id="users-1">Ada</li><li id="users-2">Bo</li></ul>'
    )


@pytest.mark.parametrize(
    ("loop", "problem"),
    [
        ({"s": ["<li>", "</li>"], "k": {"0": {"0": "x"}, "kc": 1}, "stream": ["u", [], []]}, "id"),
        ({"s": ["<li>", "</li>"], "k": {"kc": 0}, "stream": ["u"]}, "is not"),
    ],
)
def test_the_port_refuses_streams_the_client_could_not_patch(
    loop: dict[str, t.Any], problem: str
) -> None:
    with pytest.raises(DiffError, match=problem):
        Rendered({"s": ["<ul>", "</ul>"], "0": loop})

ROWS = "#items > li"


def shown(view: t.Any) -> list[str]:
    return [node.attributes["id"] or "" for node in view.find(ROWS)]


async def test_the_test_client_keeps_rows_across_diffs(feed_app: Starlette) -> None:
    async with run_lifespan(feed_app) as state, live(feed_app, "/feed", lifespan=state) as view:
        assert shown(view) == ["items-101", "items-102", "items-103"]
        await view.click("#top")
        await view.click("#bottom")
        assert shown(view) == ["items-1", "items-101", "items-102", "items-103", "items-2"]
        await view.click("#items-101 button.delete")
        await view.click("#rename")
        await view.click("#rename-unknown")  # update_only: never added
        assert shown(view) == ["items-1", "items-102", "items-103", "items-2"]
        assert view.text("#items-102") == "Renamed 102 x"
        await state["pubsub"].broadcast(TOPIC, row(7, "From elsewhere"))
        await view.wait_for("#items-7")
        assert shown(view) == ["items-7", "items-1", "items-102", "items-103", "items-2"]
        await view.click("#limited")  # at the top, keeping the first three
        assert shown(view) == ["items-3", "items-7", "items-1"]
        await view.click("#page-2")  # a patch: handle_params resets the stream
        assert shown(view) == ["items-201", "items-202", "items-203"]


# -- the wire ----------------------------------------------------------------------


def ok(reply: Reply) -> dict[str, t.Any]:
    assert reply["status"] == "ok", reply
    return reply["response"]


def stream_of(tree: dict[str, t.Any]) -> dict[str, t.Any]:
    """The comprehension of ``#items`` in a join's tree or a diff (its only stream)."""
    found = [value for value in _nodes(tree) if "stream" in value]
    assert len(found) == 1, tree
    return found[0]


def _nodes(value: t.Any) -> Iterator[dict[str, t.Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _nodes(child)


async def test_the_join_and_each_event_send_only_the_stream_s_operations(
    feed_server: str,
) -> None:
    async with LiveClient.open(feed_server, "/feed") as client:
        joined = stream_of(ok(await client.join())["rendered"])
        assert joined["stream"] == [
            "items",
            [["items-101", -1, None], ["items-102", -1, None], ["items-103", -1, None]],
            [],
            True,  # handle_params reset it
        ]
        assert joined["k"]["kc"] == 3

        reply = await client.click("top")
        diff = ok(reply)["diff"]
        assert len(json.dumps(diff, separators=(",", ":"))) <= 300
        top = stream_of(diff)
        assert top["stream"] == ["items", [["items-1", 0, None]], []]
        assert top["k"]["kc"] == 1 and "items-1" in top["k"]["0"].values()

        deleted = stream_of(ok(await client.click("delete", {"id": "102"}))["diff"])
        assert deleted == {"k": {"kc": 0}, "stream": ["items", [], ["items-102"]]}

        renamed = stream_of(ok(await client.click("rename", {"id": "103"}))["diff"])
        assert renamed["stream"] == ["items", [["items-103", -1, None, True]], []]

        patched = stream_of(ok(await client.live_patch("/feed?page=2"))["diff"])
        assert patched["stream"][3] is True and patched["k"]["kc"] == 3


async def test_an_info_inserts_with_one_pushed_diff(feed_server: str) -> None:
    async with LiveClient.open(feed_server, "/feed") as client:
        ok(await client.join())
        ok(await client.click("announce"))  # a broadcast: its info comes back to this view
        while not any(frame.event == "diff" for frame in client.pushes):
            client.pushes.append(await client.receive())
        [pushed] = [frame.payload for frame in client.pushes if frame.event == "diff"]
        assert stream_of(pushed)["stream"] == ["items", [["items-7", 0, None]], []]
        assert len(json.dumps(pushed, separators=(",", ":"))) <= 300


# -- the official client -----------------------------------------------------------

IDS = "() => [...document.querySelectorAll('#items > li')].map((li) => li.id)"


async def expect_ids(page: Page, ids: list[str]) -> None:
    try:
        await wait_until(page, f"(ids) => JSON.stringify(({IDS})()) === JSON.stringify(ids)", ids)
    except PlaywrightTimeoutError:
        pytest.fail(f"expected rows {ids}, the page shows {await page.evaluate(IDS)}")


@pytest_asyncio.fixture(loop_scope="session")
async def feed_page(browser: Browser, feed_server: str) -> AsyncIterator[Page]:
    async with watched(browser, feed_server) as context:
        page = await context.new_page()
        await open_live(page, "/feed")
        yield page


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_the_official_client_inserts_at_the_top_and_bottom_and_updates(
    feed_page: Page,
) -> None:
    page = feed_page
    await set_marker(page)
    await expect_ids(page, ["items-101", "items-102", "items-103"])
    await page.click("#top")
    await expect_ids(page, ["items-1", "items-101", "items-102", "items-103"])
    await page.click("#bottom")
    await expect_ids(page, ["items-1", "items-101", "items-102", "items-103", "items-2"])
    await page.click("#rename")  # in place
    await page.click("#rename-unknown")  # update_only: never added
    await page.click("#announce")  # an info, pushed
    await expect_ids(page, ["items-7", "items-1", "items-101", "items-102", "items-103", "items-2"])
    assert (await page.text_content("#items-102") or "").startswith("Renamed 102")
    await assert_no_reload(page)


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_the_official_client_deletes_and_keeps_a_limit(feed_page: Page) -> None:
    page = feed_page
    await page.click("#items-101 button.delete")
    await expect_ids(page, ["items-102", "items-103"])
    await page.click("#bottom")
    await page.click("#limited")  # at the top, keeping the first three
    await expect_ids(page, ["items-2", "items-102", "items-103"])
    await page.click("#limited")
    await expect_ids(page, ["items-3", "items-2", "items-102"])


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize(
    ("at", "limit", "shown"),
    [(0, 3, [9, 10, 8]), (0, -3, [3, 2, 1]), (-1, -3, [8, 10, 9]), (-1, 3, [1, 2, 3])],
)
async def test_the_official_client_shows_what_the_server_sent_of_a_limited_burst(
    feed_page: Page, at: int, limit: int, shown: list[int]
) -> None:
    """Three rows sent of eleven inserts (rows 1 to 10, then 9 again): the client shows
    what it would have kept of all eleven, worked out by hand from its rules."""
    page = feed_page
    await set_marker(page)
    await page.click(f"#burst-{at}-{limit}")
    await expect_ids(page, [f"items-{n}" for n in shown])
    await assert_no_reload(page)


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_the_official_client_resets_on_a_patch(feed_page: Page) -> None:
    page = feed_page
    await set_marker(page)
    await page.click("#top")
    await expect_ids(page, ["items-1", "items-101", "items-102", "items-103"])
    await page.click("#page-2")
    await expect_ids(page, ["items-201", "items-202", "items-203"])
    await page.go_back()  # a patch again: handle_params resets to page 1
    await expect_ids(page, ["items-101", "items-102", "items-103"])
    assert "undefined" not in await page.inner_html("#items")
    await assert_no_reload(page)
{%- endraw %}
