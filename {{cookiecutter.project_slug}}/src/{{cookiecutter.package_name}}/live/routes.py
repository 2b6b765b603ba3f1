"""The app's LiveViews as Starlette routes: pages, and the WebSocket they join over.

This module wires the parts together; routing (``router``), the HTTP render
(``page``) and the channels know nothing of each other beyond what they are
handed here.
"""

from __future__ import annotations

import logging
import typing as t
from urllib.parse import urlsplit

import jinja2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ExceptionHandler
from starlette.websockets import WebSocket

from .config import LiveConfig
from .logs import redact_query_tokens
from .page import http_error, render_page, server_error
from .pubsub import PubSub
from .pubsub.memory import MemoryPubSub
from .router import LiveMatch, LiveRouter, ViewClass
from .session import SessionTokens, Signer, flash_signer
from .shared_renders import SharedRenders
from .template import LiveEnvironment
from .transport import Transport
from .uploads.budget import DiskBudget
from .view import LiveView


class LiveRoutes:
    """The app's LiveViews: gives Starlette its routes and answers the WebSocket.

    ``layout`` is the template wrapping every page; it receives ``title``,
    ``csrf_token``, ``root_path`` and ``live_container`` (the view's HTML in
    its container). ``error_template`` renders an error inside the layout
    with ``status``, ``title`` and ``message``. ``pubsub`` carries
    ``socket.subscribe``/``broadcast`` (in-process memory unless given; the
    app starts and stops it).
    """

    def __init__(
        self,
        environment: LiveEnvironment,
        secret_key: str,
        layout: str = "layout.html",
        path: str = "/live",
        *,
        error_template: str = "error.html",
        config: LiveConfig | None = None,
        pubsub: PubSub | None = None,
    ) -> None:
        self.environment = environment
        self.config = config or LiveConfig()
        self.pubsub = pubsub or MemoryPubSub()  # what socket.subscribe/broadcast use
        self.tokens = SessionTokens(secret_key, self.config.session_max_age)
        self.flash_signer = flash_signer(secret_key)
        self.upload_tokens = Signer(secret_key, "live-upload", self.config.upload_token_max_age)
        # What every socket's uploads together may hold on disk (each socket's draws on it).
        self.upload_budget = DiskBudget(self.config.upload_max_bytes, "server_full")
        # Renders the views a broadcast reaches share, when they render the same.
        self.shared_renders = SharedRenders()
        self.layout = layout
        self.error_template = error_template
        self.socket_path = path
        self.router = LiveRouter()
        # The official client puts the CSRF token in the socket's URL: keep it out of access logs.
        for name in ("uvicorn.access", "uvicorn.error"):
            logging.getLogger(name).addFilter(redact_query_tokens)

    def add(self, path: str, view_class: ViewClass, name: str | None = None) -> None:
        """Serve ``view_class`` at ``path`` (Starlette syntax: ``/items/{id:int}``)."""

        async def endpoint(request: Request) -> Response:
            return await render_page(self, view_class, request)

        route = Route(path, endpoint, methods=["GET"], name=name or view_class.__name__)
        self.router.add(route, view_class)

    def match(self, path: str, root_path: str = "") -> LiveMatch | None:
        """The LiveView serving ``path``, for joins and live patches."""
        return self.router.match(path, root_path)

    def template(self, view: LiveView[t.Any]) -> jinja2.Template:
        return self.environment.get_template(view.template_name)

    @staticmethod
    def navigation_url(to: str, root_path: str) -> str:
        """Where the browser goes for a view's navigation: app paths get the app's prefix."""
        parts = urlsplit(to)
        if parts.scheme or parts.netloc or not to.startswith("/"):
            return to
        return root_path + to

    @property
    def exception_handlers(self) -> dict[t.Any, ExceptionHandler]:
        """Error pages in the app's layout, for ``Starlette(exception_handlers=...)``.

        Any ``HTTPException`` (an unknown URL's 404, a 405) gets its status page;
        an unhandled exception a 500 page, unless the app runs in debug mode,
        where Starlette shows the traceback instead.
        """

        async def on_http_error(request: Request, error: Exception) -> Response:
            assert isinstance(error, HTTPException)
            return await http_error(self, request, error)

        async def on_server_error(request: Request, error: Exception) -> Response:
            return await server_error(self, request, error)

        return {HTTPException: on_http_error, 500: on_server_error}

    @property
    def routes(self) -> list[BaseRoute]:
        """The page routes plus the WebSocket endpoint the client connects to."""

        async def websocket(websocket: WebSocket) -> None:
            await Transport(websocket, self).run()

        return [
            *(route for route, _ in self.router.routes),
            WebSocketRoute(f"{self.socket_path}/websocket", websocket),
        ]
