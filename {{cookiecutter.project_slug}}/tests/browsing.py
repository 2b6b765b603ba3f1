"""Driving the official client in Chromium: watched browser contexts and bounded waits.

Shared by the browser tests. A ``watched`` context fails the test on any
console or page error; every wait (Playwright's default timeout included)
gives up after ``WAIT_MS``: generous, as Chromium competes for the CPU on a
busy machine, and scaled by ``TEST_TIMEOUT_SCALE``.
"""

from __future__ import annotations

import typing as t
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page

from {{ cookiecutter.package_name }}.live.testing import scaled

WAIT_MS = round(scaled(20.0) * 1000)  # every wait is bounded
MAIN = "[data-phx-main]"
# Whether the "who's here" panel lists the name ``name``.
HERE = """(name) => [...document.querySelectorAll('#whos-here li')]
    .some((li) => li.textContent.includes(name))"""


@asynccontextmanager
async def watched(
    browser: Browser, base_url: str, *, tolerated: str | None = None
) -> AsyncIterator[BrowserContext]:
    """A fresh browser context (another person); any console or page error fails the test.

    Tolerated are the 404 of ``/favicon.ico``, which Chromium asks for on its
    own, and console errors starting with ``tolerated``, which a test expects.
    """
    context = await browser.new_context(base_url=base_url)
    context.set_default_timeout(WAIT_MS)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if message.location.get("url", "").endswith("/favicon.ico") and "404" in message.text:
            return
        if tolerated is not None and message.text.startswith(tolerated):
            return
        problems.append(f"console error: {message.text} ({message.location})")

    context.on("console", on_console)
    context.on("weberror", lambda error: problems.append(f"page error: {error.error}"))
    try:
        yield context
    finally:
        await context.close()
    if problems:
        pytest.fail("the browser reported errors:\n" + "\n".join(problems))


async def wait_until(page: Page, predicate: str, arg: t.Any = None) -> None:
    """Poll ``predicate`` (a JS function of ``arg``) in the page until it is true (``WAIT_MS``)."""
    await page.wait_for_function(predicate, arg=arg, timeout=WAIT_MS)


async def assert_sound(page: Page) -> None:
    """One main container, connected, with no slot rendered as ``undefined``."""
    assert await page.locator(MAIN).count() == 1
    assert "phx-connected" in (await page.get_attribute(MAIN, "class") or "")
    html = await page.inner_html(MAIN)
    assert "undefined" not in html, html


async def open_live(page: Page, path: str) -> None:
    """Load ``path`` and wait until its LiveView has joined over the WebSocket."""
    await page.goto(path)
    await wait_until(
        page, "(sel) => document.querySelector(sel)?.classList.contains('phx-connected')", MAIN
    )
    await assert_sound(page)


async def set_marker(page: Page) -> None:
    """Mark the page: a full page load drops the mark, a live patch or navigation keeps it."""
    await page.evaluate("window.__marker = 1")


async def assert_no_reload(page: Page) -> None:
    assert await page.evaluate("window.__marker") == 1, "the page was reloaded"


def answer_next_confirm(page: Page, accept: bool = True) -> list[str]:
    """Accept (or dismiss) the next ``window.confirm``; the list returned gets its message."""
    messages: list[str] = []

    async def answer(dialog: Dialog) -> None:
        messages.append(dialog.message)
        await (dialog.accept() if accept else dialog.dismiss())

    page.once("dialog", answer)
    return messages
