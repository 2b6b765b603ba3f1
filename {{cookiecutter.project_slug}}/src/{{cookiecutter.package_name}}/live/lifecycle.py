"""Calling a view's typed callbacks: what each reserved name injects."""

from __future__ import annotations

import collections.abc
import inspect
import typing as t
from urllib.parse import ParseResult

from .binding import bind, convert
from .params import Params, decode_event_value, legacy_payload, url_values

if t.TYPE_CHECKING:  # socket.py imports component.py, which imports this module
    from .component import ComponentSocket, LiveComponent
    from .socket import LiveViewSocket
    from .view import LiveView

_RAW: tuple[t.Any, ...] = (inspect.Parameter.empty, t.Any)
"""Annotations (none, or ``Any``) that ask for ``params`` or ``payload`` as the client sent it."""


async def mount_view(
    view: LiveView[t.Any],
    socket: LiveViewSocket[t.Any],
    session: dict[str, t.Any],
    path_params: dict[str, t.Any],
) -> None:
    """``mount``, then ``handle_params`` unless ``mount`` already navigated away."""
    socket.components.liveview = view
    await view.mount(socket, session)
    if socket.navigation is None:
        await call_handle_params(view, socket, path_params)


async def call_handle_params(
    view: LiveView[t.Any], socket: LiveViewSocket[t.Any], path_params: dict[str, t.Any]
) -> None:
    """``handle_params`` with URL and path parameters bound to its signature."""
    url: ParseResult = socket.url
    values = url_values(url.query, path_params)
    inject = {
        "socket": lambda _: socket,
        "url": lambda _: url,
        "params": lambda annotation: _params_as(annotation, values),
    }
    await view.handle_params(**bind(view.handle_params, values, inject))


async def call_handle_event(
    view: LiveView[t.Any] | LiveComponent[t.Any],
    socket: LiveViewSocket[t.Any] | ComponentSocket[t.Any],
    event: str,
    payload: dict[str, t.Any],
) -> dict[str, t.Any] | None:
    """``handle_event`` (a view's or a component's) with the event's values bound to its
    signature; returns its reply.

    A dict it returns is the event's reply (Phoenix's ``{:reply, map, socket}``):
    a hook's ``pushEvent`` callback receives it. An unannotated ``payload``
    (the legacy ``(event, payload, socket)`` form) is ``legacy_payload``; an
    annotated one is the decoded values converted to its annotation
    (``dict[str, Any]``: as decoded).
    """
    values = decode_event_value(payload)
    inject = {
        "socket": lambda _: socket,
        "event": lambda _: event,
        "payload": lambda annotation: (
            legacy_payload(payload)
            if annotation in _RAW
            else convert(values, annotation, "payload")
        ),
    }
    reply = await view.handle_event(**bind(view.handle_event, values, inject))
    if reply is None or isinstance(reply, dict):
        return reply
    raise TypeError(f"handle_event({event!r}) returned {type(reply).__name__}: a reply is a dict")


def _params_as(annotation: t.Any, values: dict[str, t.Any]) -> t.Any:
    """The ``params`` injectable in the form its annotation asks for.

    Unannotated: the raw values (``url_values``: query names to lists of
    strings, path parameters as single values). ``Params``: those values
    wrapped. ``dict`` or ``dict[str, Any]``: flat, one value as itself and
    several as a list. ``dict[str, T]``: flat, each converted to ``T``.
    """
    if annotation in _RAW:
        return dict(values)
    if annotation is Params:
        return Params(values)
    if (t.get_origin(annotation) or annotation) in (dict, collections.abc.Mapping):
        _, value_type = t.get_args(annotation) or (str, t.Any)
        return {name: convert(value, value_type, name) for name, value in values.items()}
    raise TypeError(
        f"'params' is annotated {annotation!r}: use Params, dict[str, T], or no annotation"
    )
