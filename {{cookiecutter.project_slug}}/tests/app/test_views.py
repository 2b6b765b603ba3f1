"""The sample views, tested as a browser uses them.

``live()`` renders the page, joins its LiveView over the app's WebSocket
endpoint (in-process, no server) and merges every reply as the official
client does; see ``live/testing/``. Copy these to test your own views.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from jinja2 import DictLoader
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.datastructures import State

from {{ cookiecutter.package_name }}.app import CompiledTemplates, create_app, create_live_routes
from {{ cookiecutter.package_name }}.live import LiveEnvironment, LiveViewSocket
from {{ cookiecutter.package_name }}.live.pubsub.memory import MemoryPubSub
from {{ cookiecutter.package_name }}.live.testing import (
    HTTPError,
    Redirect,
    ServerError,
    live,
    run_lifespan,
)
from {{ cookiecutter.package_name }}.resources import database, settings

from conftest import app_settings


@pytest.fixture(scope="module")
def app(app_database_url: str) -> Starlette:
    return create_app(app_settings(database_url=app_database_url))


def test_apps_built_in_one_process_compile_each_template_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = {"count": 1, "step": 1, "root_path": "", "flash": {"info": "Saved"}}
    first = create_live_routes(app_settings(), MemoryPubSub()).environment
    expected = first.get_template("counter.html").render(page)
    again = create_live_routes(app_settings(), MemoryPubSub()).environment

    def compile_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("a template the process compiled was compiled again")

    monkeypatch.setattr(again, "compile", compile_again)
    assert again.get_template("counter.html").render(page) == expected


def test_environments_with_other_constants_do_not_share_compiled_templates() -> None:
    compiled = CompiledTemplates()
    loader = DictLoader({"row.html": "{% raw %}{% for c in COLUMNS %}{{ c }}{% endfor %}{% endraw %}"})

    def render(columns: list[str]) -> str:
        constants = {"COLUMNS": columns}
        environment = LiveEnvironment(constants=constants, loader=loader, bytecode_cache=compiled)
        return environment.get_template("row.html").render()

    assert (render(["a"]), render(["b", "c"]), render(["a"])) == ("a", "bc", "a")


# -- counter -------------------------------------------------------------------


async def test_counter_mounts_with_the_count_from_the_url(app: Starlette) -> None:
    async with live(app, "/counter?count=5") as view:
        assert view.text("#count") == "5"
        assert view.title == "Count: 5"
        assert not view.has(".note")


async def test_counter_starts_at_zero(app: Starlette) -> None:
    async with live(app, "/counter") as view:
        assert view.text("#count") == "0"
        assert view.text("#increment") == "+ 1"


async def test_increment_and_decrement(app: Starlette) -> None:
    async with live(app, "/counter?count=1") as view:
        await view.click("#increment")
        assert view.text("#count") == "2"
        assert view.title == "Count: 2"
        await view.click("button", text="- 1")
        await view.click("#decrement")
        assert view.text("#count") == "0"
        await view.click("#decrement")
        view.assert_has(".note", text="Below zero!")


async def test_the_step_form_changes_the_step(app: Starlette) -> None:
    async with live(app, "/counter") as view:
        await view.change("#step-form", {"step": 5})
        assert view.text("#increment") == "+ 5"
        assert view.element("#step").attributes["value"] == "5"
        await view.click("#increment")
        assert view.text("#count") == "5"
        await view.submit("#step-form", {"step": 2})
        await view.click("#decrement")
        assert view.text("#count") == "3"


async def test_reset_patches_the_url(app: Starlette) -> None:
    async with live(app, "/counter?count=7") as view:
        assert await view.click("#reset") is None  # a patch: the view stays
        assert view.path == "/counter?count=0"
        assert view.text("#count") == "0"
        assert view.title == "Count: 0"
        assert view.text("#flash-info") == "The counter was reset."
        await view.click("#flash-info")  # phx-click="lv:clear-flash"
        assert not view.has("#flash-info")


async def test_the_jump_link_patches(app: Starlette) -> None:
    async with live(app, "/counter?count=3") as view:
        await view.click("#jump")
        assert view.path == "/counter?count=100"
        assert view.text("#count") == "100"


async def test_patching_runs_handle_params_and_keeps_the_state(app: Starlette) -> None:
    async with live(app, "/counter") as view:
        await view.change("#step-form", {"step": 3})
        await view.patch("/counter?count=-2")
        assert view.text("#count") == "-2"
        assert view.has(".note", text="Below zero!")
        await view.click("#increment")
        assert view.text("#count") == "1"  # the step survived: mount did not run again


async def test_clearing_the_step_keeps_it(app: Starlette) -> None:
    async with live(app, "/counter") as view:
        await view.change("#step-form", {"step": 4})
        await view.change("#step-form", {"step": ""})
        assert view.text("#increment") == "+ 4"


async def test_a_fractional_step_shows_an_error_and_keeps_the_step(app: Starlette) -> None:
    async with live(app, "/counter") as view:
        await view.change("#step-form", {"step": "2.5"})  # a number input accepts it
        assert view.text("#flash-error") == "parameter 'step': '2.5' is not a valid int"
        await view.click("#increment")  # the view is still there, its step unchanged
        assert view.text("#count") == "1"
        await view.click("#flash-error")
        assert not view.has("#flash-error")


@pytest.mark.parametrize("step", ["0", "-3"])
async def test_a_step_below_one_is_refused_by_the_server(app: Starlette, step: str) -> None:
    async with live(app, "/counter") as view:
        await view.change("#step-form", {"step": 3})
        await view.change("#step-form", {"step": step})
        assert view.text("#flash-error") == "The step must be 1 or more."
        assert view.text("#increment") == "+ 3"
        await view.change("#step-form", {"step": 2})  # a good value clears the error
        assert not view.has("#flash-error")
        assert view.text("#increment") == "+ 2"


async def test_a_bad_count_is_refused(app: Starlette) -> None:
    with pytest.raises(HTTPError) as error:
        async with live(app, "/counter?count=ten"):
            pass
    assert error.value.status_code == 400
    page = LexborHTMLParser(error.value.text)
    # The app's own layout, with the reason a person can read.
    assert page.css_first("header a").text() == "My Live App"
    assert page.css_first("title").text() == "Bad request"
    assert page.css_first("main h1").text() == "Bad request"
    assert page.css_first("main p").text() == "parameter 'count': 'ten' is not a valid int"
    async with live(app, "/counter?count=4") as view:
        redirect = await view.patch("/counter?count=ten")  # a page load shows the 400
        assert redirect is not None and redirect.kind == "redirect"
        assert redirect.to == "http://testserver/counter?count=ten"


async def test_an_unhandled_event_fails_the_test_and_changes_nothing(app: Starlette) -> None:
    async with live(app, "/counter") as view:
        # The server answers it ok, as Phoenix does, and logs it; the test client raises.
        with pytest.raises(ServerError, match="event 'explode' on .* refused: 'unhandled'"):
            await view.hook("explode")
        assert view.text("#count") == "0"
        await view.click("#increment")
        assert view.text("#count") == "1"


# -- index ---------------------------------------------------------------------


async def test_index_links_to_the_counter(app: Starlette) -> None:
    async with live(app, "/") as view:
        assert view.title == "Home"
        assert view.element("a", text="Counter").attributes["href"] == "/counter"
        assert await view.click("a", text="Counter") == Redirect("/counter", "live_redirect")
        await view.follow_redirect()  # a new LiveView over the same socket
        assert view.path == "/counter"
        assert view.title == "Count: 0"
        await view.click("#increment")
        assert view.text("#count") == "1"


# -- the app's resources --------------------------------------------------------


async def test_views_reach_the_database_and_settings_through_the_lifespan(app: Starlette) -> None:
    socket: LiveViewSocket[None] = LiveViewSocket(urlparse("http://testserver/"))
    with pytest.raises(RuntimeError, match="lifespan"):
        database(socket)  # no lifespan has run: a clear error, not an AttributeError
    async with run_lifespan(app) as state:
        socket.state = State(state)  # what the runtime gives every view
        async with database(socket).session() as session:
            assert (await session.execute(text("select 41 + 1"))).scalar_one() == 42
        assert settings(socket).secret_key
