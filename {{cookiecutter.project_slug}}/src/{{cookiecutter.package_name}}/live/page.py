"""The HTTP render: mount, handle_params and the full page with its container."""

from __future__ import annotations

import logging
import secrets
import typing as t
from urllib.parse import urlparse

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from .binding import BindingError
from .lifecycle import mount_view
from .session import FLASH_COOKIE, csrf_token, user_session
from .socket import LiveViewSocket

if t.TYPE_CHECKING:
    from .routes import LiveRoutes, ViewClass

logger = logging.getLogger(__name__)


async def render_page(routes: LiveRoutes, view_class: ViewClass, request: Request) -> Response:
    """Render ``view_class`` for a GET request, as Phoenix's dead render does.

    A navigation requested during the HTTP render becomes a 302; parameters
    that do not convert give a 400.
    """
    session = user_session(request.session)
    socket: LiveViewSocket[t.Any] = LiveViewSocket(urlparse(str(request.url)))
    socket.flash.update(routes.flash_signer.loads(request.cookies.get(FLASH_COOKIE)) or {})
    view = view_class()
    try:
        await mount_view(view, socket, session, dict(request.path_params))
    except BindingError as error:
        logger.info("bad parameters for %s: %s", request.url.path, error)
        return PlainTextResponse(f"Bad request: {error}", status_code=400)
    if socket.navigation is not None:
        redirect = RedirectResponse(socket.navigation.to, status_code=302)
        if socket.flash:
            redirect.set_cookie(FLASH_COOKIE, routes.flash_signer.dumps(socket.flash), max_age=60)
        return redirect
    html = routes.template(view).render(view.template_context(socket))
    # The connected mount gets the session, and the flash this render showed.
    session_token = routes.signer.dumps({"session": session, "flash": socket.flash})
    container = Markup(
        '<div id="phx-{id}" data-phx-main data-phx-session="{session}" data-phx-static="">'
        "{html}</div>"
    ).format(id=secrets.token_urlsafe(12), session=session_token, html=Markup(html))
    page = routes.environment.get_template(routes.layout).render(
        title=socket.live_title, csrf_token=csrf_token(request.session), live_container=container
    )
    response = HTMLResponse(page)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE)  # shown once
    return response
