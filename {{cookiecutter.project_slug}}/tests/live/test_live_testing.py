"""The test client (``live/testing/``) does what the browser does, and says so when it can't.

Small apps built here record every frame the client sends (at the ASGI
level, as the server receives it), so each test checks the exact wire
payload the official client would send. The merge is checked against the
official client's own ``rendered.js`` (see ``replay/``) on generated diffs.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
import typing as t
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from {{ cookiecutter.package_name }}.live import (
    ConnectedLiveViewSocket,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
    UnhandledEvent,
    diff_tree,
    is_connected,
    render_template,
)
from {{ cookiecutter.package_name }}.live.shared_statics import share_statics
from {{ cookiecutter.package_name }}.live.testing import (
    DiffError,
    HTTPError,
    LiveTestError,
    PushedEvent,
    Redirect,
    Rendered,
    ServerError,
    live,
    run_lifespan,
    scaled,
)

import properties
import replay
{#- The templates below are test data: cookiecutter must copy them verbatim. #}
{%- raw %}

Tree = dict[str, t.Any]
Context = dict[str, t.Any]
ReplayClient = replay.ReplayClient
replay_client = replay.replay_client  # the fixture, found by pytest here
SECRET = "test-secret-key-for-the-live-testing-tests"

# -- a small app that records what the client sends ----------------------------

LAYOUT = (
    '<!DOCTYPE html><html><head><meta name="csrf-token" content="{{ csrf_token }}">'
    "<title>{{ title or 'Test' }}</title></head><body>{{ live_container }}</body></html>"
)

PLAYGROUND = """<h1 id="heading">Playground {{ tab }}</h1>
<p id="count">{{ count }}</p>
<pre id="last">{{ last }}</pre>
<section id="buttons">
  <button id="inc" phx-click="inc" phx-value-by="2" phx-value-user-id="9">+2</button>
  <div class="row" phx-click="row" phx-value-id="5"><span id="inner">row 5</span></div>
  <a id="js" phx-click='[["push",{"event":"js","value":{"x":1}}]]'>js</a>
  <button phx-click="go">go</button>
  <button phx-click="leave">leave</button>
  <button phx-click="tab">tab</button>
  <button phx-click="toast">toast</button>
  <button phx-click="rename">rename</button>
  <button phx-click="boom">boom</button>
  <input type="checkbox" id="cb" phx-click="toggle" value="yes">
</section>
<p id="plain">nothing</p>
<a id="away" href="/plain">plain link</a>
<a id="nav" href="/other" data-phx-link="redirect" data-phx-link-state="push">other</a>
<a id="self" href="/play?tab=c" data-phx-link="patch" data-phx-link-state="replace">tab c</a>
<input id="k" phx-keydown="key" phx-key="Enter" value="typed">
<div phx-window-keyup="wkey"></div>
<span id="f" phx-focus="focused" phx-blur="blurred" phx-value-n="1">f</span>
<ul>{% for item in items %}<li>{{ item }}</li>{% endfor %}</ul>"""

FORM = """<form id="profile" phx-change="validate" phx-submit="save" phx-value-source="profile">
  <input type="hidden" name="user[id]" value="7">
  <input type="text" name="user[name]" value="Ann">
  <input type="email" name="user[email]" value="">
  <textarea name="user[bio]">
Hello</textarea>
  <select name="user[role]">
    <option value="a">Admin</option><option value="u" selected>User</option>
  </select>
  <select name="user[tags][]" multiple>
    <option selected>red</option><option>green</option><option value="b" selected>blue</option>
  </select>
  <input type="hidden" name="user[notify]" value="false">
  <input type="checkbox" name="user[notify]" value="true">
  <input type="radio" name="user[size]" value="s" checked>
  <input type="radio" name="user[size]" value="m">
  <input type="number" name="user[age]" value="30">
  <input type="text" name="user[nick]" value="x" disabled>
  <fieldset disabled><input name="user[locked]" value="1"></fieldset>
  <input type="file" name="avatar">
  <input type="text" name="q" phx-change="search" value="">
  <button type="submit" name="action" value="save">Save</button>
  <button type="submit" name="action" value="draft">Draft</button>
  <button type="button" id="noop">No-op</button>
</form>
<input type="text" name="user[outside]" form="profile" value="o">
<form id="bare"><input name="x" value="1"></form>
<form id="plain-select" phx-change="pick">
  <select name="pick"><option disabled>--</option><option>one</option><option>two</option></select>
</form>
<p id="got">{{ got }}</p>"""

TEMPLATES = {
    "layout.html": LAYOUT,
    "playground.html": PLAYGROUND,
    "form.html": FORM,
    "other.html": '<p id="other">Other</p>',
    "lifespan.html": '<p id="state">{{ state }}</p>',
}


PLAYGROUND_EVENTS = {
    "inc",
    "row",
    "js",
    "go",
    "leave",
    "tab",
    "toast",
    "rename",
    "boom",
    "toggle",
    "key",
    "wkey",
    "focused",
    "blurred",
}


class Playground(LiveView[dict[str, t.Any]]):
    template_name = "playground.html"

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        socket.context = {"count": 0, "last": "", "tab": "a", "items": ["x", "y"]}

    async def handle_params(
        self, socket: LiveViewSocket[dict[str, t.Any]], tab: str = "a", page: int = 1
    ) -> None:
        socket.context["tab"] = tab

    async def handle_event(
        self,
        event: str,
        payload: dict[str, t.Any],
        socket: ConnectedLiveViewSocket[dict[str, t.Any]],
    ) -> None:
        if event not in PLAYGROUND_EVENTS:
            raise UnhandledEvent(event)
        context = socket.context
        context["last"] = f"{event} {json.dumps(payload, sort_keys=True)}"
        if event == "inc":
            context["count"] += 1
            context["items"] = [*context["items"], f"n{context['count']}"]
        elif event == "go":
            await socket.push_navigate("/other")
        elif event == "leave":
            await socket.redirect("/plain")
        elif event == "tab":
            await socket.push_patch("/play", {"tab": "b"})
        elif event == "toast":
            socket.push_event("toast", {"msg": "hi"})
        elif event == "rename":
            socket.live_title = "Renamed"
        elif event == "boom":
            raise RuntimeError("boom")


class FormView(LiveView[dict[str, t.Any]]):
    template_name = "form.html"

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        socket.context = {"got": ""}

    async def handle_event(
        self,
        event: str,
        payload: dict[str, t.Any],
        socket: ConnectedLiveViewSocket[dict[str, t.Any]],
    ) -> None:
        socket.context["got"] = f"{event} {json.dumps(payload, sort_keys=True)}"


class Other(LiveView[dict[str, t.Any]]):
    template_name = "other.html"

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        socket.context = {}
        socket.live_title = "Other"


class Guarded(Other):
    """Sends every visitor to /other, already in the HTTP render."""

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        await socket.push_navigate("/other")


class GuardedWhenConnected(Other):
    """Sends a visitor to /other only once joined: the join reply is a live_redirect."""

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        socket.context = {}
        if is_connected(socket):
            await socket.push_navigate("/other")


LIFESPAN_LOG: list[str] = []


class LifespanView(LiveView[dict[str, t.Any]]):
    template_name = "lifespan.html"

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        socket.context = {"state": ",".join(LIFESPAN_LOG)}


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    LIFESPAN_LOG.append("up")
    yield
    LIFESPAN_LOG.append("down")


async def plain(request: t.Any) -> HTMLResponse:
    return HTMLResponse("<p>not live</p>")


class Recorder:
    """The app, recording each frame the client sends as the server receives it."""

    def __init__(self, app: t.Any) -> None:
        self.app = app
        self.frames: list[list[t.Any]] = []
        self.query_strings: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        self.query_strings.append(scope["query_string"])

        async def recording() -> Message:
            message = await receive()
            if message.get("text"):
                self.frames.append(json.loads(message["text"]))
            return message

        await self.app(scope, recording, send)

    def sent(self, event: str) -> list[t.Any]:
        """Payloads of the frames sent with ``event``."""
        return [frame[4] for frame in self.frames if frame[3] == event]

    @property
    def last_event(self) -> t.Any:
        return self.sent("event")[-1]


@pytest.fixture(scope="module")
def app() -> Recorder:
    live_routes = LiveRoutes(LiveEnvironment(loader=DictLoader(TEMPLATES)), SECRET)
    for path, view in [
        ("/play", Playground),
        ("/form", FormView),
        ("/other", Other),
        ("/guarded", Guarded),
        ("/guarded-live", GuardedWhenConnected),
        ("/life", LifespanView),
    ]:
        live_routes.add(path, view)
    starlette = Starlette(
        routes=[*live_routes.routes, Route("/plain", plain)],
        middleware=[Middleware(SessionMiddleware, secret_key=SECRET)],
        lifespan=lifespan,
    )
    return Recorder(starlette)


@pytest.fixture
def recorder(app: Recorder) -> Recorder:
    app.frames.clear()
    app.query_strings.clear()
    return app


# -- joining -------------------------------------------------------------------


async def test_join_sends_what_the_official_client_sends(recorder: Recorder) -> None:
    async with live(recorder, "/play?tab=b") as view:
        assert view.text("#heading") == "Playground b"
        assert view.url == "http://testserver/play?tab=b" and view.path == "/play?tab=b"
        assert "<h1" in view.dead_html and "data-phx-main" in view.dead_html
    (join,) = recorder.sent("phx_join")
    assert set(join) == {"url", "params", "session", "static", "sticky"}
    assert join["url"] == "http://testserver/play?tab=b"
    assert join["static"] is None and join["sticky"] is False
    assert set(join["params"]) == {"_csrf_token", "_mounts", "_mount_attempts"}
    assert join["params"]["_mounts"] == 0
    (query,) = recorder.query_strings
    assert b"_csrf_token=" in query and query.endswith(b"vsn=2.0.0")


async def test_html_is_the_merged_tree(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        assert view.html().startswith('<h1 id="heading">Playground a</h1>')
        await view.click("#inc")
        assert "<li>x</li><li>y</li><li>n1</li>" in view.html()
        assert [node.text() for node in view.find("li")] == ["x", "y", "n1"]
        view.assert_has("li", count=3)
        view.assert_has("li", text="n1")
        assert view.has("li", text=re.compile(r"^n\d$")) and not view.has("li", text="n2")


async def test_lifespan_runs_around_the_view_unless_the_caller_runs_it(recorder: Recorder) -> None:
    LIFESPAN_LOG.clear()
    async with live(recorder, "/life") as view:
        assert view.text("#state") == "up"
    assert LIFESPAN_LOG == ["up", "down"]
    LIFESPAN_LOG.clear()
    async with run_lifespan(recorder):
        async with (
            live(recorder, "/life", lifespan=False) as first,
            live(recorder, "/life", lifespan=False) as second,
        ):
            assert first.text("#state") == second.text("#state") == "up"
    assert LIFESPAN_LOG == ["up", "down"]


async def test_http_errors_carry_the_status(recorder: Recorder) -> None:
    with pytest.raises(HTTPError) as error:
        async with live(recorder, "/nowhere"):
            pass
    assert error.value.status_code == 404


async def test_a_page_without_a_liveview_is_refused(recorder: Recorder) -> None:
    with pytest.raises(LiveTestError, match="rendered no LiveView container"):
        async with live(recorder, "/plain"):
            pass


# -- clicks --------------------------------------------------------------------


async def test_click_sends_phx_value_and_the_element_value(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        assert await view.click("#inc") is None
        assert recorder.last_event == {
            "type": "click",
            "event": "inc",
            "value": {"by": "2", "user-id": "9", "value": ""},
        }
        assert view.text("#count") == "1"
        assert view.text("#last") == 'inc {"by": "2", "user-id": "9", "value": ""}'


async def test_click_bubbles_to_the_nearest_phx_click(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        await view.click("#inner")
        assert recorder.last_event == {"type": "click", "event": "row", "value": {"id": "5"}}


async def test_click_runs_js_push_commands(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        await view.click("#js")
        assert recorder.last_event == {"type": "click", "event": "js", "value": {"x": 1}}


async def test_unchecked_checkbox_sends_no_value(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        await view.click("#cb")
        assert recorder.last_event == {"type": "click", "event": "toggle", "value": {}}


async def test_click_picks_by_text(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        await view.click("button", text="toast")
        assert view.pushed_events == [PushedEvent("toast", {"msg": "hi"})]


async def test_clicking_nothing_names_the_selector_and_shows_the_html(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        with pytest.raises(
            LiveTestError, match=r"no element matches '#missing' in /play\.\nthe view's HTML:\n<h1"
        ):
            await view.click("#missing")
        with pytest.raises(
            LiveTestError,
            match=r"'#buttons' matches, but not the rest; its HTML:\n<section id=\"buttons\">",
        ):
            await view.click("#buttons .nope")
        with pytest.raises(
            LiveTestError,
            match=r"(?s)'button' with text 'nope'.*'button' matches elements with text \['\+2'",
        ):
            await view.click("button", text="nope")


async def test_clicking_an_element_without_phx_click_is_refused(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        with pytest.raises(
            LiveTestError, match=r"clicking '#plain' does nothing.*\n<p id=\"plain\">nothing</p>"
        ):
            await view.click("#plain")
    assert recorder.sent("event") == []


async def test_an_ambiguous_selector_is_refused(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        with pytest.raises(
            LiveTestError, match="'button' matches 7 elements; a browser acts on one"
        ):
            await view.click("button")
        with pytest.raises(LiveTestError, match="invalid CSS selector"):
            view.find("p[")


# -- keys and focus ------------------------------------------------------------


async def test_keydown_honours_phx_key(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        await view.keydown("#k", "a")
        assert recorder.sent("event") == []
        await view.keydown("#k", "Enter")
        assert recorder.last_event == {
            "type": "keydown",
            "event": "key",
            "value": {"key": "Enter", "value": "typed"},
        }


async def test_window_keys_and_focus(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        await view.keyup(None, "Escape")
        assert recorder.last_event == {"type": "keyup", "event": "wkey", "value": {"key": "Escape"}}
        await view.keyup("#plain", "x")  # no phx-keyup of its own: the window's bindings fire
        assert recorder.last_event["value"] == {"key": "x"}
        with pytest.raises(
            LiveTestError, match="'#plain' has no phx-keydown and no element has phx-window-keydown"
        ):
            await view.keydown("#plain", "x")
        await view.focus("#f")
        await view.blur("#f")
        assert recorder.sent("event")[-2:] == [
            {"type": "focus", "event": "focused", "value": {"n": "1"}},
            {"type": "blur", "event": "blurred", "value": {"n": "1"}},
        ]


# -- forms ---------------------------------------------------------------------


def form_value(pairs: list[tuple[str, str]]) -> str:
    return (
        "&".join(f"{name}={value}" for name, value in pairs).replace("[", "%5B").replace("]", "%5D")
    )


UNTOUCHED_CHANGE = [
    ("user[id]", "7"),
    ("user[name]", "Bob+Smith"),
    ("user[_unused_email]", ""),
    ("user[email]", ""),
    ("user[_unused_bio]", ""),
    ("user[bio]", "Hello"),
    ("user[_unused_role]", ""),
    ("user[role]", "u"),
    ("user[_unused_tags][]", ""),
    ("user[tags][]", "red"),
    ("user[_unused_tags][]", ""),
    ("user[tags][]", "b"),
    ("user[_unused_notify]", ""),
    ("user[notify]", "false"),
    ("user[_unused_size]", ""),
    ("user[size]", "s"),
    ("user[_unused_age]", ""),
    ("user[age]", "30"),
    ("_unused_q", ""),
    ("q", ""),
    ("user[_unused_outside]", ""),
    ("user[outside]", "o"),
]


async def test_change_serializes_the_form_as_the_client_does(recorder: Recorder) -> None:
    async with live(recorder, "/form") as view:
        await view.change("#profile", {"user": {"name": "Bob Smith"}})
        assert recorder.last_event == {
            "type": "form",
            "event": "validate",
            "value": form_value(UNTOUCHED_CHANGE),
            "meta": {"_target": "user[name]", "source": "profile"},
            "uploads": {},
        }
        assert view.text("#got").startswith('validate {"_target": ["user", "name"]')


async def test_fields_touched_once_stay_used(recorder: Recorder) -> None:
    async with live(recorder, "/form") as view:
        await view.change("#profile", {"user[email]": "a@b.c", "user[notify]": True})
        first = recorder.last_event["value"]
        assert "user%5Bemail%5D=a%40b.c" in first
        assert (
            "user%5Bnotify%5D=false&user%5Bnotify%5D=true" in first
        )  # the hidden default, then the box
        await view.change(
            "#profile", {"user[size]": "m", "user[tags]": ["green"]}, target="user[size]"
        )
        value = recorder.last_event["value"]
        # Values come from the HTML, as after a patch (this server does not echo them);
        # what a user touched stays "used".
        assert "user%5B_unused_email%5D" not in value and "user%5Bemail%5D=&" in value
        assert (
            "user%5B_unused_notify%5D" not in value
            and "user%5Bnotify%5D=false&user%5Bsize%5D=m" in value
        )
        assert "user%5Btags%5D%5B%5D=green&" in value
        assert "user%5B_unused_name%5D=&user%5Bname%5D=Ann" in value
        assert recorder.last_event["meta"]["_target"] == "user[size]"


async def test_submit_sends_every_field_as_used_and_the_submitter(recorder: Recorder) -> None:
    async with live(recorder, "/form") as view:
        await view.submit("#profile", {"user[name]": "~Zoë*"}, submitter="button[value=draft]")
        pairs = [(name, value) for name, value in UNTOUCHED_CHANGE if "_unused_" not in name]
        pairs[1] = ("user[name]", "%7EZo%C3%AB*")  # URLSearchParams escapes ~ and keeps *
        pairs.insert(-1, ("action", "draft"))  # where the pressed button is
        assert recorder.last_event == {
            "type": "form",
            "event": "save",
            "value": form_value(pairs),
            "meta": {"source": "profile"},
        }
        await view.submit("button", text="Save")
        assert "&action=save&" in recorder.last_event["value"]
        await view.submit("#profile")  # as a script's requestSubmit(): no submitter
        assert "action=" not in recorder.last_event["value"]


async def test_an_input_with_its_own_phx_change_sends_only_itself(recorder: Recorder) -> None:
    async with live(recorder, "/form") as view:
        await view.change("input[name=q]", {"q": "hi there"})
        assert recorder.last_event == {
            "type": "form",
            "event": "search",
            "value": "q=hi+there",
            "meta": {"_target": "q", "source": "profile"},
            "uploads": {},
        }


async def test_a_select_without_a_choice_sends_its_first_enabled_option(recorder: Recorder) -> None:
    async with live(recorder, "/form") as view:
        await view.change("#plain-select")
        assert recorder.last_event["value"] == "_unused_pick=&pick=one"
        assert recorder.last_event["meta"] == {"_target": "undefined"}
        await view.change("select[name=pick]", {"pick": "two"})
        assert recorder.last_event["value"] == "pick=two"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"user[nmae]": "x"},
            r"form #profile has no field named 'user\[nmae\]'; its fields: \['user\[id\]', 'user",
        ),
        ({"user[nick]": "x"}, r"field 'user\[nick\]' of form #profile is disabled"),
        ({"user[locked]": "2"}, r"field 'user\[locked\]' of form #profile is disabled"),
        (
            {"user[role]": "root"},
            r"select 'user\[role\]' cannot take \['root'\]: its options are \['a', 'u'\]",
        ),
        (
            {"user[size]": "xl"},
            r"radio 'user\[size\]' of form #profile has no value \['xl'\]; its values: \['s', 'm",
        ),
        ({"user[age]": "thirty"}, r"a browser cannot put 'thirty' in number input 'user\[age\]'"),
        ({"avatar": "a.png"}, r"'avatar' is a file input: uploads are not supported"),
        ({"user[name]": ["a", "b"]}, r"2 values for 1 field\(s\) named 'user\[name\]'"),
    ],
)
async def test_what_a_user_cannot_type_is_refused(
    recorder: Recorder, fields: dict[str, t.Any], message: str
) -> None:
    async with live(recorder, "/form") as view:
        with pytest.raises(LiveTestError, match=message):
            await view.change("#profile", fields)
    assert recorder.sent("event") == []


async def test_forms_without_bindings_are_refused(recorder: Recorder) -> None:
    async with live(recorder, "/form") as view:
        with pytest.raises(LiveTestError, match="the form has no phx-change"):
            await view.change("#bare", {"x": "2"})
        with pytest.raises(
            LiveTestError, match="no phx-submit; a browser would submit it over HTTP"
        ):
            await view.submit("#bare")
        with pytest.raises(LiveTestError, match=r"does not submit its form \(type=button\)"):
            await view.submit("#profile", submitter="#noop")
        with pytest.raises(LiveTestError, match="neither a form nor a field in a form"):
            await view.change("#got")


# -- replies, navigation, errors ----------------------------------------------


async def test_push_patch_changes_the_url(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        assert await view.click("button", text="tab") is None
        assert view.path == "/play?tab=b" and view.text("#heading") == "Playground b"
        await view.click("#self")
        assert recorder.sent("live_patch")[-1] == {"url": "http://testserver/play?tab=c"}
        assert view.path == "/play?tab=c" and view.text("#heading") == "Playground c"
        await view.patch("/play?tab=d")
        assert view.text("#heading") == "Playground d"


async def test_title_updates(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        assert view.title == "Test"
        await view.click("button", text="rename")
        assert view.title == "Renamed"


async def test_push_navigate_is_a_result_and_following_it_joins_the_next_view(
    recorder: Recorder,
) -> None:
    async with live(recorder, "/play") as view:
        result = await view.click("button", text="go")
        assert result == view.redirect == Redirect("/other", "live_redirect")
        with pytest.raises(LiveTestError, match=r"navigated away to '/other' \(live_redirect\)"):
            view.html()
        assert await view.follow_redirect() is view
        assert view.text("#other") == "Other" and view.path == "/other" and view.title == "Other"
    leave, _ = recorder.frames[-2:]
    assert leave[3] == "phx_leave"
    first, second = recorder.sent("phx_join")
    assert second["redirect"] == "http://testserver/other" and "url" not in second
    assert second["params"]["_live_referer"] == "http://testserver/play"
    assert (second["session"], second["static"]) == (first["session"], first["static"])
    assert {frame[2] for frame in recorder.frames} == {
        recorder.frames[0][2]
    }  # the same lv:<id> topic


async def test_links(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        assert await view.click("#nav") == Redirect("/other", "live_redirect")
        await view.follow_redirect()
        assert view.text("#other") == "Other"
    async with live(recorder, "/play") as view:
        assert await view.click("#away") == Redirect("/plain", "redirect")
        with pytest.raises(LiveTestError, match="GET http://testserver/plain rendered no LiveView"):
            await view.follow_redirect()


async def test_redirect_is_a_page_load(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        assert await view.click("button", text="leave") == Redirect("/plain", "redirect")
        with pytest.raises(LiveTestError, match="/plain rendered no LiveView"):
            await view.follow_redirect()


async def test_redirects_from_mount(recorder: Recorder) -> None:
    async with live(recorder, "/guarded") as view:
        assert view.redirect == Redirect("/other", "redirect")  # the HTTP render's 302
        await view.follow_redirect()
        assert view.text("#other") == "Other"
    recorder.frames.clear()
    async with live(recorder, "/guarded-live") as view:
        assert view.redirect == Redirect("/other", "live_redirect")  # the join's reply
        await view.follow_redirect()
        assert view.path == "/other" and view.text("#other") == "Other"
    assert [frame[3] for frame in recorder.frames] == [
        "phx_join",
        "phx_join",
    ]  # never joined: nothing to leave


async def test_an_event_the_view_does_not_handle_raises_and_changes_nothing(
    recorder: Recorder,
) -> None:
    """The server answers it ``ok`` (as Phoenix does) and logs it: the test client raises."""
    async with live(recorder, "/play") as view:
        before = view.html()
        with pytest.raises(ServerError, match="event 'nope' on .* refused") as error:
            await view.hook("nope", {"a": 1})
        assert error.value.reason.endswith("refused: 'unhandled'")
        assert recorder.last_event == {"type": "hook", "event": "nope", "value": {"a": 1}}
        assert view.html() == before


async def test_every_refused_event_raises_though_the_warnings_are_throttled_or_silenced(
    recorder: Recorder,
) -> None:
    """The server logs at most so many warnings a minute per socket, and an app may silence
    them: the test client hears of each refusal all the same."""
    package = logging.getLogger(ServerError.__module__.partition(".")[0])  # the app's
    level = package.level
    async with live(recorder, "/play") as view:
        try:
            for number in range(12):
                if number == 11:
                    package.setLevel(logging.ERROR)
                with pytest.raises(ServerError, match=f"event 'nope{number}' on .* refused"):
                    await view.hook(f"nope{number}", {})
        finally:
            package.setLevel(level)


async def test_a_patch_whose_params_do_not_bind_loads_the_page_as_the_browser_does(
    recorder: Recorder,
) -> None:
    async with live(recorder, "/play?tab=b") as view:
        await view.click("#inc")
        redirect = await view.patch("/play?page=x")
        assert redirect is not None and redirect.kind == "redirect"
        assert redirect.to == "http://testserver/play?page=x"
        with pytest.raises(HTTPError) as error:  # the page load says why
            await view.follow_redirect()
        assert error.value.status_code == 400
        assert "parameter &#39;page&#39;: &#39;x&#39; is not a valid int" in error.value.text


async def test_after_a_crash_the_view_rejoins_as_the_browser_does(recorder: Recorder) -> None:
    async with live(recorder, "/play") as view:
        await view.click("#inc")
        with pytest.raises(ServerError, match="crash"):
            await view.click("button", text="boom")
        await view.click("#inc")
        assert view.text("#count") == "1"  # a fresh mount
    assert [join["params"]["_mounts"] for join in recorder.sent("phx_join")] == [0, 1]


# -- a scripted server, for what the runtime does not send (yet) ---------------------


class Scripted:
    """A fake LiveView server: answers the join with ``rendered``, each push with the next reply."""

    PAGE = (
        '<html><head><meta name="csrf-token" content="C"></head><body><div id="phx-F1" '
        'data-phx-main data-phx-session="S" data-phx-static="T"></div></body></html>'
    )

    def __init__(
        self,
        rendered: Tree,
        replies: list[dict[str, t.Any]] | None = None,
        pushes: list[list[t.Any]] | None = None,
    ) -> None:
        self.rendered, self.replies, self.pushes = rendered, replies or [], pushes or []
        self.tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        elif scope["type"] == "http":
            await HTMLResponse(self.PAGE)(scope, receive, send)
        else:
            await receive()
            await send({"type": "websocket.accept"})
            while (message := await receive())["type"] == "websocket.receive":
                join_ref, ref, topic, event, payload = json.loads(message["text"])
                if event == "phx_join":
                    response: dict[str, t.Any] = {"rendered": copy.deepcopy(self.rendered)}
                    task = asyncio.create_task(self.push(send, join_ref, topic))
                    self.tasks.add(task)
                else:
                    response = self.replies.pop(0) if self.replies else {}
                status = response.pop("status", "ok")
                text = json.dumps(
                    [join_ref, ref, topic, "phx_reply", {"status": status, "response": response}]
                )
                await send({"type": "websocket.send", "text": text})

    async def push(self, send: Send, join_ref: str, topic: str) -> None:
        for join, event, payload in self.pushes:
            await asyncio.sleep(0.01)
            await send(
                {
                    "type": "websocket.send",
                    "text": json.dumps([join or join_ref, None, topic, event, payload]),
                }
            )


ROOT = {"s": ['<p id="x">', "</p>"], "0": "now"}


async def test_server_pushes_are_merged_in_order() -> None:
    server = Scripted(
        ROOT,
        pushes=[
            ["999", "diff", {"0": "stale"}],
            [None, "diff", {"0": "later", "e": [["hello", {}]]}],
        ],
    )
    async with live(server, "/") as view:
        assert view.text("#x") == "now"
        node = await view.wait_for("#x", text="later")
        assert node.text() == "later" and view.pushed_events == [PushedEvent("hello", {})]
        with pytest.raises(
            LiveTestError, match=r"nothing matched '#x' with text 'never' within 0.05 s"
        ):
            await view.wait_for("#x", text="never", timeout=0.05)


async def test_pushed_patches_and_navigation() -> None:
    server = Scripted(
        ROOT,
        pushes=[
            [None, "live_patch", {"to": "/?page=2", "kind": "push"}],
            [None, "live_redirect", {"to": "/next", "kind": "replace"}],
        ],
    )
    async with live(server, "/") as view:
        with pytest.raises(LiveTestError, match="navigated away to '/next'"):
            await view.wait_for("#never")  # the pushes arrive, the view leaves
        with pytest.raises(LiveTestError, match="navigated away to '/next'"):
            await view.click("#x")
        assert view.path == "/?page=2"
        assert view.redirect == Redirect("/next", "live_redirect", replace=True)


async def test_a_reply_that_breaks_the_protocol_is_a_diff_error() -> None:
    root = {
        "s": ['<p id="x" phx-click="go">', "</p>"],
        "0": {"s": ["", ""], "k": {"0": {"0": "a"}, "1": {"0": "b"}, "kc": 2}},
    }
    moves = {"0": {"k": {"0": 1, "1": 0, "kc": 2}}}
    server = Scripted(
        root,
        replies=[
            {"diff": {"0": {"k": {"0": 1, "1": 0, "kc": 2, "km": True}}}},
            {"diff": moves},
            {"diff": {"0": {"s": ["", "", ""], "0": "x"}}},
        ],
    )
    async with live(server, "/") as view:
        assert view.text("#x") == "ab"
        await view.click("#x")
        assert view.text("#x") == "ba"
        with pytest.raises(DiffError, match="moved without km"):
            await view.click("#x")
    async with live(
        Scripted(root, replies=[{"diff": {"0": {"s": ["", "", ""], "0": "x"}}}]), "/"
    ) as view:
        with pytest.raises(
            DiffError, match="slot /0/1 is missing: the client would render 'undefined'"
        ):
            await view.click("#x")


async def test_a_server_that_does_not_answer_times_out() -> None:
    class Silent(Scripted):
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "websocket":
                await receive()
                await send({"type": "websocket.accept"})
                while (await receive())["type"] == "websocket.receive":
                    pass
            else:
                await super().__call__(scope, receive, send)

    with pytest.raises(LiveTestError, match=r"no reply to phx_join within 0.05 s"):
        async with live(Silent(ROOT), "/", timeout=0.05):
            pass


async def test_the_default_waits_are_scaled_by_test_timeout_scale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TEST_TIMEOUT_SCALE", raising=False)
    assert scaled(2.0) == 2.0
    monkeypatch.setenv("TEST_TIMEOUT_SCALE", "0.005")  # the test client's 10 s become 0.05 s
    assert scaled(2.0) == 0.01
    async with live(Scripted(ROOT), "/") as view:
        with pytest.raises(LiveTestError, match=r"'#x' with text 'never' within 0.05 s"):
            await view.wait_for("#x", text="never")
    for wrong in ("0", "-1", "nan", "inf", "soon"):
        monkeypatch.setenv("TEST_TIMEOUT_SCALE", wrong)
        with pytest.raises(ValueError, match="TEST_TIMEOUT_SCALE must be a positive number"):
            scaled(1.0)


# -- the merge -------------------------------------------------------------------


def merged(*diffs: Tree) -> Rendered:
    rendered = Rendered()
    for diff in diffs:
        rendered.merge(Rendered.extract(copy.deepcopy(diff)).diff)
    return rendered


def test_extract_strips_title_events_and_reply() -> None:
    extracted = Rendered.extract({"s": ["a"], "t": "T", "e": [["x", {}]], "r": 1})
    assert (extracted.diff, extracted.title, extracted.events, extracted.reply) == (
        {"s": ["a"]},
        "T",
        [["x", {}]],
        1,
    )


def test_root_templates() -> None:
    # PROTOCOL.md: since 1.1 Phoenix puts every root static in a root "p".
    join = {"0": "10:30", "1": "Sunny", "r": 1, "s": 0, "p": {"0": ["<div>", " ", "</div>"]}}
    rendered = merged(join, {"1": "Rain"})
    assert rendered.html == "<div>10:30 Rain</div>"


def test_keyed_moves_with_and_without_diffs() -> None:
    join = {
        "s": ["<ul>", "</ul>"],
        "0": {
            "s": ["<li>", "</li>"],
            "k": {"0": {"0": "a"}, "1": {"0": "b"}, "2": {"0": "c"}, "kc": 3},
        },
    }
    rendered = merged(join, {"0": {"k": {"0": 2, "1": [0, {"0": "A"}], "kc": 2, "km": True}}})
    assert rendered.html == "<ul><li>c</li><li>A</li></ul>"


def test_entries_moved_from_one_place_stay_shared_as_in_the_client() -> None:
    # The client clones with structuredClone, which keeps shared objects shared: both
    # entries copied from entry 0 are one object, so changing one changes the other.
    join = {
        "s": ["", ""],
        "0": {"s": ["<i>", "</i>"], "k": {"0": {"0": "a"}, "1": {"0": "b"}, "kc": 2}},
    }
    copied = {"0": {"k": {"0": 0, "1": 0, "kc": 2, "km": True}}}
    changed = {"0": {"k": {"0": [0, {}], "1": [1, {"0": "x"}], "kc": 2, "km": True}}}
    assert merged(join, copied, changed).html == "<i>x</i><i>x</i>"


def test_components_render_in_their_slots_with_their_root_tagged() -> None:
    join = {"s": ["<main>", "", "</main>"], "0": 1, "1": 2, "c": {
        "1": {"s": ["<b>", "</b>"], "0": "one", "r": 1},
        "2": {"s": 1, "0": "two", "r": 1},  # the statics of component 1, in this same message
    }}
    rendered = merged(join)
    assert rendered.html == (
        '<main><b data-phx-component="1">one</b><b data-phx-component="2">two</b></main>'
    )
    # A diff with only "c" patches the components; "s": -1 takes component 1's statics as
    # the client holds them; a missing slot of a component keeps its value.
    rendered.merge({"c": {"2": {"0": "TWO"}, "3": {"s": -1, "0": "three", "r": 1}}})
    rendered.merge({"1": 3})
    assert rendered.html == (
        '<main><b data-phx-component="1">one</b><b data-phx-component="3">three</b></main>'
    )
    assert rendered.shown == {"1", "3"}
    rendered.prune([2])
    assert set(rendered.components) == {"1", "3"}


def test_what_the_client_throws_on_in_components_is_a_diff_error() -> None:
    with pytest.raises(DiffError, match="no component for CID 1"):
        merged({"s": ["", ""], "0": 1})
    with pytest.raises(DiffError, match="does not start with an element"):
        merged({"s": ["", ""], "0": 1, "c": {"1": {"s": ["text ", ""], "0": "x", "r": 1}}})
    with pytest.raises(DiffError, match="shares the statics of 7, which is gone"):
        merged({"s": ["", ""], "0": 1, "c": {"1": {"s": -7, "0": "x"}}})


def test_null_and_booleans_render_as_the_client_writes_them() -> None:
    assert merged({"s": ["", "", "", ""], "0": None, "1": True, "2": False}).html == "nulltruefalse"


# -- the merge agrees with the official client's ------------------------------------

TEXT = st.text("ab <>&\"'é", max_size=3)


class DiffBuilder:
    """Random valid diffs against the client's current tree: what the runtime may send.

    Nested nodes, keyed comprehensions with inserts, deletes and moves (with
    and without diffs), statics replaced, and templates in ``p``.
    """

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def statics(self, slots: int) -> list[str]:
        return [self.draw(TEXT) for _ in range(slots + 1)]

    def value(self, depth: int) -> t.Any:
        kinds = ["text", "text"] + ["node", "comprehension", "comprehension"] * (depth > 0)
        kind = self.draw(st.sampled_from(kinds))
        if kind == "text":
            return self.draw(TEXT)
        if kind == "node":
            return self.node(depth - 1)
        slots = self.draw(st.integers(0, 2))
        count = self.draw(st.integers(0, 3))
        entries = {str(i): self.entry(slots, depth - 1) for i in range(count)}
        return {"s": self.statics(slots), "k": {**entries, "kc": count}}

    def node(self, depth: int) -> Tree:
        slots = self.draw(st.integers(0, 3))
        return {"s": self.statics(slots), **self.entry(slots, depth)}

    def entry(self, slots: int, depth: int) -> Tree:
        return {str(i): self.value(depth) for i in range(slots)}

    def change(self, current: t.Any, depth: int) -> t.Any:
        """A diff for one slot: partial when it is a node or comprehension, else a new value."""
        if isinstance(current, dict) and self.draw(st.integers(0, 3)):
            return self.keyed(current, depth) if "k" in current else self.partial(current, depth)
        return self.value(max(depth, 0))

    def partial(self, node: Tree, depth: int) -> Tree:
        return {
            str(i): self.change(node[str(i)], depth - 1)
            for i in range(len(node["s"]) - 1)
            if self.draw(st.booleans())
        }

    def keyed(self, comprehension: Tree, depth: int) -> Tree:
        old = comprehension["k"]
        slots, count = len(comprehension["s"]) - 1, self.draw(st.integers(0, old["kc"] + 2))
        out: Tree = {}
        for i in range(count):
            kind = self.draw(st.sampled_from(["same", "change", "move", "move+change", "new"]))
            source = self.draw(st.integers(0, old["kc"] - 1)) if old["kc"] else None
            if kind == "new" or source is None or (i >= old["kc"] and kind in ("same", "change")):
                out[str(i)] = self.entry(slots, depth - 1)
            elif kind == "change":
                out[str(i)] = self.partial({"s": comprehension["s"], **old[str(i)]}, depth)
            elif kind == "move":
                out[str(i)] = source
            elif kind == "move+change":
                out[str(i)] = [
                    source,
                    self.partial({"s": comprehension["s"], **old[str(source)]}, depth),
                ]
        out["kc"] = count
        if any(isinstance(entry, int | list) for key, entry in out.items() if key != "kc"):
            out["km"] = True
        return {"k": out}

    def diff(self, tree: Tree) -> Tree:
        replace_root = not tree or self.draw(st.integers(0, 7)) == 3
        diff = self.node(3) if replace_root else self.partial(tree, 4)
        mode = self.draw(st.sampled_from(["none", "root", "comprehensions"]))
        if mode == "root":
            templates: Tree = {}
            self.templatize(diff, templates, own=True)
            if templates:
                diff["p"] = templates
        elif mode == "comprehensions":
            self.comprehension_templates(diff)
        for key, values in [
            ("t", TEXT),
            ("e", st.lists(st.tuples(TEXT, st.just({})).map(list), max_size=1)),
        ]:
            if self.draw(st.booleans()):
                diff[key] = self.draw(values)
        return diff

    def templatize(self, value: t.Any, templates: Tree, own: bool) -> None:
        """Move some statics under ``value`` into ``templates``."""
        if isinstance(value, list):
            self.templatize(value[1], templates, True)
            return
        if not isinstance(value, dict):
            return
        if own and isinstance(value.get("s"), list) and self.draw(st.booleans()):
            index = next((k for k, v in templates.items() if v == value["s"]), str(len(templates)))
            templates[index] = value["s"]
            value["s"] = int(index)
        for key, item in value.items():
            if key == "k":
                for index, entry in item.items():
                    if index not in ("kc", "km"):
                        self.templatize(entry, templates, True)
            elif key not in ("s", "p"):
                self.templatize(item, templates, True)

    def comprehension_templates(self, value: t.Any) -> None:
        """Give some comprehensions their own ``p``, for their entries (never their own ``s``)."""
        if isinstance(value, list):
            self.comprehension_templates(value[1])
        elif isinstance(value, dict):
            if "k" in value and self.draw(st.booleans()):
                templates: Tree = {}
                self.templatize(value, templates, own=False)
                if templates:
                    value["p"] = templates
                return
            for key, item in value.items():
                if key not in ("s", "p"):
                    self.comprehension_templates(item)


@st.composite
def wire_lives(draw: st.DrawFn) -> list[Tree]:
    """A join and 1 to 5 diffs, each valid for what the client holds at that point."""
    rendered = Rendered()
    messages: list[Tree] = []
    for _ in range(draw(st.integers(2, 6))):
        message = DiffBuilder(draw).diff(rendered.tree)
        messages.append(message)
        rendered.merge(Rendered.extract(copy.deepcopy(message)).diff)
    return messages


def python_html(messages: list[Tree]) -> list[str]:
    rendered, html = Rendered(), []
    for message in messages:
        rendered.merge(Rendered.extract(copy.deepcopy(message)).diff)
        html.append(rendered.html)
    return html


def assert_agrees(client: ReplayClient, messages: list[Tree]) -> None:
    case: replay.Case = {"join": messages[0], "diffs": messages[1:]}
    (result,) = client.replay([case])
    assert result["error"] is None, (
        f"the official client threw: {result['error']}\n{json.dumps(messages)}"
    )
    assert python_html(messages) == result["html"], json.dumps(messages)


@properties.examples(30)
@given(messages=wire_lives())
def test_merge_agrees_with_the_official_client_on_generated_diffs(
    replay_client: ReplayClient,
    messages: list[Tree],
) -> None:
    assert_agrees(replay_client, messages)


# Templates as apps write them, rendered and diffed by the runtime, sent as the channel sends them.

ROW = st.fixed_dictionaries(
    {"id": st.integers(0, 6), "name": TEXT, "tags": st.lists(TEXT, max_size=2)}
)
CONTEXT = st.fixed_dictionaries(
    {
        "a": TEXT | st.integers(-1, 3),
        "f": st.booleans(),
        "rows": st.lists(ROW, max_size=5),
        "words": st.lists(TEXT, max_size=4),
    }
)


@st.composite
def fragments(
    draw: st.DrawFn,
    depth: int,
    names: tuple[str, ...] = ("a", "rows|length"),
    rows: tuple[str, ...] = ("rows",),
) -> str:
    """Text, expressions, if/else and nested loops (keyed rows, words, tags of a row)."""
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["text", "expr"] + ["if", "for"] * (depth > 0)))
        if kind == "text":
            parts.append(
                draw(st.sampled_from(["<li>", "</li>", "<p class='x'>", " & ", "<br>", "-"]))
            )
        elif kind == "expr":
            parts.append("{{ " + draw(st.sampled_from(names)) + " }}")
        elif kind == "if":
            condition = draw(
                st.sampled_from(
                    ["f", "not f", "a", "rows|length > 1", *[f"{n} == 1" for n in names]]
                )
            )
            inner = fragments(depth - 1, names, rows)
            otherwise = "{% else %}" + draw(inner) if draw(st.booleans()) else ""
            parts.append(f"{{% if {condition} %}}{draw(inner)}{otherwise}{{% endif %}}")
        else:
            source = draw(st.sampled_from([*rows, "words"]))
            var = f"v{depth}"
            if source == "words" or source.endswith(".tags"):
                body = fragments(depth - 1, (*names, var), rows)
            else:
                body = fragments(
                    depth - 1, (*names, f"{var}.name", f"{var}.id"), (*rows, f"{var}.tags")
                )
            parts.append(f"{{% for {var} in {source} %}}{draw(body)}{{% endfor %}}")
    return "".join(parts)


@st.composite
def context_sequences(draw: st.DrawFn) -> list[Context]:
    """2 to 6 states: unchanged, unrelated, rows reordered, added, removed, or a value changed."""
    states = [draw(CONTEXT)]
    for _ in range(draw(st.integers(1, 5))):
        state = copy.deepcopy(states[-1])
        op = draw(st.sampled_from(["same", "fresh", "permute", "insert", "delete", "value"]))
        if op == "fresh":
            state = draw(CONTEXT)
        elif op == "permute":
            state["rows"] = draw(st.permutations(state["rows"]))
        elif op == "insert":
            state["rows"].insert(draw(st.integers(0, len(state["rows"]))), draw(ROW))
        elif op == "delete" and state["rows"]:
            del state["rows"][draw(st.integers(0, len(state["rows"]) - 1))]
        elif op == "value":
            key = draw(st.sampled_from(["a", "f", "words"]))
            state[key] = draw(CONTEXT)[key]
        states.append(state)
    return states


@properties.examples(15)
@given(source=fragments(3), contexts=context_sequences())
def test_merge_agrees_with_the_official_client_on_the_runtime_s_diffs(
    replay_client: ReplayClient,
    source: str,
    contexts: list[Context],
) -> None:
    template = LiveEnvironment(loader=DictLoader({"main.html": source})).get_template("main.html")
    trees = [render_template(template, context) for context in contexts]
    diffs = [share_statics(diff_tree(old, new)) for old, new in zip(trees, trees[1:], strict=False)]
    assert_agrees(replay_client, [share_statics(trees[0]), *diffs])
{%- endraw %}
