"""Serve the app: ``python -m {{ cookiecutter.package_name }}`` (``make run``, the Docker image).

Host and port come from the settings (``.env``; the environment wins). The
server refuses oversized input before the app sees it: uvicorn's default
httptools parser buffers a request line and headers of any size, so this runs
h11, which answers 400 and closes the connection once a request's head passes
``MAX_REQUEST_HEAD_BYTES``. A WebSocket message over
``MAX_WEBSOCKET_MESSAGE_BYTES`` closes that socket with 1009 (message too big).
"""

from typing import Any

import uvicorn

from .app import create_app
from .settings import Settings, SettingsError, get_settings

# A request line plus headers; browsers send a few KiB, cookies included.
MAX_REQUEST_HEAD_BYTES = 64 * 1024
# One WebSocket message; LiveView's largest are upload chunks of 64,000 bytes.
MAX_WEBSOCKET_MESSAGE_BYTES = 1024 * 1024


def server_config(settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The server for ``settings``, limits included; ``overrides`` replace uvicorn options."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": "h11",
        "h11_max_incomplete_event_size": MAX_REQUEST_HEAD_BYTES,
        "ws_max_size": MAX_WEBSOCKET_MESSAGE_BYTES,
        **overrides,
    }
    return uvicorn.Config(create_app(settings), **options)


def main() -> None:
    """Serve until interrupted; a settings mistake is one line, not a traceback."""
    try:
        settings = get_settings()
    except SettingsError as error:
        raise SystemExit(f"error: {error}") from None
    uvicorn.Server(server_config(settings)).run()


if __name__ == "__main__":
    main()
