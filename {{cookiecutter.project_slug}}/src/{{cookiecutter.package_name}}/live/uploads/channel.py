"""The ``lvu:<entry ref>`` channel: one file's bytes, chunk by chunk, checked as they come.

The client joins with the token the preflight gave the entry. The token is
signed and names the view's topic, the upload and the entry, and the view
must be joined on this very socket: a forged token, another page's, or one
already used is refused. Each chunk is acknowledged once written; the
server counts the bytes itself, and the chunk that would pass the file's
limit (or its declared size) stops the upload. A file that stops arriving
for ``chunk_timeout`` seconds is given up, and so is one slower on average
than ``LiveConfig.upload_min_rate``. Whatever stops an entry removes its
temporary file.
"""

from __future__ import annotations

import asyncio
import logging
import typing as t

from ..channel import LiveChannel
from ..protocol import Message, Reply, encode_frame, error, reply_frame
from ..session import InvalidToken
from .config import UploadConfig, UploadEntry
from .writer import TempFile, upload_dir

if t.TYPE_CHECKING:
    from ..transport import Transport

logger = logging.getLogger(__name__)


class UploadChannel:
    """One entry's upload on one socket; handled as each frame arrives (the client waits)."""

    def __init__(self, transport: Transport, topic: str) -> None:
        self.topic = topic
        self.transport = transport
        self.finished = False
        self._join_ref: str | None = None
        self._upload: tuple[UploadConfig, UploadEntry, t.Callable[[], None]] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    async def deliver(self, message: Message) -> bool:
        if self.finished:
            return False
        try:
            try:
                response = await self._handle(message)
                status = "ok"
            except Reply as reply:
                self.transport.log.warning(
                    "%s on %s: %s", message.event, self.topic, reply.response
                )
                status, response = reply.status, reply.response
            # Ended before the reply: when the client reads it, the bytes are gone already.
            stopped = status == "error" and message.event == "chunk" and self._current(message)
            if stopped:
                self._finish("incomplete")  # a refused chunk ends the upload, as in Phoenix
            elif status == "error" and self._upload is None:
                self._finish("")  # a refused join holds no slot of the socket's
            await self.transport.send(reply_frame(message, status, response))
            if stopped:
                await self._send_close()
        finally:
            self.transport.dequeued(message)
        return True

    async def close(self) -> None:
        """The socket closed: an entry still arriving is given up."""
        self._finish("incomplete")

    # -- messages ------------------------------------------------------------

    async def _handle(self, message: Message) -> dict[str, t.Any]:
        if message.event == "phx_join":
            return self._join(message)
        if not self._current(message):
            raise error("unmatched topic")
        if message.event == "chunk":
            return await self._chunk(message.payload)
        if message.event == "phx_leave":
            self._finish("incomplete")
            return {}
        raise error("unknown event")

    def _current(self, message: Message) -> bool:
        """A message of this channel's join (a stale join_ref's is refused, and harmless)."""
        return self._upload is not None and message.join_ref == self._join_ref

    def _join(self, message: Message) -> dict[str, t.Any]:
        if self._upload is not None:
            raise error("already_registered")
        payload = message.payload if isinstance(message.payload, dict) else {}
        try:
            claims = self.transport.routes.upload_tokens.verify(payload.get("token"))
        except InvalidToken as exc:
            raise error("invalid_token") from exc
        view = self.transport.channels.get(str(claims.get("v")))
        found = (
            view.upload_entry(claims.get("u"), claims.get("e"))
            if isinstance(view, LiveChannel)
            else None
        )
        if found is None or self.topic != f"lvu:{claims.get('e')}":
            raise error("invalid_token")  # another socket's view, or a view gone since
        config, entry, refresh = found
        if entry.registered:
            raise error("already_registered")
        if not entry.valid or not entry.preflighted or entry.done:
            raise error("disallowed")
        entry.registered = True
        try:
            entry.file = TempFile(upload_dir(self.transport.config.upload_dir))
        except OSError as exc:
            logger.error("cannot create an upload's temporary file: %s", exc)
            config.fail(entry, "writer_error")
            refresh()
            raise error("writer_error") from exc
        self._join_ref = message.join_ref
        self._upload = config, entry, refresh
        entry.release = self._release
        config.joined(entry)
        self._restart_timer()
        return {}

    async def _chunk(self, data: t.Any) -> dict[str, t.Any]:
        assert self._upload is not None
        config, entry, refresh = self._upload
        if not isinstance(data, bytes):
            raise error("chunks are binary")
        if not data:
            raise error("empty chunk")  # it sends nothing, and would only keep the upload alive
        file = entry.file
        if entry.done or file is None:
            raise error("disallowed")
        if entry.received + len(data) > min(config.max_file_size, entry.client_size):
            config.fail(entry, "too_large")
            refresh()
            raise error("file_size_limit_exceeded", limit=config.max_file_size)
        try:
            await asyncio.to_thread(file.append, data)  # a slow disk never stalls other sockets
        except OSError as exc:
            logger.error("cannot write an upload's temporary file: %s", exc)
            config.fail(entry, "writer_error")
            refresh()
            raise error("writer_error") from exc
        if entry.file is not file:  # cancelled or consumed while it was being written
            raise error("disallowed")
        config.received(entry, len(data))
        if not entry.done and config.behind(entry):
            config.fail(entry, "too_slow")
            refresh()
            raise error("too_slow")
        if entry.done:
            self._cancel_timer()
        else:
            self._restart_timer()
        return {}

    # -- ending ----------------------------------------------------------------

    def _restart_timer(self) -> None:
        assert self._upload is not None
        self._cancel_timer()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._upload[0].chunk_timeout, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        if self.transport.stalled:
            # The socket is not being read (a busy view's full mailbox): the client may be
            # sending all along. Its time is counted from when reading goes on.
            self._restart_timer()
            return
        self.transport.log.warning("%s: no chunk within the timeout", self.topic)
        self._finish("timeout")
        self._closing = asyncio.get_running_loop().create_task(self._send_close())

    def _release(self) -> None:
        """Its entry was consumed or cancelled: the channel ends, and the client stops sending."""
        if not self.finished:
            self._finish("")
            self._closing = asyncio.get_running_loop().create_task(self._send_close())

    async def _send_close(self) -> None:
        await self.transport.send(
            encode_frame(self._join_ref, self._join_ref, self.topic, "phx_close", {})
        )

    def _finish(self, reason: str) -> None:
        """End the channel and free its slot; an entry not complete fails with ``reason``
        (unless it was cancelled) and loses its bytes."""
        if self.finished:
            return
        self.finished = True
        self._cancel_timer()
        self.transport.forget(self)
        if self._upload is not None:
            config, entry, refresh = self._upload
            entry.release = None
            if not entry.done and entry.valid and not entry.cancelled:
                config.fail(entry, reason)
                refresh()
            elif not entry.done:
                entry.discard()
