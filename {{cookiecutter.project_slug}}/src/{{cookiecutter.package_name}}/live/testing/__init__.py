"""Test LiveViews the way a browser uses them: Python's ``Phoenix.LiveViewTest``.

``live(app, "/path")`` does what the browser does, in-process and without a
server: the HTTP render (status checked, dead HTML kept), then a join over
the app's own WebSocket endpoint with the tokens and params the official
client sends. It keeps the rendered tree and merges every reply and push with
the official client's rules (``Rendered``, ported from its ``rendered.js``),
so ``view.html()`` is what the browser would show. Tests act only through the
protocol -- clicks, forms, keys, patches -- never through the view's
internals, so a passing test means the browser would behave the same::

    from myapp.app import create_app
    from myapp.live.testing import live

    async def test_increment(app) -> None:
        async with live(app, "/counter?count=1") as view:
            await view.click("#increment")
            assert view.text("#count") == "2"

Actions return ``None``, or a ``Redirect`` when the view navigated away
(``push_navigate``, ``redirect``, a navigate link); ``follow_redirect()``
then loads the next view. Needs the dev extras ``httpx`` and ``selectolax``;
the app never imports this package.

Modules: ``view`` (``live``, ``LiveViewTest``), ``page`` (the HTTP render),
``channel`` and ``asgi`` (the wire, in-process), ``dom`` and ``forms`` (the
HTML as a browser reads and fills it), ``rendered`` (the merge), ``errors``,
``timeouts`` (``scaled``: every wait bound, times ``TEST_TIMEOUT_SCALE``).
"""

from __future__ import annotations

import typing as t

from .asgi import run_lifespan
from .errors import DiffError, HTTPError, LiveTestError, ServerError
from .rendered import Rendered
from .timeouts import scaled
from .uploads import FileInput, UploadFile

if t.TYPE_CHECKING:
    from .view import LiveViewTest, PushedEvent, Redirect, live

__all__ = [
    "DiffError",
    "FileInput",
    "HTTPError",
    "LiveTestError",
    "LiveViewTest",
    "PushedEvent",
    "Redirect",
    "Rendered",
    "ServerError",
    "UploadFile",
    "live",
    "run_lifespan",
    "scaled",
]

_VIEW_NAMES = ("LiveViewTest", "PushedEvent", "Redirect", "live")


def __getattr__(name: str) -> t.Any:
    """Import ``view`` on first use: the bench loads ``rendered`` without httpx and selectolax."""
    if name in _VIEW_NAMES:
        from . import view

        return getattr(view, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
