"""The LiveView base class: the lifecycle callbacks an app overrides."""

from __future__ import annotations

import typing as t

from .async_result import AsyncResult
from .binding import BindingError
from .socket import ConnectedLiveViewSocket, Context, InfoEvent, LiveViewSocket
from .template import context_variables


class UnhandledEvent(LookupError):
    """Raised by the default ``handle_event``: the view does not handle this event."""


class LiveView(t.Generic[Context]):
    """Subclass, set ``template_name``, and override the callbacks you need.

    ``handle_params`` and ``handle_event`` are called with arguments bound
    from their signatures (see ``binding``), so each view declares exactly
    the typed parameters it wants.
    """

    template_name: t.ClassVar[str]

    async def mount(self, socket: LiveViewSocket[Context], session: dict[str, t.Any]) -> None:
        """Set up ``socket.context``; called for the HTTP render and again once connected."""

    # handle_params and handle_event take whatever typed parameters a view
    # declares, so the base accepts anything and subclasses narrow it.

    async def handle_params(self, *args: t.Any, **kwargs: t.Any) -> None:
        """React to the URL: after ``mount``, and on every live patch."""

    async def handle_event(self, *args: t.Any, **kwargs: t.Any) -> dict[str, t.Any] | None:
        """React to a browser event (``phx-click``, ``phx-change``, ``phx-submit``, keys, hooks).

        A dict returned is the event's reply: a hook's ``pushEvent`` callback gets it.
        """
        raise UnhandledEvent()

    async def handle_binding_error(
        self, socket: ConnectedLiveViewSocket[Context], event: str, error: BindingError
    ) -> None:
        """An event's values did not convert to ``handle_event``'s types.

        The default shows ``str(error)`` (it names the field) as the ``error``
        flash, so the person at the browser sees what was wrong and the form
        is usable again. Override it to show errors next to their fields.
        """
        socket.put_flash("error", str(error))

    async def handle_info(self, event: InfoEvent, socket: ConnectedLiveViewSocket[Context]) -> None:
        """React to a scheduled or published message."""

    async def handle_async(
        self, name: str, result: AsyncResult[t.Any], socket: ConnectedLiveViewSocket[Context]
    ) -> None:
        """``socket.start_async(name, work)`` ended: ``result.ok`` and ``result.result``, or
        ``result.failed`` (the exception; the view goes on)."""

    async def disconnect(self, socket: ConnectedLiveViewSocket[Context]) -> None:
        """Custom cleanup when the connection closes or the view is left."""

    def template_context(self, socket: LiveViewSocket[Context]) -> dict[str, t.Any]:
        """Template variables: the context's keys (or dataclass fields), ``context``, ``flash``,
        ``root_path`` (for links: ``href="{{ root_path }}/items"``) and ``uploads``."""
        context = socket.context
        variables = context_variables(context)
        variables.setdefault("context", context)
        variables.setdefault("flash", socket.flash)
        variables.setdefault("root_path", socket.root_path)
        variables.setdefault("uploads", socket.uploads)
        return variables
