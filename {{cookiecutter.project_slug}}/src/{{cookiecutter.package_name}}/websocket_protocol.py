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
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

# SO_LINGER on, with a time of 0: closing the socket resets the connection and
# frees its buffers at once, instead of leaving the kernel to send them.
RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """``WebSocketsSansIOProtocol`` that never keeps a connection the app is done with."""

    failing = False  # a frame broke the protocol: the client's bytes are read and dropped
    deadline: asyncio.TimerHandle | None = None  # when a connection the app left is aborted

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
