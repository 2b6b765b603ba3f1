"""The WebSocket endpoint: who may connect, reading and writing within bounds, topics.

Phoenix's ``Phoenix.Socket`` in Python. The socket is accepted only from the
page's own origin (or ``LiveConfig.allowed_origins``). Heartbeats are answered
as they arrive; every other frame goes to the channel of its topic, looked up
by the topic's kind (``lv:`` views, ``lvu:`` uploads; binary frames are upload
chunks and nothing else). Everything a client can grow is bounded
(see ``LiveConfig``): a full mailbox stops reading the socket (TCP
backpressure), a client that stops reading or goes silent is closed, and a
frame that is not valid JSON closes that socket alone with 1007.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import typing as t
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

from .channel import LiveChannel
from .crashes import CrashPacing
from .deadline import Deadline
from .flag import Flag
from .logs import ClientLog, clip
from .protocol import Message, ProtocolError, parse_binary_frame, parse_frame, reply_frame
from .uploads.budget import DiskBudget
from .uploads.channel import UploadChannel

if t.TYPE_CHECKING:
    from .routes import LiveRoutes

logger = logging.getLogger(__name__)


class Channel(t.Protocol):
    """What the socket needs of a channel: its topic, taking messages, closing."""

    topic: str
    finished: bool

    async def deliver(self, message: Message) -> bool: ...

    async def close(self) -> None: ...


ChannelKind = t.Callable[["Transport", str], Channel]
CHANNEL_KINDS: dict[str, ChannelKind] = {"lv": LiveChannel, "lvu": UploadChannel}
"""Topic prefix (before the first ``:``) → the channel class serving such topics."""

# Close codes (RFC 6455); a frame that is not valid JSON closes with ProtocolError's 1007.
POLICY_VIOLATION = 1008
UNSUPPORTED_DATA = 1003
# A server's own way out for a frame, an ASGI extension: ``{"text": write}``, where
# ``write(text)`` sends a text frame at once and returns True, or returns False when it
# cannot (no room, closing, gone): the frame then goes through ASGI's ``send``.
WRITE_EXTENSION = "live.write"
# What a send to a client that is gone raises.
_GONE = (WebSocketDisconnect, RuntimeError, OSError)


class Transport:
    """One browser's WebSocket: its channels by topic and the one way out to the client."""

    def __init__(self, websocket: WebSocket, routes: LiveRoutes) -> None:
        self.websocket = websocket
        self.routes = routes
        # Its loop, asked for once: ``asyncio.get_running_loop()`` makes a system call
        # (``getpid``) each time, and a broadcast asks for it for every view it reaches.
        self.loop = asyncio.get_running_loop()
        self.config = routes.config
        self.root_path: str = websocket.scope.get("root_path", "")
        self.channels: dict[str, Channel] = {}
        self.closed = False
        self._stalled_at: float | None = None  # since when the client's frames wait unread
        self._stalled_for = 0.0  # seconds they waited so, before that
        # What this socket's uploads may hold on disk, within what the whole process may.
        self.upload_budget = DiskBudget(
            self.config.upload_socket_max_bytes, "socket_full", routes.upload_budget
        )
        self.log = ClientLog(logger, self.config.warnings_per_minute, self.config.log_value_chars)
        self.crashes = CrashPacing()  # views that keep crashing: their rejoins are slowed
        write = (websocket.scope.get("extensions") or {}).get(WRITE_EXTENSION)
        self._write: t.Callable[[str], bool] | None = None if write is None else write["text"]
        self._send_lock = asyncio.Lock()
        self._waiting_sends = 0  # sends holding the lock or waiting for it
        # No timer per frame, nor per socket: one per loop (see Deadline).
        self._reading = Deadline(self.config.idle_timeout)
        self._sending = Deadline(self.config.send_timeout)
        self._reader: asyncio.Task[None] | None = None
        self._queued = 0  # frame characters in the channels' mailboxes
        self._room = Flag(True)  # set while ``_queued`` is within the budget

    async def run(self) -> None:
        origin = self.websocket.headers.get("origin")
        if origin is not None and not self._origin_allowed(origin):
            logger.warning("refused a LiveView socket from origin %s", clip(origin))
            await self.websocket.close(POLICY_VIOLATION)  # before accept: HTTP 403
            return
        await self.websocket.accept()
        # Reading runs in its own task, so that closing from a channel stops it at once.
        # Awaited as it is (asyncio.wait would hold a coroutine, a future and a callback
        # for as long as the socket is open): a bug in reading is the server's to log.
        reader = self._reader = asyncio.create_task(self._read())
        try:
            await reader
        except asyncio.CancelledError:
            running = asyncio.current_task()
            if not reader.cancelled() or running is not None and running.cancelling():
                raise  # this socket's handler is cancelled, not only its reader
        finally:
            reader.cancel()
            self.closed = True
            channels, self.channels = list(self.channels.values()), {}
            await asyncio.gather(*(channel.close() for channel in channels))
            self.log.flush()

    # -- who may connect -----------------------------------------------------

    def _origin_allowed(self, origin: str) -> bool:
        """The page's own host, or an origin the app allows; never ``null``."""
        if origin.rstrip("/").lower() in self.config.allowed_origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and self.same_host(parts.netloc)

    def same_host(self, netloc: str) -> bool:
        """True when ``netloc`` is the host (and port) this socket was opened on."""
        host = self.websocket.headers.get("host", "")
        return bool(host) and netloc.lower() == host.lower()

    # -- reading -------------------------------------------------------------

    async def _read(self) -> None:
        while not self.closed and await self._read_frame():
            pass

    async def _read_frame(self) -> bool:
        """Read one frame and route it; False once reading is over.

        A frame of its own: what it read is let go of before the next wait,
        or every idle socket would keep its last frame, decoded.
        """
        try:
            with self._reading:
                received = await self.websocket.receive()
        except TimeoutError:
            logger.info("closing a LiveView socket idle for %s s", self.config.idle_timeout)
            await self._close(1000, "idle")
            return False
        if received["type"] == "websocket.disconnect":
            return False
        text = received.get("text")
        try:
            if text is not None:
                message = parse_frame(text)
            else:  # an upload's chunk; nothing else is binary
                message = parse_binary_frame(received.get("bytes") or b"")
                if not message.topic.startswith("lvu:"):
                    raise ProtocolError("a binary frame off an upload topic", UNSUPPORTED_DATA)
        except ProtocolError as exc:
            self.log.warning("closing a LiveView socket: %s", str(exc))
            await self._close(exc.code, str(exc))
            return False
        await self._route(message)
        return True

    async def _route(self, message: Message) -> None:
        if message.topic == "phoenix":
            if message.event == "heartbeat":
                await self.send(reply_frame(message, "ok", {}))
            else:
                await self._refuse(message, "unknown event")
            return
        # Room first, then the lookup: a channel cannot finish between the two.
        with self._unread():
            await self._room.wait()
        channel = self.channels.get(message.topic)
        if channel is None:
            if message.event != "phx_join":
                await self._refuse(message, "unmatched topic")
                return
            kind = CHANNEL_KINDS.get(message.topic.partition(":")[0])
            if kind is None or ":" not in message.topic:
                await self._refuse(message, "unmatched topic")
                return
            if len(self.channels) >= self.config.max_channels:
                await self._refuse(message, "too many channels")
                return
            channel = self.channels[message.topic] = kind(self, message.topic)
        # One budget for the whole socket: many views' mailboxes cannot add up.
        self._queued += message.size
        if self._queued > self.config.max_queued_bytes:
            self._room.clear()
        with self._unread():  # while a full mailbox keeps the message waiting
            delivered = await channel.deliver(message)
        if not delivered:
            self.dequeued(message)
            await self._refuse(message, "unmatched topic")

    @property
    def stalled(self) -> bool:
        """The reader waits for room: the client's frames are not read (it may be sending)."""
        return self._stalled_at is not None

    def reading_time(self) -> float:
        """The loop's time, less the seconds this socket was not read: an upload's clock,
        which a busy view (its full mailbox) must not run down."""
        now = self.loop.time()
        unread = self._stalled_for + (0.0 if self._stalled_at is None else now - self._stalled_at)
        return now - unread

    @contextlib.contextmanager
    def _unread(self) -> t.Iterator[None]:
        self._stalled_at = self.loop.time()
        try:
            yield
        finally:
            self._stalled_for += self.loop.time() - self._stalled_at
            self._stalled_at = None

    def dequeued(self, message: Message) -> None:
        """A channel took ``message`` out of its mailbox: reading may go on."""
        self._queued -= message.size
        if self._queued <= self.config.max_queued_bytes:
            self._room.set()

    async def _refuse(self, message: Message, reason: str) -> None:
        self.log.warning("%s on %s: %s", message.event, message.topic, reason)
        await self.send(reply_frame(message, "error", {"reason": reason}))

    def forget(self, channel: Channel) -> None:
        """A channel with no view and nothing queued leaves the socket."""
        if self.channels.get(channel.topic) is channel:
            del self.channels[channel.topic]

    # -- writing -------------------------------------------------------------

    async def send(self, text: str) -> None:
        """Send one frame; a client that does not take it within ``send_timeout`` is closed.

        Frames leave in the order they are sent. Most leave at once (the server
        has room for them) and take neither the lock nor the timer: only a send
        that must wait, and those after it, do. A server that offers to write
        frames itself (``WRITE_EXTENSION``, as the app's does) is asked first.
        """
        if self._waiting_sends:
            await self._send_in_turn(text)
            return
        if self.closed:
            return
        write = self._write
        if write is not None and write(text):
            return
        sending = self.websocket.send_text(text)
        try:
            waiting = sending.send(None)  # a coroutine's first step, as ``await`` takes it
        except StopIteration:
            return  # sent
        except _GONE:
            self.closed = True  # the reader will see the disconnect
            return
        await self._send_in_turn(_Started(sending, waiting))

    async def _send_in_turn(self, sending: str | _Started) -> None:
        """A send that waits: after those before it (the lock), within ``send_timeout``.

        ``sending``: a frame, or the send of one that could not finish at once.
        """
        self._waiting_sends += 1
        try:
            async with self._send_lock:  # at once for a send started: none waited before it
                if self.closed:
                    return
                with self._sending:
                    await (
                        self.websocket.send_text(sending) if isinstance(sending, str) else sending
                    )
        except TimeoutError:
            # No close frame: it would queue behind what the client does not read.
            # The socket's handler ends here; the server then drops the connection
            # (the template runs uvicorn with a protocol that resets it).
            logger.warning("dropping a LiveView socket that stopped reading")
            self._stop()
        except _GONE:
            self.closed = True
        finally:
            self._waiting_sends -= 1

    async def _close(self, code: int, reason: str) -> None:
        """Close the socket and stop reading it: nothing more from this client is handled.

        A client that reads nothing cannot take a close frame either, so
        sending one is bounded by ``send_timeout`` too.
        """
        self.closed = True
        try:
            await asyncio.wait_for(
                self.websocket.close(code, reason[:120]), self.config.send_timeout
            )
        except (TimeoutError, *_GONE):
            pass  # already closed, or the client takes nothing any more
        self._stop()

    def _stop(self) -> None:
        """Handle nothing more from this client: the socket ends once its channels are closed."""
        self.closed = True
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()


class _Started:
    """The rest of a coroutine that was run up to its first wait, for ``await``.

    ``waiting`` is what its first step yielded (a future): it is handed up to
    the task, then each value the task sends or throws in goes to the
    coroutine and each thing it yields goes up, as ``await`` does.
    """

    __slots__ = ("_coroutine", "_waiting")

    def __init__(self, coroutine: t.Coroutine[t.Any, t.Any, None], waiting: t.Any) -> None:
        self._coroutine = coroutine
        self._waiting = waiting

    def __await__(self) -> t.Generator[t.Any, t.Any, None]:
        coroutine, waiting = self._coroutine, self._waiting
        while True:
            try:
                sent = yield waiting
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as error:  # cancelled, say: thrown in, as ``await`` does
                try:
                    waiting = coroutine.throw(error)
                except StopIteration:
                    return
            else:
                try:
                    waiting = coroutine.send(sent)
                except StopIteration:
                    return
