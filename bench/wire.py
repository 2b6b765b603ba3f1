"""A browser tab's side of a live page, as the official client speaks it.

A tab GETs the page (its CSRF token, its session cookie, the view's
container), opens the WebSocket with that cookie and token, and joins the
view's channel ``lv:<container id>``; its pushes are Phoenix's JSON frames
``[join_ref, ref, topic, event, payload]``. What a tab then awaits and records
is each bench's own.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import typing as t
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from harness import BenchError

TIMEOUT = 10.0  # seconds for any one step of a client
HEARTBEAT = 30.0  # seconds, as phoenix.js
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
# The main view's container, its attributes in any order (PyView's come in another).
CONTAINER = re.compile(r"<div\b[^>]*\bdata-phx-main\b[^>]*>")
ID, SESSION = re.compile(r'\sid="([^"]+)"'), re.compile(r'\sdata-phx-session="([^"]+)"')


async def http_get(port: int, path: str) -> tuple[int, str, str]:
    """A bare HTTP/1.1 GET, as cheap for this process as can be: status, head and body."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    try:
        headers = f"Host: 127.0.0.1:{port}\r\nConnection: close\r\n"
        writer.write(f"GET {path} HTTP/1.1\r\n{headers}\r\n".encode())
        response = (await asyncio.wait_for(reader.read(), TIMEOUT)).decode()
    finally:
        writer.close()
    head, _, body = response.partition("\r\n\r\n")
    return int(head.split(" ", 2)[1]), head, body


class Opened(t.NamedTuple):
    """A live page loaded and its socket connected, its view not joined yet."""

    ws: ClientConnection
    page_html: str  # the HTTP render
    channel: str  # lv:<container id>
    join: dict[str, t.Any]  # the phx_join payload for the view


async def open_live(
    port: int,
    path: str,
    *,
    compression: str | None,
    max_size: int | None,
    error: type[Exception] = BenchError,
) -> Opened:
    """GET ``path`` and connect its socket, as the browser does; ``error`` if it is no live page.

    ``compression``: ``"deflate"`` offers permessage-deflate (browsers do);
    ``max_size``: the largest message accepted, ``None`` for any.
    """
    status, head, body = await http_get(port, path)
    csrf, container = CSRF.search(body), CONTAINER.search(body)
    tag = container.group(0) if container is not None else ""
    view_id, session = ID.search(tag), SESSION.search(tag)
    if status != 200 or csrf is None or view_id is None or session is None:
        raise error(f"GET {path}: {status}, no csrf token or container")
    cookie = "; ".join(re.findall(r"^set-cookie: ([^;]+)", head, re.IGNORECASE | re.MULTILINE))
    token = html.unescape(csrf.group(1))
    origin = f"http://127.0.0.1:{port}"
    ws = await connect(
        f"ws://127.0.0.1:{port}/live/websocket?"
        + urlencode({"_csrf_token": token, "_mounts": 0, "vsn": "2.0.0"}),
        additional_headers={"Cookie": cookie},
        origin=Origin(origin),
        compression=compression,
        open_timeout=TIMEOUT,
        ping_interval=None,  # browsers do not ping; phoenix.js sends heartbeats instead
        max_queue=None,
        max_size=max_size,
    )
    join = {
        "url": origin + path,
        "params": {"_csrf_token": token, "_mounts": 0, "_mount_attempts": 0},
        "session": html.unescape(session.group(1)),
        "static": None,
        "sticky": False,
    }
    return Opened(ws, body, f"lv:{view_id.group(1)}", join)


def encode(frame: list[t.Any]) -> str:
    """A push as the client sends it: the frame's compact JSON."""
    return json.dumps(frame, separators=(",", ":"))


def hang_up(ws: ClientConnection | None, tasks: t.Iterable[asyncio.Task[None]]) -> None:
    """Drop the connection at once (a closed tab), and stop the tab's tasks."""
    for task in tasks:
        task.cancel()
    if ws is not None:
        ws.transport.abort()
