"""Any ASGI app under a real uvicorn, for tests that need real sockets.

Close codes, TCP backpressure, uvicorn's own frame limits and log records
only exist with a real server. ``serve(app)`` runs one in a thread with its
own event loop on a free port of 127.0.0.1, so a test's asyncio loop talks to
it over TCP exactly as a browser would. Start and stop are bounded.
``free_port`` is for servers the tests start in processes of their own.
"""

from __future__ import annotations

import socket
import threading
import time
import typing as t
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from {{ cookiecutter.package_name }}.live.testing import scaled

STARTUP_TIMEOUT = scaled(60.0)  # seconds until the server must listen
SHUTDOWN_TIMEOUT = scaled(30.0)


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on right now (for a server run in
    another process: one started here by ``serve`` binds its own)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve(app: ASGIApp, port: int = 0, **options: t.Any) -> Iterator[str]:
    """Serve ``app`` on ``port`` (0: a free one); yields its ``http://127.0.0.1:<port>`` base URL.

    ``options`` go to ``uvicorn.Config`` (``ws_max_size``, ``lifespan="on"``…).
    Logging is left as the test run configured it (``log_config=None``), so
    records reach pytest's capture and the test's own handlers. The listening
    socket is bound here and handed to uvicorn: no other process can take the
    port between choosing and using it.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    port = listener.getsockname()[1]
    defaults: dict[str, t.Any] = {
        "log_config": None,
        "lifespan": "off",
        "timeout_graceful_shutdown": 1,
    }
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **{**defaults, **options})
    server = uvicorn.Server(config)
    # uvicorn installs signal handlers only in the main thread: Ctrl+C stays pytest's.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        _wait_until_started(server, thread)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT)
        listener.close()
    if thread.is_alive():
        raise RuntimeError(f"the test server did not stop within {SHUTDOWN_TIMEOUT} s")


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server exited during start-up (see the captured log)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start within {STARTUP_TIMEOUT} s")
        time.sleep(0.005)
