"""A board of counters, each a LiveComponent: the view the component tests drive.

``Board`` renders a ``Counter`` per id in ``counters``, and an ``extra`` one
it can hide and show again (``toggle``). A counter counts (``inc``), tells
the board its count (``tell``, by ``send_parent``), and the board renames
counter ``a`` from ``handle_info`` (``later``, by ``send_update``); it does not handle ``nope``.
``Asking`` shows an ``Asker``, whose ``handle_event`` replies to a hook's ``pushEventTo``.
"""

from __future__ import annotations

import typing as t

from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from {{ cookiecutter.package_name }}.live import (
    ComponentSocket,
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveComponent,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
    Stream,
    UnhandledEvent,
)
{%- raw %}

SECRET = "secret"
TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>{{ live_container }}",
    "board.html": "<div id='board'><p id='total'>{{ total }}</p>"
    "{% for name in counters %}{{ live_component(Counter, id=name, label=name) }}{% endfor %}"
    "{% if extra %}{{ live_component(Counter, id='extra', label='extra') }}{% endif %}"
    "<button id='toggle' phx-click='toggle'>toggle</button>"
    "<button id='push-a' phx-click='[[\"push\",{\"event\":\"inc\",\"target\":\"#counter-a\"}]]'>"
    "a+</button>"
    "<button id='nope' phx-click='nope'>nope</button></div>",  # an event the board refuses
    "counter.html": "<div id='counter-{{ label }}'><span class='label'>{{ label }}</span>"
    "<b>{{ count }}</b><button class='inc' phx-click='inc' phx-target='{{ myself }}'>+</button>"
    "<button class='tell' phx-click='tell' phx-target='#counter-{{ label }}'>tell</button>"
    "</div>",
    # Components a re-render of the view does not reach: inside a component, in stream rows.
    "nested.html": "<div id='nested'><p>{{ total }}</p>{{ live_component(Outer, id='o') }}</div>",
    "outer.html": "<section>{{ live_component(Counter, id='inner', label='inner') }}</section>",
    "rows.html": "<div id='rows'><p>{{ total }}</p><ul id='list' phx-update='stream'>"
    "{% for dom_id, row in rows %}<li id='{{ dom_id }}'>"
    "{{ live_component(Counter, id=row.id, label=row.id) }}</li>{% endfor %}</ul></div>",
    "asking.html": "<div>{{ live_component(Asker, id='a') }}</div>",
    "asker.html": "<p id='asker' phx-hook='Ask'>asking</p>",
    "macro.html": "{% macro box() %}{{ live_component(Counter, id='m', label='m') }}{% endmacro %}"
    "<div>{{ box() }}</div>",  # a macro's output is a string: no place for a component
    "twice.html": "<div>{% for _ in range(2) %}{{ live_component(Counter, id='a', label='a') }}"
    "{% endfor %}</div>",
    # Counters beside outer.html's (which a render that leaves outer as it was does not reach).
    "beside_outer.html": "<div>{{ live_component(Outer, id='o') }}{% for name in names %}"
    "{{ live_component(Counter, id=name, label=name) }}{% endfor %}</div>",
    # The counter of outer.html, rendered by the view as well: a duplicate too.
    "beside.html": "<div>{{ live_component(Outer, id='o') }}"
    "{{ live_component(Counter, id='inner', label='inner') }}</div>",
}


class Counter(LiveComponent[dict[str, t.Any]]):
    template_name = "counter.html"

    async def mount(
        self, socket: ComponentSocket[dict[str, t.Any]], assigns: dict[str, t.Any]
    ) -> None:
        socket.context = {"count": 0}

    async def update(
        self, socket: ComponentSocket[dict[str, t.Any]], assigns: dict[str, t.Any]
    ) -> None:
        socket.context["label"] = assigns["label"]

    async def handle_event(
        self, event: str, socket: ComponentSocket[dict[str, t.Any]], by: int = 1
    ) -> None:
        if event == "inc":
            socket.context["count"] += by
        elif event == "tell":
            await socket.send_parent("told", {"count": socket.context["count"]})


class Board(LiveView[dict[str, t.Any]]):
    template_name = "board.html"
    sockets: t.ClassVar[list[LiveViewSocket[t.Any]]] = []  # connected ones, for the tests
    renders: t.ClassVar[int] = 0  # of its template, by every board

    def template_context(self, socket: LiveViewSocket[dict[str, t.Any]]) -> dict[str, t.Any]:
        Board.renders += 1
        return super().template_context(socket)

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        socket.context = {"counters": ["a", "b"], "extra": True, "total": 0}
        if socket.connected:
            self.sockets.append(socket)

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[dict[str, t.Any]], count: int = 0
    ) -> None:
        if event == "told":
            socket.context["total"] = count
        elif event == "toggle":
            socket.context["extra"] = not socket.context["extra"]
        elif event == "later":
            socket.schedule_info_once(InfoEvent("rename"), 0)
        elif event == "nope":
            raise UnhandledEvent(event)

    async def handle_info(
        self, event: InfoEvent, socket: ConnectedLiveViewSocket[dict[str, t.Any]]
    ) -> None:
        socket.send_update(Counter, "a", label="A!")


class Asker(LiveComponent[dict[str, t.Any]]):
    template_name = "asker.html"

    async def handle_event(self, event: str, question: str = "") -> dict[str, t.Any]:
        return {"answer": f"{event} {question}!"}  # the reply: the diff's "r"


class Asking(LiveView[dict[str, t.Any]]):
    template_name = "asking.html"


class Outer(LiveComponent[dict[str, t.Any]]):
    template_name = "outer.html"


class Unreached(LiveView[dict[str, t.Any]]):
    """Counters its re-renders do not render again: in a component (``/nested``) or in the
    rows of a stream (``/rows``); ``bump`` re-renders the view."""

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        socket.context = {"total": 0, "rows": Stream([{"id": "a"}, {"id": "b"}], name="rows")}

    async def handle_event(self, event: str, socket: LiveViewSocket[dict[str, t.Any]]) -> None:
        socket.context["total"] += 1


class Nested(Unreached):
    template_name = "nested.html"


class Rows(Unreached):
    template_name = "rows.html"


def environment() -> LiveEnvironment:
    environment = LiveEnvironment(loader=DictLoader(TEMPLATES))
    environment.globals.update(Counter=Counter, Outer=Outer, Asker=Asker)
    return environment


def create_app() -> Starlette:
    routes = LiveRoutes(environment(), SECRET)
    routes.add("/board", Board)
    routes.add("/asking", Asking)
    routes.add("/nested", Nested)
    routes.add("/rows", Rows)
    return Starlette(
        routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key=SECRET)]
    )
{%- endraw %}
