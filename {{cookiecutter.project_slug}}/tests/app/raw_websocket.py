"""A WebSocket opened by hand over a plain socket, for what no client library sends.

``websockets`` writes ``Host`` from the URL and checks the frames it sends;
tests of a forged ``Host`` or of a frame past the server's limit need the
bytes exactly as written.
"""

from __future__ import annotations

import base64
import secrets
import socket

from {{ cookiecutter.package_name }}.live.testing import scaled

TIMEOUT = scaled(30.0)  # seconds for any one read or write (a bound only: tests wait on replies)


def handshake(
    port: int,
    path: str = "/live/websocket?vsn=2.0.0",
    *,
    host: str | None = None,
    origin: str | None = None,
) -> tuple[socket.socket, bytes]:
    """Ask 127.0.0.1:``port`` to upgrade ``path``; the socket and the response's head.

    ``host`` is the ``Host`` header (``127.0.0.1:<port>`` unless given);
    ``origin`` an ``Origin`` header, if any.
    """
    connection = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host or f'127.0.0.1:{port}'}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *([f"Origin: {origin}"] if origin is not None else []),
    ]
    connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = connection.recv(4096)
        if not chunk:
            break
        head += chunk
    return connection, head.partition(b"\r\n\r\n")[0]


def status(head: bytes) -> int:
    """The status code of a response's head (``HTTP/1.1 101 Switching Protocols``)."""
    return int(head.split(b" ", 2)[1])
