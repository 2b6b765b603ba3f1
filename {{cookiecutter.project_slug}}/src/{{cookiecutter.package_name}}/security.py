"""What the app does so a browser cannot be turned against its users or its files.

Security headers go on every HTTP response. The Content-Security-Policy
allows this site's own scripts, styles, images and sockets only, which is all
the official LiveView client needs: it connects its WebSocket back to the same
host (``'self'`` covers ``ws:``/``wss:`` there) and sets styles through
``element.style``, which CSP allows. Templates therefore cannot use inline
``<script>``, ``style="…"`` or ``on…=`` handlers; put them in ``static/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import PurePath

from starlette.datastructures import MutableHeaders, QueryParams
from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import media

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # data: the layout's empty favicon; blob: previews of images chosen for upload.
        "img-src 'self' data: blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
PRIVATE_SUFFIXES = frozenset({".py", ".pyc"})


class SecurityHeadersMiddleware:
    """Add ``headers`` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = dict(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class PublicFiles(StaticFiles):
    """Static files that never include dotfiles (``.env``, ``.git/``) or Python files.

    Starlette already refuses paths that leave the folder, symlinks included;
    this also keeps a secret copied into the folder by mistake from being served.
    """

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        name = PurePath(path)
        hidden = any(part.startswith(".") for part in name.parts)
        if hidden or name.suffix.lower() in PRIVATE_SUFFIXES:
            return "", None
        return super().lookup_path(path)


class UploadedFiles(PublicFiles):
    """Files people uploaded: served, but never run as a page of this site.

    Whatever a file turns out to be, it gets a sandboxing CSP (no script, an
    origin of its own), and anything but an image is a download. ``?name=``
    (the contact page's links add the uploaded name) is the name to save it
    under, cleaned by ``media.download_name``: it keeps the stored extension.
    """

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
        image = response.headers.get("content-type", "").startswith("image/")
        asked = QueryParams(scope.get("query_string", b"")).get("name", "")
        name = media.download_name(asked, PurePath(full_path).suffix)
        disposition = media.content_disposition("inline" if image else "attachment", name)
        if disposition != "inline":  # inline, nameless: the default
            response.headers["Content-Disposition"] = disposition
        return response
