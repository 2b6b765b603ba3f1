"""What a person sees when the server goes away under an open page, and when it comes back.

The official client marks the view's element ``phx-client-error`` when it
loses the socket (``phx-server-error`` when the view failed on the server),
runs the ``phx-disconnected`` commands half a second later and the
``phx-connected`` ones once the view has joined again: the flash group
(templates/flash.html) shows "Reconnecting…" (or "Something went wrong")
meanwhile, and the page's forms are dimmed and inert, so a click on Save is
not silently lost.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.views.counter import CounterLive

from browsing import MAIN, open_live, wait_until, watched
from conftest import app_settings
from servers import serve

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# Chromium's console line for each refused reconnection attempt while the server is down.
REFUSED = "WebSocket connection to"
SHOWN = "(sel) => document.querySelector(sel)?.checkVisibility() === true"
HIDDEN = "(sel) => document.querySelector(sel)?.checkVisibility() === false"
CONNECTED = "(sel) => document.querySelector(sel).matches('.phx-connected')"


async def step_form_state(page: Page) -> dict[str, object]:
    return await page.evaluate(
        """() => { const form = document.querySelector('#step-form');
            return {inert: form.inert, opacity: getComputedStyle(form).opacity}; }"""
    )


async def test_a_stopped_server_shows_reconnecting_and_a_restarted_one_clears_it(
    browser: Browser, app_database_url: str, tmp_path: Path
) -> None:
    settings = app_settings(database_url=app_database_url, media_dir=tmp_path)
    server = ExitStack()
    base_url = server.enter_context(serve(create_app(settings), lifespan="on"))
    port = urlsplit(base_url).port
    assert port is not None
    try:
        async with watched(browser, base_url, tolerated=REFUSED) as context:
            page = await context.new_page()
            await open_live(page, "/counter")
            assert await page.is_hidden("#client-error")
            assert await step_form_state(page) == {"inert": False, "opacity": "1"}

            server.close()  # the server stops: its sockets close under the page
            await wait_until(page, SHOWN, "#client-error")
            assert "Reconnecting" in await page.inner_text("#client-error")
            assert await page.is_hidden("#server-error")
            assert await step_form_state(page) == {"inert": True, "opacity": "0.5"}

            # The same app again on the same port: the client rejoins by itself.
            server.enter_context(serve(create_app(settings), port=port, lifespan="on"))
            await wait_until(page, HIDDEN, "#client-error")
            await wait_until(page, CONNECTED, MAIN)
            assert await step_form_state(page) == {"inert": False, "opacity": "1"}
            await page.fill("#step", "5")
            await wait_until(
                page, "() => document.querySelector('#increment')?.textContent === '+ 5'"
            )
    finally:
        server.close()


async def test_a_view_that_failed_on_the_server_shows_something_went_wrong_until_it_rejoins(
    browser: Browser, live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in handle_event")

    # The client reports the click the crash answered.
    async with watched(browser, live_server, tolerated="Failed to push event") as context:
        page = await context.new_page()
        await open_live(page, "/counter")
        # The live server runs in this process: its counter crashes on the next event.
        monkeypatch.setattr(CounterLive, "handle_event", crash)
        await page.click("#increment")
        await wait_until(page, SHOWN, "#server-error")
        assert "Something went wrong" in await page.inner_text("#server-error")
        assert await page.is_hidden("#client-error")
        assert await step_form_state(page) == {"inert": True, "opacity": "0.5"}

        monkeypatch.undo()  # fixed: the client's rejoin mounts it afresh
        await wait_until(page, HIDDEN, "#server-error")
        await wait_until(page, CONNECTED, MAIN)
        assert await step_form_state(page) == {"inert": False, "opacity": "1"}
        await page.click("#increment")
        await wait_until(page, "() => document.querySelector('#count')?.textContent === '1'")
