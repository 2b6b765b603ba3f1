"""Where LiveViews live: URL routing, templates and the signing secret."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.websockets import WebSocket

from .channel import LiveConnection
from .page import render_page
from .session import flash_signer, session_signer
from .template import LiveEnvironment
from .view import LiveView

ViewClass = type[LiveView[t.Any]]


@dataclass(frozen=True)
class LiveMatch:
    """A LiveView route that matched a path, with its converted path parameters."""

    view_class: ViewClass
    path_params: dict[str, t.Any]


class LiveRoutes:
    """The app's LiveViews: gives Starlette its routes and answers the WebSocket.

    ``layout`` is the template wrapping every page; it receives ``title``,
    ``csrf_token`` and ``live_container`` (the view's HTML in its container).
    """

    def __init__(
        self,
        environment: LiveEnvironment,
        secret_key: str,
        layout: str = "layout.html",
        path: str = "/live",
    ) -> None:
        self.environment = environment
        self.signer = session_signer(secret_key)
        self.flash_signer = flash_signer(secret_key)
        self.layout = layout
        self.socket_path = path
        self._views: list[tuple[Route, ViewClass]] = []

    def add(self, path: str, view_class: ViewClass, name: str | None = None) -> None:
        """Serve ``view_class`` at ``path`` (Starlette syntax: ``/items/{id:int}``)."""

        async def endpoint(request: Request) -> Response:
            return await render_page(self, view_class, request)

        route = Route(path, endpoint, methods=["GET"], name=name or view_class.__name__)
        self._views.append((route, view_class))

    def match(self, path: str) -> LiveMatch | None:
        """The LiveView serving ``path``, for joins and live patches."""
        scope = {"type": "http", "path": path, "root_path": "", "method": "GET"}
        for route, view_class in self._views:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return LiveMatch(view_class, child["path_params"])
        return None

    def template(self, view: LiveView[t.Any]) -> jinja2.Template:
        return self.environment.get_template(view.template_name)

    @property
    def routes(self) -> list[BaseRoute]:
        """The page routes plus the WebSocket endpoint the client connects to."""

        async def websocket(websocket: WebSocket) -> None:
            await LiveConnection(websocket, self).run()

        return [
            *(route for route, _ in self._views),
            WebSocketRoute(f"{self.socket_path}/websocket", websocket),
        ]
