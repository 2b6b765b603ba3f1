"""Calling a view's typed callbacks: what each reserved name injects."""

from __future__ import annotations

import inspect
import typing as t
from urllib.parse import ParseResult

from .binding import bind
from .params import Params, decode_event_value, legacy_payload
from .socket import LiveViewSocket
from .view import LiveView


async def mount_view(
    view: LiveView[t.Any],
    socket: LiveViewSocket[t.Any],
    session: dict[str, t.Any],
    path_params: dict[str, t.Any],
) -> None:
    """``mount``, then ``handle_params`` unless ``mount`` already navigated away."""
    await view.mount(socket, session)
    if socket.navigation is None:
        await call_handle_params(view, socket, path_params)


async def call_handle_params(
    view: LiveView[t.Any], socket: LiveViewSocket[t.Any], path_params: dict[str, t.Any]
) -> None:
    """``handle_params`` with URL and path parameters bound to its signature."""
    url: ParseResult = socket.url
    params = Params.from_query(url.query)
    values: dict[str, t.Any] = {**params, **path_params}
    inject = {
        "socket": lambda _: socket,
        "url": lambda _: url,
        "params": lambda annotation: _params_as(annotation, params),
    }
    await view.handle_params(**bind(view.handle_params, values, inject))


async def call_handle_event(
    view: LiveView[t.Any], socket: LiveViewSocket[t.Any], event: str, payload: dict[str, t.Any]
) -> None:
    """``handle_event`` with the event's values bound to its signature.

    ``payload`` is the decoded value dict, or names → lists of strings when it
    is unannotated or annotated so (the legacy ``(event, payload, socket)`` form).
    """
    values = decode_event_value(payload)
    inject = {
        "socket": lambda _: socket,
        "event": lambda _: event,
        "payload": lambda annotation: (
            legacy_payload(payload) if _wants_lists(annotation) else values
        ),
    }
    await view.handle_event(**bind(view.handle_event, values, inject))


def _params_as(annotation: t.Any, params: Params) -> t.Any:
    if annotation == dict[str, str]:
        return {name: values[0] for name, values in params.items() if values}
    return params


def _wants_lists(annotation: t.Any) -> bool:
    return annotation in (_UNANNOTATED, dict[str, list[str]], Params)


_UNANNOTATED: t.Any = inspect.Parameter.empty
