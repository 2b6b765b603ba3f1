"""The real-time sample views: the dashboard's schedule and the "who's here" presence panel.

Server pushes reach a test as they reach the browser: ``view.wait_for``
applies them until the page shows what the test waits for (bounded).
"""

from __future__ import annotations

import asyncio
import json
import re
import typing as t
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from types import SimpleNamespace

import pytest
from selectolax.lexbor import LexborHTMLParser
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.types import ASGIApp

import pubsub_support
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.db import Database
from {{ cookiecutter.package_name }}.live import InfoEvent, Presence, PubSubError
from {{ cookiecutter.package_name }}.live.testing import (
    LiveTestError,
    LiveViewTest,
    Rendered,
    live,
    run_lifespan,
    scaled,
)
from {{ cookiecutter.package_name }}.models import Contact, Status
from {{ cookiecutter.package_name }}.resources import presence, pubsub
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.views import dashboard, whos_here
from {{ cookiecutter.package_name }}.views.dashboard import DashboardLive
from {{ cookiecutter.package_name }}.views.whos_here import (
    ADJECTIVES,
    ANIMALS,
    COLOURS,
    SHOWN,
    Visitor,
    WhosHere,
)

from conftest import app_settings
from live_client import LiveClient
from outages import bring_back, take_down
from servers import serve

PERIOD = 0.05  # the dashboard's refresh period in these tests, in seconds


@pytest.fixture(scope="module")
def app(app_database_url: str) -> Starlette:
    return create_app(app_settings(database_url=app_database_url))


@pytest.fixture
def fast_dashboard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DashboardLive, "period", PERIOD)


async def add_contact(database_url: str, name: str) -> int:
    """Insert a contact as any other code would; its id."""
    database = Database.from_settings(Settings("x", database_url=database_url))
    try:
        async with database.session() as session:
            contact = Contact(name=name, email=f"{uuid.uuid4().hex[:8]}@example.com")
            session.add(contact)
            await session.flush()
            return contact.id
    finally:
        await database.dispose()


def other_than(text: str) -> re.Pattern[str]:
    """Any text but ``text``: what a test waits for when a figure should change."""
    return re.compile(rf"^(?!{re.escape(text)}$)")


async def test_the_index_links_to_the_real_time_samples(app: Starlette) -> None:
    async with live(app, "/") as view:
        for name, path in (("Dashboard", "/dashboard"), ("Lobby", "/lobby")):
            assert view.element("a", text=name).attributes["href"] == path
        await view.click("a", text="Lobby")
        await view.follow_redirect()  # over the same socket
        assert view.title == "Lobby" and view.has("#wave")


# -- dashboard -----------------------------------------------------------------


async def test_the_dashboard_renders_once_then_goes_live(app: Starlette) -> None:
    async with live(app, "/dashboard") as view:
        dead = LexborHTMLParser(view.dead_html)
        status = dead.css_first("#status")
        assert status is not None and "live updates start when the page connects" in status.text()
        assert dead.css_first("#pause") is None  # nothing to pause before it is connected
        assert dead.css_first("#time").text()  # the figures are there without JavaScript
        assert view.title == "Dashboard"
        assert view.text("#status") == "Live: refreshed every 1 s."
        assert view.has("#pause")


async def test_the_dashboard_refreshes_by_itself(app: Starlette, fast_dashboard: None) -> None:
    async with live(app, "/dashboard") as view:
        assert view.text("#refreshes") == "0"
        once = (await view.wait_for("#refreshes", text=other_than("0"))).text()
        await view.wait_for("#refreshes", text=other_than(once))  # and again


async def test_the_dashboard_shows_a_new_contact_at_the_next_refresh(
    app: Starlette, fast_dashboard: None, app_database_url: str
) -> None:
    name = f"Newcomer {uuid.uuid4().hex[:8]}"
    async with live(app, "/dashboard") as view:
        contact_id = await add_contact(app_database_url, name)
        # Other tests may save contacts meanwhile: it is among the latest, then pushed out.
        change = await view.wait_for(f"#change-{contact_id}")
        assert change.css_first("a").attributes["href"] == f"/contacts/{contact_id}"
        assert change.css_first("a").text() == name
        assert len(view.find("#changes li")) <= dashboard.CHANGES


async def test_the_dashboard_says_when_the_database_fails_and_recovers(
    database_url: str, database: Database, fast_dashboard: None
) -> None:
    """Each tick reads the figures: while they fail the page says so instead of crashing."""
    app = create_app(app_settings(database_url=database_url))
    await database.dispose()
    async with live(app, "/dashboard") as view:
        await take_down(database_url, "contacts")
        try:
            await view.wait_for("#unavailable", timeout=scaled(30))
            ticked = view.text("#refreshes")
            # Still live: the ticks go on.
            await view.wait_for("#refreshes", text=other_than(ticked), timeout=scaled(30))
        finally:
            await bring_back(database_url, "contacts")
        await view.wait_for("section:not(:has(#unavailable))", timeout=scaled(30))
        contact_id = await add_contact(database_url, f"Back {uuid.uuid4().hex[:8]}")
        await view.wait_for(f"#change-{contact_id}", timeout=scaled(30))


async def test_pause_cancels_the_schedule_and_resume_restarts_it(
    app: Starlette, fast_dashboard: None
) -> None:
    async with live(app, "/dashboard") as view:
        await view.wait_for("#refreshes", text=other_than("0"))
        await view.click("#pause")
        assert view.text("#status") == "Paused."
        assert view.has("#resume") and not view.has("#pause")
        paused_at = view.text("#refreshes")
        with pytest.raises(LiveTestError, match="nothing matched"):
            await view.wait_for("#refreshes", text=other_than(paused_at), timeout=10 * PERIOD)
        await view.click("#resume")
        assert view.text("#status") == "Live: refreshed every 0.05 s."
        await view.wait_for("#refreshes", text=other_than(paused_at))


async def test_resume_sent_again_and_again_keeps_one_schedule(
    app: Starlette, fast_dashboard: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any client can send "resume" (a crafted frame): it must not pile up jobs.
    sockets: list[t.Any] = []
    original = DashboardLive.handle_event

    async def spy(self: DashboardLive, event: str, socket: t.Any) -> None:
        sockets.append(socket)
        await original(self, event, socket)

    monkeypatch.setattr(DashboardLive, "handle_event", spy)
    async with live(app, "/dashboard") as view:
        for _ in range(5):
            await view.hook("resume")
        assert sockets[-1].jobs == 1
        await view.hook("pause")
        assert sockets[-1].jobs == 0


async def test_the_statistics_load_beside_the_page(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading on the HTTP render and once connected; then the figures, pushed."""
    monkeypatch.setattr(DashboardLive, "report_time", scaled(0.2))
    async with live(app, "/dashboard") as view:
        dead = LexborHTMLParser(view.dead_html)
        assert dead.css_first("#statistics-loading") is not None
        assert view.has("#statistics-loading") and view.has("#pause")  # the page is usable
        await view.wait_for("#contacts-total")
        assert not view.has("#statistics-loading")
        assert [view.text(f"#contacts-{status}").isdigit() for status in Status] == [True] * 3
        await view.click("#recount")  # loads again, showing the last figures meanwhile
        assert view.has("#statistics-loading") and view.has("#contacts-total")
        await view.wait_for("#recount")


async def test_statistics_that_fail_say_so_and_can_be_recounted(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DashboardLive, "report_time", 0.0)

    async def broken(db: Database, delay: float) -> None:
        raise OSError("the report server is away")

    original = dashboard.statistics
    monkeypatch.setattr(dashboard, "statistics", broken)
    async with live(app, "/dashboard") as view:
        await view.wait_for("#statistics-failed", text="could not be computed")
        assert view.has("#status")  # the view did not crash
        monkeypatch.setattr(dashboard, "statistics", original)
        await view.click("#recount")
        await view.wait_for("#contacts-total")
        assert not view.has("#statistics-failed")


# -- who's here (the lobby) ------------------------------------------------------


@asynccontextmanager
async def tabs(app: ASGIApp, count: int, path: str = "/lobby") -> AsyncIterator[list[LiveViewTest]]:
    """``count`` tabs on ``path`` in one running app (one lifespan, so one pub/sub)."""
    async with run_lifespan(app) as state, AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(live(app, path, lifespan=state))
            for _ in range(count)
        ]


def names(view: LiveViewTest) -> list[str]:
    """The names in the view's "who's here" panel, in order."""
    return [node.text(deep=True).strip() for node in view.find("#whos-here li")]


async def test_the_lobby_shows_who_is_here_once_connected(app: Starlette) -> None:
    async with live(app, "/lobby") as view:
        dead = LexborHTMLParser(view.dead_html)
        assert dead.css_first("#whos-here p").text() == "Connecting…"
        assert dead.css_first("#wave") is None
        me = view.text("#me")
        assert f"{me} (you)" in names(view)
        assert view.element("#me").attributes["class"].startswith("person colour-")


async def test_tabs_see_each_other_arrive_and_leave(app: Starlette) -> None:
    async with tabs(app, 2) as (first, second):
        newcomer = second.text("#me")
        assert newcomer != first.text("#me"), "a name nobody here has"
        assert first.text("#me") in names(second)
        await first.wait_for("#whos-here li", text=newcomer)
        first.assert_has("#feed li", text=f"{newcomer} joined")
        await second.close()
        await first.wait_for("#feed li", text=f"{newcomer} left")
        assert newcomer not in names(first)


async def test_a_wave_reaches_every_tab(app: Starlette) -> None:
    async with tabs(app, 2) as (first, second):
        waver = first.text("#me")
        await first.click("#wave")
        await second.wait_for("#feed li", text=f"{waver} waves")
        await first.wait_for("#feed li", text=f"{waver} waves")


async def test_a_panel_that_could_not_list_who_is_here_tries_again_by_itself(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing failed but the subscription stayed up (Redis slow): no RESYNC will come."""
    answers = {"list": False}
    listed = []
    real_list = Presence.list

    async def flaky_list(self: Presence, topic: str) -> dict[str, t.Any]:
        listed.append(topic)
        if not answers["list"]:
            raise PubSubError("presence list of 'lobby' failed: Redis did not answer in time")
        return await real_list(self, topic)

    monkeypatch.setattr(Presence, "list", flaky_list)
    monkeypatch.setattr(whos_here, "RETRY", 0.05)
    async with live(app, "/lobby") as view:
        assert view.has("#presence-unavailable")
        assert len(listed) == 1  # joining did not wait on a second list bound to fail

        async def tried_again() -> bool:
            return len(listed) >= 3

        await pubsub_support.eventually(tried_again, "two more tries of the list, one at a time")
        assert view.has("#presence-unavailable")
        answers["list"] = True
        await view.wait_for("#whos-here li", text=f"{view.text('#me')} (you)")
        assert not view.has("#presence-unavailable")


async def test_code_without_a_socket_reaches_views_through_the_apps_pubsub(app: Starlette) -> None:
    holder = SimpleNamespace(state=State())  # a request, a WebSocket or a view's socket
    for accessor in (pubsub, presence):
        with pytest.raises(RuntimeError, match="lifespan"):
            accessor(holder)  # no lifespan has run: a clear error, not an AttributeError
    async with run_lifespan(app) as state:
        holder.state = State(state)
        assert pubsub(holder) is state["pubsub"] and presence(holder) is state["presence"]
        async with live(app, "/lobby", lifespan=state) as view:
            await pubsub(holder).broadcast("lobby", {"name": "A cron job"})  # e.g. an endpoint
            await view.wait_for("#feed li", text="A cron job waves")
            # A broadcast of another shape does not crash the lobbies that hear it.
            await pubsub(holder).broadcast("lobby", "not a wave")
            await view.wait_for("#feed li", text="Someone waves")
            here = await presence(holder).list("lobby")
            assert view.text("#me") in [meta["name"] for metas in here.values() for meta in metas]


def test_a_diff_applies_joins_then_leaves_and_an_update_is_neither() -> None:
    here = WhosHere("room", Visitor("me", "Calm Heron", "blue"))
    here.metas = {"me": [{"name": "Calm Heron", "colour": "blue", "phx_ref": "1"}]}

    def diff(joins: dict[str, t.Any], leaves: dict[str, t.Any]) -> InfoEvent:
        return InfoEvent("presence_diff", {"joins": joins, "leaves": leaves})

    otter = {"name": "Brave Otter", "colour": "teal", "phx_ref": "2"}
    changes = here.apply(diff({"o": {"metas": [otter]}}, {}))
    assert changes is not None and changes.joined == [Visitor("o", "Brave Otter", "teal")]
    assert here.apply(diff({"o": {"metas": [otter]}}, {})) == type(changes)([], [])  # a repeat
    renamed = {"name": "Bold Otter", "colour": "not-a-colour", "phx_ref": "3"}
    changes = here.apply(diff({"o": {"metas": [renamed]}}, {"o": {"metas": [otter]}}))
    assert changes is not None and (changes.joined, changes.left) == ([], [])
    assert here.people == [Visitor("o", "Bold Otter", "grey"), Visitor("me", "Calm Heron", "blue")]
    changes = here.apply(diff({}, {"o": {"metas": [renamed]}}))
    assert changes is not None and changes.left == [Visitor("o", "Bold Otter", "grey")]
    assert here.apply(InfoEvent("room", {"name": "Calm Heron"})) is None  # not a presence diff


def test_new_visitors_take_names_nobody_has() -> None:
    every = {f"{adjective} {animal}" for adjective in ADJECTIVES for animal in ANIMALS}
    for name in sorted(every)[::9]:
        visitor = Visitor.new(every - {name})
        assert visitor.name == name and visitor.colour in COLOURS
    assert Visitor.new(every).name in every  # all taken: names repeat
    assert Visitor.new(set()).key != Visitor.new(set()).key


# -- a crowd: a presence change costs the change, not the room --------------------------


def comprehensions(node: t.Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], t.Any]:
    """Every keyed comprehension in a rendered tree or diff, by its path of slots."""
    found = {}
    if isinstance(node, dict):
        if "k" in node:
            found[path] = node
        for key, value in node.items():
            if key not in ("k", "s", "p"):
                found.update(comprehensions(value, (*path, key)))
    return found


@pytest.mark.slow
async def test_one_arrival_is_one_row_of_the_panel_and_past_the_shown_ones_a_count(
    app_database_url: str,
) -> None:
    settings = app_settings(
        database_url=app_database_url,
        pubsub_url="memory://",  # a lobby of this test's own
    )
    with serve(create_app(settings), lifespan="on") as base_url:
        async with LiveClient.open(base_url, "/lobby") as watcher, AsyncExitStack() as stack:
            joined = await watcher.join()
            assert joined["status"] == "ok"
            page = Rendered(joined["response"]["rendered"])
            (panel,) = [  # the panel's rows: the comprehension whose rows show "(you)"
                path
                for path, node in comprehensions(joined["response"]["rendered"]).items()
                if "(you)" in json.dumps(node)
            ]
            for here in range(2, SHOWN + 4):
                tab = LiveClient.open(base_url, "/lobby", max_queue=None)  # reads all it gets
                other = await stack.enter_async_context(tab)
                assert (await other.join())["status"] == "ok"
                async with asyncio.timeout(10):
                    while True:  # the watcher's diff that shows the newcomer
                        frame = await watcher.receive(10)
                        assert frame.event != "phx_error"
                        if frame.event != "diff":
                            continue
                        page.merge(Rendered.extract(frame.payload).diff)
                        shown = page.html.count('<li class="person ')
                        more = re.search(r"and (\d+) more", page.html)
                        if shown + (int(more.group(1)) if more else 0) == here:
                            break
                rows = comprehensions(frame.payload).get(panel, {"k": {}})["k"]
                if here <= SHOWN:  # one new row, at the end: nothing else of the panel
                    assert rows == {str(here - 1): rows[str(here - 1)], "kc": here}
                    assert shown == here and more is None
                else:  # the panel's rows stay; only the count changes
                    assert rows == {}
                    assert shown == SHOWN and more is not None
                    assert int(more.group(1)) == here - SHOWN


async def test_the_panel_is_a_component_that_sends_nothing_when_its_people_stay(
    app_database_url: str,
) -> None:
    settings = app_settings(database_url=app_database_url, pubsub_url="memory://")
    with serve(create_app(settings), lifespan="on") as base_url:
        async with LiveClient.open(base_url, "/lobby") as client:
            rendered = (await client.join())["response"]["rendered"]
            (cid,) = rendered["c"]  # the panel: the lobby's one component
            assert rendered["c"][cid]["r"] == 1 and "whos-here" in rendered["c"][cid]["s"][0]
            assert (await client.click("wave"))["status"] == "ok"
            frame = await client.receive()
            while frame.event != "diff":
                frame = await client.receive()
            # The feed shows the wave; the panel, whose rows did not change, is not sent.
            assert "waves" in json.dumps(frame.payload) and "c" not in frame.payload
