"""Shared pytest fixtures for the app's tests."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from {{ cookiecutter.package_name }}.app import NODE_MODULES, create_app
from {{ cookiecutter.package_name }}.settings import Settings

STARTUP_TIMEOUT = 10.0  # seconds until the live server must answer
SHUTDOWN_TIMEOUT = 10.0
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app under uvicorn on a free port of 127.0.0.1; yields its base URL.

    It runs in a thread with its own event loop, so both sync tests and every
    test's own asyncio loop can talk to it over real sockets. The listening
    socket is bound here and handed to uvicorn, so no other process can take
    the port between choosing and using it.
    """
    tmp = tmp_path_factory.mktemp("live_server")
    settings = Settings(
        secret_key=secrets.token_urlsafe(32),
        database_url=f"sqlite+aiosqlite:///{tmp}/test.db",
        debug=False,
    )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    # uvicorn installs signal handlers only in the main thread: Ctrl+C stays pytest's.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base_url, server, thread)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT)
        listener.close()
    assert not thread.is_alive(), "the live server did not stop"


def _wait_until_up(base_url: str, server: uvicorn.Server, thread: threading.Thread) -> None:
    """Poll (bounded) until the server answers HTTP, or fail with the reason."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not thread.is_alive():
            pytest.fail("the live server exited during start-up (see the captured log)")
        if server.started:
            try:
                httpx.get(f"{base_url}/", timeout=1.0)
                return
            except httpx.HTTPError as error:
                last_error = error
        time.sleep(0.02)
    pytest.fail(f"the live server did not answer within {STARTUP_TIMEOUT} s: {last_error!r}")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium for the whole session (the async API: other tests run asyncio loops)."""
    # A missing browser or client fails loudly: a skipped browser test proves nothing.
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install it (Debian: apt-get install chromium), "
            "set CHROMIUM_PATH, or deselect these tests with -m 'not browser'"
        )
    if not (NODE_MODULES / "phoenix_live_view").is_dir():
        pytest.fail(f"run `npm ci` in {NODE_MODULES.parent} to install the LiveView client")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, live_server: str) -> AsyncIterator[Page]:
    """A fresh browser context and page; the test fails on any console or page error.

    The only tolerated console error is the 404 of ``/favicon.ico``, which
    Chromium asks for on its own.
    """
    context = await browser.new_context(base_url=live_server)
    context.set_default_timeout(5_000)
    page = await context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if message.location.get("url", "").endswith("/favicon.ico") and "404" in message.text:
            return
        problems.append(f"console error: {message.text} ({message.location})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    try:
        yield page
    finally:
        await context.close()
    if problems:
        pytest.fail("the browser reported errors:\n" + "\n".join(problems))
