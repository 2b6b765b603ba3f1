"""The HTTP render: mount, handle_params and the full page with its container."""

from __future__ import annotations

import logging
import secrets
import typing as t
from http import HTTPStatus
from urllib.parse import urlparse

from jinja2 import TemplateNotFound
from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount

from .binding import BindingError
from .lifecycle import mount_view
from .logs import clip
from .router import view_id
from .session import (
    FLASH_COOKIE,
    FLASH_MAX_AGE,
    LiveSession,
    browser_digest,
    csrf_token,
    user_session,
)
from .socket import LiveViewSocket

if t.TYPE_CHECKING:
    from .router import ViewClass
    from .routes import LiveRoutes

logger = logging.getLogger(__name__)
BODILESS = frozenset({204, 304})  # statuses without a page
# What an error page says when the exception gave no words of its own.
MESSAGES = {
    404: "There is no page at this address.",
    405: "This address does not answer that kind of request.",
    500: "Something went wrong on our side. Try again in a moment.",
}


async def render_page(routes: LiveRoutes, view_class: ViewClass, request: Request) -> Response:
    """Render ``view_class`` for a GET request, as Phoenix's dead render does.

    A navigation requested during the HTTP render becomes a 302; parameters
    that do not convert give a 400 page in the app's layout, and an
    ``HTTPException`` (a record that does not exist: 404) its own status.
    """
    session = user_session(request.session)
    csrf_token(request.session)  # created now: the session token is bound to it
    socket: LiveViewSocket[t.Any] = LiveViewSocket(urlparse(str(request.url)), routes.pubsub)
    socket.state = request.state
    socket.root_path = request.scope.get("root_path", "")
    socket.flash.update(routes.flash_signer.loads(request.cookies.get(FLASH_COOKIE)) or {})
    view = view_class()
    try:
        await mount_view(view, socket, session, dict(request.path_params))
    except BindingError as error:
        logger.info("bad parameters for %s: %s", clip(request.url.path), error)
        return error_page(routes, request, 400, "Bad request", str(error))
    except HTTPException as error:
        status = error.status_code
        return error_page(routes, request, status, _phrase(status), error.detail)
    if socket.navigation is not None:
        target = routes.navigation_url(socket.navigation.to, request.scope.get("root_path", ""))
        redirect = RedirectResponse(target, status_code=302)
        if socket.flash:
            redirect.set_cookie(
                FLASH_COOKIE, routes.flash_signer.dumps(socket.flash), max_age=FLASH_MAX_AGE
            )
        return redirect
    components = socket.components
    tree = await components.render(
        routes.environment, routes.template(view), view.template_context(socket)
    )
    html = components.html(tree)
    container_id = "phx-" + secrets.token_urlsafe(12)
    # The connected mount gets the session and the flash this render showed,
    # and only on this container, for this view, in this browser session.
    token = routes.tokens.issue(
        LiveSession(
            container_id,
            view_id(view_class),
            browser_digest(request.session),
            session,
            socket.flash,
        )
    )
    container = Markup(
        '<div id="{id}" data-phx-main data-phx-session="{session}" data-phx-static="">'
        "{html}</div>"
    ).format(id=container_id, session=token, html=Markup(html))
    response = layout_response(routes, request, socket.live_title, container)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE)  # shown once
    return response


def error_page(
    routes: LiveRoutes, request: Request, status: int, title: str, message: str
) -> Response:
    """An error, in the app's layout, so the person sees what went wrong."""
    root_path = app_root_path(request)
    try:
        template = routes.environment.get_template(routes.error_template)
    except TemplateNotFound:
        body = Markup("<h1>{}</h1><p>{}</p>").format(title, message)
    else:
        body = Markup(
            template.render(status=status, title=title, message=message, root_path=root_path)
        )
    return layout_response(routes, request, title, body, status)


async def http_error(routes: LiveRoutes, request: Request, error: HTTPException) -> Response:
    """Starlette's ``HTTPException`` (a URL no route matches: 404) as the app's error page."""
    status = error.status_code
    if status in BODILESS:
        return Response(status_code=status, headers=error.headers)
    phrase = _phrase(status)
    # Starlette's own raise the bare phrase: the page says it in words.
    message = MESSAGES.get(status, "") if error.detail == phrase else error.detail
    response = error_page(routes, request, status, phrase, message)
    response.headers.update(error.headers or {})  # 405's Allow
    return response


async def server_error(routes: LiveRoutes, request: Request, error: Exception) -> Response:
    """An exception nothing handled, outside debug mode: a 500 page without the traceback.

    Starlette hands the exception on to the server, which logs its traceback.
    This runs outside every middleware (an error there leaves no session), and
    if the error page itself fails, the answer is a plain 500.
    """
    try:
        return error_page(routes, request, 500, _phrase(500), MESSAGES[500])
    except Exception:
        logger.exception("the 500 page could not be rendered")
        return PlainTextResponse(_phrase(500), status_code=500)


def layout_response(
    routes: LiveRoutes, request: Request, title: str | None, content: Markup, status: int = 200
) -> HTMLResponse:
    # An error page may be rendered outside the session middleware (a 500).
    has_session = "session" in request.scope
    page = routes.environment.get_template(routes.layout).render(
        title=title,
        csrf_token=csrf_token(request.session) if has_session else "",
        live_container=content,
        root_path=app_root_path(request),
    )
    return HTMLResponse(page, status_code=status)


def app_root_path(request: Request) -> str:
    """The app's path prefix. A request the app routed into one of its ``Mount``s (a
    missing static file) has the mount's path added to its ``root_path``: it goes."""
    root_path = str(request.scope.get("root_path", ""))
    endpoint = request.scope.get("endpoint")
    for route in getattr(request.scope.get("app"), "routes", ()):
        if isinstance(route, Mount) and route.app is endpoint:
            return root_path.removesuffix(route.path)
    return root_path


def _phrase(status: int) -> str:
    """``Not Found`` for 404; a status HTTP does not name is just an error."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
