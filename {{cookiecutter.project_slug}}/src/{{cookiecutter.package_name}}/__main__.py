"""Serve the app: ``python -m {{ cookiecutter.package_name }}`` (``make run``, the Docker image).

Host and port come from the settings (``.env``; the environment wins). The
server refuses oversized input before the app sees it: uvicorn's default
httptools parser buffers a request line and headers of any size, so this runs
h11, which answers 400 and closes the connection once a request's head passes
``MAX_REQUEST_HEAD_BYTES``. A WebSocket message over
``MAX_WEBSOCKET_MESSAGE_BYTES`` closes that socket with 1009 (message too big),
and a connection the app is done with is let go of for real, even when its
client stopped reading (``websocket_protocol``).

WebSocket compression is off, as in Phoenix: it costs about 50 KiB of zlib
state per connection (half a joined view's memory) to shrink diffs that are
already small. uvicorn's keepalive pings are off too: the client's heartbeats
already show a connection is alive (one silent for ``LiveConfig.idle_timeout``
is closed), and 10,000 idle sockets would be 500 pings a second, each with a
timer.

The garbage collector is set for thousands of joined views, which are
hundreds of thousands of objects, and each collection stops every socket
for as long as it looks at them (``GC_THRESHOLDS``): the young and middle
generations stay small, so each of their collections is short, and a full
collection, which looks at every object (300 ms at 2,000 views), comes only
after millions of allocations (and, as Python always does, only once the
long-lived objects grew by a quarter): with 10,000 idle views, none runs.
Once the app has started (its lifespan: imports, database, templates), what
survives a collection is frozen (``gc.freeze()``): modules, classes and the
app itself never become garbage, and no collection looks at them again.
``GC_FREEZE`` turns that off.

It warns at start-up when the database lacks migrations. In debug mode
(``DEBUG=true``, as ``.env`` starts) the server restarts when a Python file
of the package changes (uvicorn's reload).
"""

import asyncio
import gc
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn

from .app import create_app
from .schema import migration_warning
from .settings import Settings, SettingsError, get_settings
from .websocket_protocol import WebSocketProtocol

# A request line plus headers; browsers send a few KiB, cookies included.
MAX_REQUEST_HEAD_BYTES = 64 * 1024
# One WebSocket message; LiveView's largest are upload chunks of 64,000 bytes.
MAX_WEBSOCKET_MESSAGE_BYTES = 1024 * 1024
# Allocations before a young collection, and young (middle) collections before the next
# generation's: Python's defaults are (700, 10, 10). A middle collection looks at 12,000
# objects at most (16 ms, against 41 ms at 30,000, while 10,000 views joined: make
# bench-memory); a full one may come after 4,000 x 2 x 1,000 = 8 million allocations.
GC_THRESHOLDS = (4_000, 2, 1_000)
GC_FREEZE = True  # freeze what start-up made out of every later collection (see above)
APP_FACTORY = f"{__package__}.app:create_app"  # what a reloading server imports anew


class Server(uvicorn.Server):
    """uvicorn's server, which sets the garbage collector up for many views (see above)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        gc.set_threshold(*GC_THRESHOLDS)
        await super().startup(sockets)
        if GC_FREEZE and not self.should_exit:
            gc.collect()  # start-up's garbage is not kept for good
            gc.freeze()


def server_config(settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The server for ``settings``, limits included; ``overrides`` replace uvicorn options."""
    return uvicorn.Config(create_app(settings), **server_options(settings, **overrides))


def server_options(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """uvicorn's options for ``settings``: address and limits; ``overrides`` replace them."""
    return {
        "host": settings.host,
        "port": settings.port,
        "http": "h11",
        "h11_max_incomplete_event_size": MAX_REQUEST_HEAD_BYTES,
        "ws": WebSocketProtocol,
        "ws_max_size": MAX_WEBSOCKET_MESSAGE_BYTES,
        "ws_per_message_deflate": False,
        "ws_ping_interval": None,
        **overrides,
    }


def main() -> None:
    """Serve until interrupted; a settings mistake is one line, not a traceback, and an
    unmigrated database is a warning."""
    try:
        settings = get_settings()
    except SettingsError as error:
        raise SystemExit(f"error: {error}") from None
    warning = asyncio.run(migration_warning(settings.database_url))
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if settings.debug:
        # A change to the Python code restarts the server, as Django's runserver and
        # Phoenix's code reloader do (templates are re-read without one).
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            reload=True,
            reload_dirs=[str(Path(__file__).parent)],
            **server_options(settings),
        )
        return
    Server(server_config(settings)).run()


if __name__ == "__main__":
    main()
