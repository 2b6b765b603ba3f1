"""Shared pytest fixtures for the app's tests."""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import threading
import time
import typing as t
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn
from dotenv import dotenv_values
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from playwright.async_api import Error as PlaywrightError
from sqlalchemy.engine import URL, make_url

import pubsub_support
from {{ cookiecutter.package_name }}.__main__ import server_config
from {{ cookiecutter.package_name }}.app import NODE_MODULES
from {{ cookiecutter.package_name }}.createdb import create_database, drop_database
from {{ cookiecutter.package_name }}.db import Base, Database, create_engine
from {{ cookiecutter.package_name }}.live.pubsub import PubSub
from {{ cookiecutter.package_name }}.live.pubsub.memory import MemoryPubSub
from {{ cookiecutter.package_name }}.live.pubsub.redis import RedisPubSub
from {{ cookiecutter.package_name }}.live.testing import scaled
from {{ cookiecutter.package_name }}.settings import (
    DEFAULT_ALLOWED_HOSTS,
    DEFAULT_DATABASE_URL,
    DEFAULT_PUBSUB_URL,
    PROJECT_ROOT,
    Settings,
)

from browsing import WAIT_MS, watched
from chromium import HOW_TO_GET_ONE, ChromiumNotFound, find_chromium

STARTUP_TIMEOUT = scaled(60.0)  # seconds until the live server must answer
SHUTDOWN_TIMEOUT = scaled(30.0)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def database_server() -> URL:
    """Where the suite makes its databases: ``TEST_DATABASE_URL``, else the app's ``DATABASE_URL``.

    Read like the settings (the environment wins over ``.env``). The database
    the URL names is never touched: tests make and drop databases of their own
    beside it, on the same server.
    """
    values = {**dotenv_values(PROJECT_ROOT / ".env"), **os.environ}
    return make_url(
        values.get("TEST_DATABASE_URL") or values.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    )


def unused_database(directory: Path) -> URL:
    """A database no test has made yet: a new name on the server, or a SQLite file."""
    server = database_server()
    suffix = uuid.uuid4().hex[:12]
    if server.get_backend_name() == "sqlite":
        return server.set(database=str(directory / f"test_{suffix}.db"))
    # PostgreSQL truncates names past 63 bytes: keep the suffix whole.
    return server.set(database=f"{(server.database or 'app')[:40]}_test_{suffix}")


def as_string(url: URL) -> str:
    """The URL with its password, as SQLAlchemy and Alembic accept it."""
    return url.render_as_string(hide_password=False)


@pytest.fixture
async def new_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a database that does not exist yet; dropped after the test if made."""
    url = unused_database(tmp_path)
    try:
        yield as_string(url)
    finally:
        await drop_database(url)


@pytest.fixture
async def database_url(new_database_url: str) -> str:
    """The URL of an empty database that no other test uses."""
    await create_database(new_database_url)
    return new_database_url


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A Redis namespace of the test's own; its keys are deleted after."""
    async with pubsub_support.namespace() as prefix:
        yield prefix


@pytest.fixture(params=["memory", "redis"])
async def pubsub(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[PubSub]:
    """Each backend in turn: in this process, and on the real Redis under ``prefix``."""
    url = pubsub_support.redis_url()
    backend = MemoryPubSub() if request.param == "memory" else RedisPubSub(url, prefix=prefix)
    async with backend:
        yield backend


async def with_tables(database_url: str) -> Database:
    """A ``Database`` on ``database_url``, with the models' tables made in it."""
    database = Database(create_engine(database_url))
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    return database


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A ``Database`` on a fresh database holding the models' tables."""
    database = await with_tables(database_url)
    yield database
    await database.dispose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def app_database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A database holding the models' tables, for the apps tests serve (dropped at the end)."""
    url = unused_database(tmp_path_factory.mktemp("database"))
    await create_database(url)
    try:
        await (await with_tables(as_string(url))).dispose()
        yield as_string(url)
    finally:
        await drop_database(url)


RUN = uuid.uuid4().hex[:12]  # the Redis prefixes of this run's apps start with test-<RUN>-
_apps = itertools.count()


def app_settings(**fields: t.Any) -> Settings:
    """Settings for an app a test runs: a fresh secret key and, in a Redis bake, the tests'
    Redis (``TEST_REDIS_URL``) under a prefix of its own, so that neither tests nor suites
    sharing a Redis ever hear each other."""
    fields.setdefault("secret_key", secrets.token_urlsafe(32))
    # The in-process test client's host, and this machine's for servers on a port.
    fields.setdefault("allowed_hosts", ("testserver", *DEFAULT_ALLOWED_HOSTS))
    if DEFAULT_PUBSUB_URL != "memory://":
        fields.setdefault("pubsub_url", pubsub_support.redis_url())
        fields.setdefault("pubsub_prefix", f"test-{RUN}-{next(_apps)}:")
    return Settings(**fields)


@pytest.fixture(scope="session", autouse=True)
def _forget_the_apps_keys() -> Iterator[None]:
    """At the end of the run, the keys its apps left in Redis go."""
    yield
    if DEFAULT_PUBSUB_URL != "memory://":
        pubsub_support.forget(f"test-{RUN}-")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The live server's media folder (kept files, and uploads in progress in .uploads/)."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def live_server(app_database_url: str, media_dir: Path) -> Iterator[str]:
    """The real app under uvicorn, as ``make run`` serves it, on a free port; yields its URL.

    It runs in a thread with its own event loop, so both sync tests and every
    test's own asyncio loop can talk to it over real sockets. The listening
    socket is bound here and handed to uvicorn, so no other process can take
    the port between choosing and using it.
    """
    settings = app_settings(database_url=app_database_url, debug=False, media_dir=media_dir)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = server_config(
        settings,
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
                httpx.get(f"{base_url}/", timeout=STARTUP_TIMEOUT / 10)
                return
            except httpx.HTTPError as error:
                last_error = error
        time.sleep(0.02)
    pytest.fail(f"the live server did not answer within {STARTUP_TIMEOUT} s: {last_error!r}")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium for the whole session (the async API: other tests run asyncio loops)."""
    # A missing browser or client fails loudly: a skipped browser test proves nothing.
    try:
        executable = find_chromium(os.environ)
    except ChromiumNotFound as error:
        pytest.fail(str(error))
    if not (NODE_MODULES / "phoenix_live_view").is_dir():
        pytest.fail(f"run `npm ci` in {NODE_MODULES.parent} to install the LiveView client")
    async with async_playwright() as playwright:
        try:
            chromium = await playwright.chromium.launch(
                executable_path=executable, args=CHROMIUM_ARGS, timeout=3 * WAIT_MS
            )
        except PlaywrightError as error:
            reason = error.message.splitlines()[0]
            pytest.fail(f"Chromium did not start ({reason}): {HOW_TO_GET_ONE}")
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, live_server: str) -> AsyncIterator[Page]:
    """A page in a fresh browser context; the test fails on any console or page error."""
    async with watched(browser, live_server) as context:
        yield await context.new_page()


@pytest_asyncio.fixture(loop_scope="session")
async def other(browser: Browser, live_server: str) -> AsyncIterator[BrowserContext]:
    """Another browser (another person); like ``page``, any console or page error fails the test."""
    async with watched(browser, live_server) as context:
        yield context


@pytest_asyncio.fixture(loop_scope="session")
async def live_database(app_database_url: str) -> AsyncIterator[Database]:
    """The live server's database, for making a test's rows before its pages open."""
    database = Database(create_engine(app_database_url))
    try:
        yield database
    finally:
        await database.dispose()
