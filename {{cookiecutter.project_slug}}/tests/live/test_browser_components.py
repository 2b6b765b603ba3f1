"""LiveComponents in headless Chromium, driven by the official client.

The board of ``board.py`` is served with the app's layout (and
so the official client): events reach a component through ``phx-target``
(a cid, or a selector inside it) and a component reaches its view with
``send_parent``; a component the view stops rendering is destroyed by the
client (``cids_will_destroy``, then ``cids_destroyed``), and freed on the server.
"""

from __future__ import annotations

import asyncio
import typing as t
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from jinja2 import ChoiceLoader, DictLoader, PackageLoader
from playwright.async_api import Browser, Page
from starlette.routing import BaseRoute

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.live import LiveConfig, LiveEnvironment, LiveRoutes
from {{ cookiecutter.package_name }}.live.testing import scaled

from board import TEMPLATES, Asker, Asking, Board, Counter
from browsing import assert_sound, open_live, wait_until, watched
from conftest import app_settings
from servers import serve

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture(scope="module")
def board_server(app_database_url: str) -> Iterator[str]:
    """The app, with the board first among its routes (its own socket endpoint too)."""
    settings = app_settings(database_url=app_database_url)
    app = create_app(settings)
    names = ("board.html", "counter.html", "asking.html", "asker.html")
    templates = {name: TEMPLATES[name] for name in names}
    loader = ChoiceLoader([DictLoader(templates), PackageLoader("{{ cookiecutter.package_name }}")])
    environment = LiveEnvironment(loader=loader)
    environment.globals.update(Counter=Counter, Asker=Asker, app_name="Board")
    config = LiveConfig(allowed_origins=settings.allowed_origins)
    board = LiveRoutes(environment, settings.secret_key, config=config)
    board.add("/board", Board)
    board.add("/asking", Asking)
    routes: list[BaseRoute] = app.router.routes
    routes[:0] = board.routes
    with serve(app, lifespan="on") as base_url:
        yield base_url


@pytest_asyncio.fixture(loop_scope="session")
async def board(browser: Browser, board_server: str) -> AsyncIterator[Page]:
    async with watched(browser, board_server) as context:
        yield await context.new_page()


async def expect_text(page: Page, selector: str, text: str) -> None:
    await wait_until(
        page,
        "([selector, text]) => document.querySelector(selector)?.textContent === text",
        [selector, text],
    )
    await assert_sound(page)


async def eventually(condition: t.Callable[[], bool]) -> None:
    """Until ``condition`` holds, checked every 20 ms for a bounded time."""
    async with asyncio.timeout(scaled(10.0)):
        while not condition():
            await asyncio.sleep(0.02)


async def test_events_reach_components_by_phx_target(board: Page) -> None:
    Board.sockets.clear()
    await open_live(board, "/board")
    assert await board.get_attribute("#counter-b", "data-phx-component") == "2"
    await board.click("#counter-b .inc")  # phx-target="2"
    await expect_text(board, "#counter-b b", "1")
    await expect_text(board, "#counter-a b", "0")
    await board.click("#counter-b .tell")  # phx-target="#counter-b": send_parent
    await expect_text(board, "#total", "1")
    await board.click("#push-a")  # JS.push("inc", target: "#counter-a")
    await expect_text(board, "#counter-a b", "1")


async def test_a_component_the_view_stops_rendering_is_destroyed(board: Page) -> None:
    Board.sockets.clear()
    await open_live(board, "/board")
    components = Board.sockets[-1].components
    await board.click("#counter-extra .inc")
    await expect_text(board, "#counter-extra b", "1")
    await board.click("#toggle")
    await board.wait_for_selector("#counter-extra", state="detached")
    await eventually(lambda: components.get_all_cids() == [1, 2])
    # Shown again, it is a new component (its statics those the client has for cid 1).
    await board.click("#toggle")
    await expect_text(board, "#counter-extra b", "0")
    assert await board.get_attribute("#counter-extra", "data-phx-component") == "4"
    await board.click("#counter-extra .inc")
    await expect_text(board, "#counter-extra b", "1")
    await expect_text(board, "#counter-a b", "0")


@pytest.mark.parametrize("button", ["#nope", "#counter-b .inc"])
async def test_a_button_whose_event_the_server_refuses_is_usable_again(
    board: Page, button: str
) -> None:
    """The server answers ``ok`` (an error reply would keep it loading and locked for good):
    for an event the view does not handle, and for a component the server no longer has."""
    Board.sockets.clear()
    await open_live(board, "/board")
    Board.sockets[-1].components.unregister(2)  # counter b, as if freed at the server's cap
    for _ in range(2):
        await board.click(button)
        await wait_until(
            board,
            "(sel) => !document.querySelector(sel).classList.contains('phx-click-loading')",
            button,
        )
    await board.click("#counter-a .inc")  # the page goes on as before
    await expect_text(board, "#counter-a b", "1")


# Adds a hook to those of hooks.js (which sets window.Hooks before app.js reads it): once
# mounted, it asks its component and shows the reply.
ASK_HOOK = """(() => {
  let hooks;
  Object.defineProperty(window, "Hooks", {
    configurable: true,
    get: () => hooks,
    set: (value) => {
      const ask = { mounted() {
        this.pushEventTo(this.el, "ask", { question: "why" }, (reply) => {
          this.el.textContent = reply.answer;
        });
      } };
      hooks = { ...value, Ask: ask };
    },
  });
})();"""


async def test_a_hooks_push_event_to_a_component_gets_its_reply(
    browser: Browser, board_server: str
) -> None:
    async with watched(browser, board_server) as context:
        await context.add_init_script(ASK_HOOK)
        page = await context.new_page()
        await open_live(page, "/asking")
        await expect_text(page, "#asker", "ask why!")
