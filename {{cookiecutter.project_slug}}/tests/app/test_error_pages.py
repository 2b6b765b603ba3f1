"""Errors as a newcomer meets them: pages in the app's layout, and a database that says why.

An unknown URL is the app's styled 404, as a missing record is; an unhandled
exception is a styled 500 without its traceback, unless the app runs in
debug mode, where Starlette's traceback page helps the developer. A database
nobody migrated says so (in the log, and on the page in debug mode) instead
of "unavailable".
"""

from __future__ import annotations

import logging
import typing as t

import httpx
import pytest
from jinja2 import ChoiceLoader, DictLoader, PackageLoader
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.db import Database, create_engine, describe, missing_table
from {{ cookiecutter.package_name }}.live import LiveEnvironment, LiveRoutes, LiveView, LiveViewSocket
from {{ cookiecutter.package_name }}.live.testing import live
from {{ cookiecutter.package_name }}.models import Contact

from conftest import app_settings

SECRET = "test-secret-for-error-pages"
{%- raw %}
BROKEN = {"broken.html": "<p>never rendered</p>"}
{%- endraw %}


class BrokenLive(LiveView[None]):
    """A view with a bug: its mount raises."""

    template_name = "broken.html"

    async def mount(self, socket: LiveViewSocket[None], session: dict[str, t.Any]) -> None:
        raise RuntimeError("a bug in mount")


def broken_app(debug: bool) -> Starlette:
    """The app's own layout and error page, with one view that fails."""
    templates = PackageLoader("{{ cookiecutter.package_name }}", "templates")
    loader = ChoiceLoader([DictLoader(BROKEN), templates])
    environment = LiveEnvironment(loader=loader)
    environment.globals["app_name"] = "Broken"
    routes = LiveRoutes(environment, SECRET)
    routes.add("/broken", BrokenLive)
    return Starlette(
        debug=debug,
        routes=routes.routes,
        middleware=[Middleware(SessionMiddleware, secret_key=SECRET)],
        exception_handlers=routes.exception_handlers,
    )


def client(app: Starlette) -> httpx.AsyncClient:
    # The server error middleware re-raises after answering: the answer is what a browser gets.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.mark.parametrize("path", ["/nope", "/contacts/abc", "/static/nope.css"])
async def test_an_unknown_url_is_the_apps_404_page(path: str) -> None:
    async with client(create_app(app_settings())) as browser:
        response = await browser.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not Found</h1>" in response.text
    assert "There is no page at this address." in response.text
    assert 'href="/contacts"' in response.text  # in the layout, with its navigation
    assert response.headers["x-frame-options"] == "DENY"  # and the security headers


async def test_under_a_prefix_the_404_page_links_stay_in_the_app() -> None:
    outer = Starlette(routes=[Mount("/crm", app=create_app(app_settings()))])
    async with client(outer) as browser:
        for path in ("/crm/nope", "/crm/static/nope.css"):
            response = await browser.get(path)
            assert response.status_code == 404
            assert 'href="/crm/contacts"' in response.text, path
            assert '<a href="/crm/">Back to the home page</a>' in response.text, path


async def test_a_wrong_method_is_the_apps_405_page_with_its_allow_header() -> None:
    async with client(create_app(app_settings())) as browser:
        response = await browser.post("/counter")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert "<h1>Method Not Allowed</h1>" in response.text


async def test_a_bug_is_a_styled_500_page_without_the_traceback() -> None:
    async with client(broken_app(debug=False)) as browser:
        response = await browser.get("/broken")
    assert response.status_code == 500
    assert "<h1>Internal Server Error</h1>" in response.text
    assert "Something went wrong on our side." in response.text
    assert "a bug in mount" not in response.text and "Traceback" not in response.text


async def test_a_bug_in_debug_mode_is_the_traceback_page() -> None:
    async with client(broken_app(debug=True)) as browser:
        response = await browser.get("/broken")
    assert response.status_code == 500
    assert "RuntimeError" in response.text and "a bug in mount" in response.text
    assert "Internal Server Error</h1>" not in response.text


async def test_a_missing_table_is_named_with_what_to_do(database_url: str) -> None:
    database = Database(create_engine(database_url))
    try:
        with pytest.raises(Exception) as raised:
            async with database.session() as session:
                await session.execute(select(Contact))
    finally:
        await database.dispose()
    assert missing_table(raised.value) == "contacts"
    assert describe(raised.value) == "the database has no table `contacts`: run `make migrate`"
    assert missing_table(RuntimeError("no such table: contacts")) is None


@pytest.mark.parametrize("debug", [True, False])
async def test_an_unmigrated_database_says_so_in_the_log_and_in_debug_on_the_page(
    database_url: str, debug: bool, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(app_settings(database_url=database_url, debug=debug))
    with caplog.at_level(logging.WARNING):
        async with live(app, "/contacts") as view:
            assert "could not be loaded" in view.text("#unavailable")
            hint = "the database has no table `contacts`: run `make migrate`"
            if debug:
                assert view.text("#unavailable-problem") == f"Debug mode: {hint}"
            else:
                assert not view.has("#unavailable-problem")
    assert any(hint in record.getMessage() for record in caplog.records)
