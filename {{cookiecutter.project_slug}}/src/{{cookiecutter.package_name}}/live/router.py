"""Which LiveView serves a URL: matching paths, under the app's ``root_path`` too.

Views are matched by app paths (``/counter``). Behind a prefix (a Starlette
``Mount`` or uvicorn's ``--root-path``) the browser sees ``/prefix/counter``;
the prefix is stripped before matching and added back to every navigation the
server sends, so views never need to know where the app is mounted.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from urllib.parse import unquote

from starlette.routing import Match, Route

from .view import LiveView

ViewClass = type[LiveView[t.Any]]


@dataclass(frozen=True)
class LiveMatch:
    """A LiveView route that matched a path, with its converted path parameters."""

    view_class: ViewClass
    path_params: dict[str, t.Any]


def view_id(view_class: ViewClass) -> str:
    """A stable name of a view class, for tokens bound to it."""
    return f"{view_class.__module__}.{view_class.__qualname__}"


def app_path(path: str, root_path: str) -> str | None:
    """``path`` without the ``root_path`` prefix; None when it lies outside the app."""
    if not root_path:
        return path
    if path == root_path:
        return "/"
    if path.startswith(root_path + "/"):
        return path[len(root_path) :]
    return None


class LiveRouter:
    """The app's LiveView routes, in the order they were added."""

    def __init__(self) -> None:
        self.routes: list[tuple[Route, ViewClass]] = []

    def add(self, route: Route, view_class: ViewClass) -> None:
        self.routes.append((route, view_class))

    def match(self, path: str, root_path: str = "") -> LiveMatch | None:
        """The view serving ``path`` (as the browser sees it, prefix included)."""
        local = app_path(unquote(path), root_path)  # as the ASGI scope's path is
        if local is None:
            return None
        scope = {"type": "http", "path": local, "root_path": "", "method": "GET"}
        for route, view_class in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return LiveMatch(view_class, child["path_params"])
        return None
