"""The client side of a view's Phoenix channel: frames, refs, and waiting for a reply.

Frames are ``[join_ref, ref, topic, event, payload]``, numbered and matched
as ``phoenix.js`` does; the transport is the in-process ``asgi.WebSocket``.
"""

from __future__ import annotations

import json
import typing as t
from collections.abc import Callable

from starlette.types import Message

from .asgi import WebSocket
from .errors import DiffError, LiveTestError


class Channel:
    """One view's topic on a socket.

    ``on_push(event, payload)`` gets the server's messages on this topic, in
    order, also while ``request`` waits for its reply; those of an older join,
    and replies to earlier pushes, are dropped or passed on as the client does.
    """

    def __init__(
        self,
        socket: WebSocket,
        topic: str,
        timeout: float,
        on_push: Callable[[str, t.Any], None],
        others: Callable[[list[t.Any]], None] | None = None,
    ) -> None:
        self.socket = socket
        self.topic = topic
        self.join_ref: str | None = None
        self._ref = 0
        self._timeout = timeout
        self._on_push = on_push
        self._others = others  # frames of other topics on the socket (an upload's view)

    def push(self, event: str, payload: t.Any, *, join: bool = False) -> str:
        """Send a message without waiting; returns its ref (a join's ref becomes the join_ref)."""
        self._ref += 1
        ref = str(self._ref)
        if join:
            self.join_ref = ref
        frame = [self.join_ref, ref, self.topic, event, payload]
        self.socket.send_text(json.dumps(frame, separators=(",", ":")))
        return ref

    def push_binary(self, event: str, data: bytes) -> str:
        """Send ``data`` as Phoenix's binary push (an upload's chunk); returns its ref."""
        self._ref += 1
        ref = str(self._ref)
        fields = [part.encode() for part in (self.join_ref or "", ref, self.topic, event)]
        header = bytes([0, *map(len, fields)]) + b"".join(fields)
        self.socket.send_bytes(header + data)
        return ref

    async def request(
        self, event: str, payload: t.Any, *, join: bool = False
    ) -> tuple[str, dict[str, t.Any]]:
        """Push and wait for the reply's status and response, applying pushes that come first."""
        ref = self.push(event, payload, join=join)
        return await self.reply_to(ref, event)

    async def reply_to(self, ref: str, event: str) -> tuple[str, dict[str, t.Any]]:
        """Wait for the reply to the push ``ref``, applying pushes that come first (``drain``
        the later ones once the reply is applied)."""
        while True:
            try:
                message = await self.socket.receive(self._timeout)
            except TimeoutError:
                raise LiveTestError(
                    f"no reply to {event} within {self._timeout} s (the client would reload)"
                ) from None
            frame = _decode(message)
            if frame is None:
                continue
            _, reply_ref, topic, kind, body = frame
            if kind == "phx_reply" and reply_ref == ref and topic == self.topic:
                # What came after the reply waits until the caller has applied the reply
                # (a join's rendered tree first, then the diffs that build on it).
                return str(body.get("status")), dict(body.get("response") or {})
            self._dispatch(frame)

    async def receive(self, timeout: float) -> None:
        """Wait for the server's next message and pass it on; ``TimeoutError`` if none comes."""
        frame = _decode(await self.socket.receive(timeout))
        if frame is not None:
            self._dispatch(frame)

    def drain(self) -> None:
        """Pass on the messages that already arrived."""
        while (message := self.socket.next_nowait()) is not None:
            frame = _decode(message)
            if frame is not None:
                self._dispatch(frame)

    def _dispatch(self, frame: list[t.Any]) -> None:
        join_ref, _, topic, event, payload = frame
        if topic != self.topic:
            if self._others is not None:
                self._others(frame)
        elif join_ref is None or join_ref == self.join_ref:
            self._on_push(event, payload)

    def dispatch(self, frame: list[t.Any]) -> None:
        """A frame another channel on the socket received while it waited."""
        self._dispatch(frame)


def _decode(message: Message) -> list[t.Any] | None:
    """The frame a ``websocket.send`` carries; ``None`` for other ASGI messages."""
    if message["type"] != "websocket.send":
        return None
    text = message.get("text")
    if text is None:
        raise DiffError("the server sent a binary frame; LiveView pushes are JSON text")
    frame = json.loads(text)
    if not isinstance(frame, list) or len(frame) != 5:
        raise DiffError(f"not a [join_ref, ref, topic, event, payload] frame: {text}")
    return frame
