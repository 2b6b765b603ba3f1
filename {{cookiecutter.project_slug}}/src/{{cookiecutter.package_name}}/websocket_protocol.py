"""uvicorn's WebSocket protocol, made to let go of connections for real.

uvicorn (``websockets-sansio``, what ``ws="auto"`` picks) leaves two ends open:

- It closes a connection with asyncio's ``transport.close()``, which waits
  until the write buffer is sent: a client that stopped reading kept its
  connection, its descriptor and megabytes of buffers for as long as it liked,
  after the app had given up on it. Here, once the app is done with a
  connection, it is aborted (a TCP reset, buffers freed) if writing is paused,
  that is if the client has not been taking what it was sent, and otherwise
  it has ``close_timeout`` to close cleanly before it is aborted.
- A frame over ``ws_max_size`` is refused from its header, and the connection
  closed at once, with the rest of the frame unread: the kernel then answers
  with a reset, which may reach the client before the close frame (1009) does.
  Here the server half-closes after the close frame and reads, and drops, what
  the client still sends until it closes its end too (at most
  ``close_timeout``), as the websockets library expects of its I/O layer.

It also sends the runtime's frames without ASGI's ceremony: a frame that can go
at once is written from the runtime's call (``write_text``, offered to the app
as an ASGI extension), with no coroutine, message dict or middleware on the
way. A broadcast sends one to each of thousands of views.

It also holds less for each open connection, which matters with thousands of
idle views: its queue of events for the app and its "writable" signal hold no
empty ``deque`` (about 3.8 KiB with uvicorn's ``asyncio.Queue`` and ``Event``),
and the handshake's request and response (their headers, about 4 KiB) go once
the handshake is over (the app has the request's headers in its scope).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import typing as t
from collections import deque

from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request

from .live.flag import Flag
from .live.transport import WRITE_EXTENSION

# SO_LINGER on, with a time of 0: closing the socket resets the connection and
# frees its buffers at once, instead of leaving the kernel to send them.
RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class EventQueue:
    """The events a connection holds for the app: what uvicorn asks of its ``asyncio.Queue``
    (``put_nowait``, ``get``, ``empty``), holding nothing while empty."""

    __slots__ = ("_events", "_ready")

    def __init__(self) -> None:
        self._events: deque[ASGIReceiveEvent] | None = None
        self._ready = Flag()

    def empty(self) -> bool:
        return not self._events

    def put_nowait(self, event: ASGIReceiveEvent) -> None:
        if self._events is None:
            self._events = deque()
        self._events.append(event)
        self._ready.set()

    async def get(self) -> ASGIReceiveEvent:
        while not self._events:
            self._ready.clear()
            await self._ready.wait()
        event = self._events.popleft()
        if not self._events:
            self._events = None
        return event


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """``WebSocketsSansIOProtocol`` that never keeps a connection the app is done with."""

    failing = False  # a frame broke the protocol: the client's bytes are read and dropped
    deadline: asyncio.TimerHandle | None = None  # when a connection the app left is aborted

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn uses no more of either than these do (see the module's docstring).
        self.queue = t.cast("asyncio.Queue[ASGIReceiveEvent]", EventQueue())
        self.writable = t.cast(asyncio.Event, Flag(True))

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)  # makes the scope; the app is not running yet
        if self.response.status_code == 101:  # else refused (400, 426): no scope, no app
            self.scope["extensions"][WRITE_EXTENSION] = {"text": self.write_text}

    def write_text(self, text: str) -> bool:
        """Send a text frame now if nothing holds it back; False when something does (the
        client is slow to read, the connection closing or gone): then ASGI's ``send``
        takes it, and waits for room or raises, as it does for any frame."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:  # the client's close frame came in: ``send`` says it is gone
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Read no more. The websockets parser keeps the request for the connection's
            # life (a local of its generator): emptied, it keeps its headers no longer.
            self.request.headers.clear()
            del self.request, self.response

    async def run_asgi(self) -> None:
        await super().run_asgi()  # closes the transport, unless a closing handshake runs
        if self.disconnected or self.failing:  # gone, or bounded by the failure's own timer
            return
        if not self.writable.is_set():  # the client stopped reading: nothing more will leave
            self.abort()
        else:
            self.deadline = self.loop.call_later(self.close_timeout, self.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if hasattr(self, "scope"):  # the app had the connection: no cycle through its scope
            self.scope["extensions"].pop(WRITE_EXTENSION, None)
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def handle_parser_exception(self) -> None:
        """Send the close frame, then read until the client closes: no unread bytes, no reset."""
        if self.failing:  # called again for each chunk read since: they are dropped
            return
        self.failing = True
        assert self.conn.close_sent is not None
        code, reason = self.conn.close_sent.code, self.conn.close_sent.reason
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        # The client's end of file closes the transport (eof_received). Until then this
        # timer stands for the closing handshake's: the app's end does not close the transport.
        if self.close_timer is not None:  # the app had closed: its handshake is over too
            self.close_timer.cancel()
        self.close_timer = self.loop.call_later(self.close_timeout, self.abort)

    def abort(self) -> None:
        """Reset the connection: its descriptor and buffers go now, whatever the client does."""
        if self.disconnected:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # without it, the kernel sends what it holds
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
        self.transport.abort()
