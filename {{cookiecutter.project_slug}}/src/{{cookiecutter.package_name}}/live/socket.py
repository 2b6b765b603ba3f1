"""The socket a LiveView sees: its state, its title, and navigation requests."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from urllib.parse import ParseResult, urlencode

Context = t.TypeVar("Context")


@dataclass(frozen=True)
class Navigation:
    """A navigation a handler asked for; the runtime carries it out afterwards.

    ``kind`` is ``"patch"`` (same view, new params), ``"navigate"`` (another
    LiveView over the same connection) or ``"redirect"`` (a full page load).
    """

    kind: t.Literal["patch", "navigate", "redirect"]
    to: str
    replace: bool = False


class LiveViewSocket(t.Generic[Context]):
    """The socket of the HTTP render: state only, nothing is pushed."""

    connected: t.ClassVar[bool] = False

    def __init__(self, url: ParseResult) -> None:
        self.context: Context = t.cast(Context, None)
        self.live_title: str | None = None
        self.url = url
        self.navigation: Navigation | None = None
        self.pushed_events: list[list[t.Any]] = []
        self.flash: dict[str, str] = {}

    async def push_patch(
        self, path: str, params: t.Mapping[str, t.Any] | None = None, *, replace: bool = False
    ) -> None:
        """Change the URL of this view: ``handle_params`` runs again, ``mount`` does not."""
        self.navigation = Navigation("patch", _with_query(path, params), replace)

    async def push_navigate(
        self, path: str, params: t.Mapping[str, t.Any] | None = None, *, replace: bool = False
    ) -> None:
        """Go to another LiveView without a page load (a new ``mount``)."""
        self.navigation = Navigation("navigate", _with_query(path, params), replace)

    async def redirect(self, path: str, params: t.Mapping[str, t.Any] | None = None) -> None:
        """Leave the LiveView with a full page load (e.g. to a non-live route)."""
        self.navigation = Navigation("redirect", _with_query(path, params))

    def put_flash(self, kind: str, message: str) -> None:
        """Show ``message`` as the ``kind`` flash (``flash`` in templates); survives navigation."""
        self.flash[kind] = message

    def clear_flash(self, kind: str | None = None) -> None:
        """Remove one flash, or all (the browser's ``phx-click="lv:clear-flash"`` does this)."""
        if kind is None:
            self.flash.clear()
        else:
            self.flash.pop(kind, None)

    def push_event(self, event: str, payload: t.Any = None) -> None:
        """Send ``phx:<event>`` to the browser (window event and hooks' ``handleEvent``)."""
        self.pushed_events.append([event, {} if payload is None else payload])


class ConnectedLiveViewSocket(LiveViewSocket[Context]):
    """The socket of a joined LiveView, live over the WebSocket."""

    connected: t.ClassVar[bool] = True


def is_connected(socket: LiveViewSocket[t.Any]) -> bool:
    """True once the browser has joined over the WebSocket (not during the HTTP render)."""
    return socket.connected


def _with_query(path: str, params: t.Mapping[str, t.Any] | None) -> str:
    if not params:
        return path
    separator = "&" if "?" in path else "?"
    return path + separator + urlencode(params, doseq=True)
