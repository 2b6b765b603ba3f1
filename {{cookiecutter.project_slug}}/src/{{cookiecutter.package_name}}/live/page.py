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
from starlette.responses import HTMLResponse, RedirectResponse, Response

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
    root_path = request.scope.get("root_path", "")
    try:
        template = routes.environment.get_template(routes.error_template)
    except TemplateNotFound:
        body = Markup("<h1>{}</h1><p>{}</p>").format(title, message)
    else:
        body = Markup(
            template.render(status=status, title=title, message=message, root_path=root_path)
        )
    return layout_response(routes, request, title, body, status)


def layout_response(
    routes: LiveRoutes, request: Request, title: str | None, content: Markup, status: int = 200
) -> HTMLResponse:
    page = routes.environment.get_template(routes.layout).render(
        title=title,
        csrf_token=csrf_token(request.session),
        live_container=content,
        root_path=request.scope.get("root_path", ""),
    )
    return HTMLResponse(page, status_code=status)


def _phrase(status: int) -> str:
    """``Not Found`` for 404; a status HTTP does not name is just an error."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
