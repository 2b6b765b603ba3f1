"""Pub/sub across processes through Redis: a broadcast reaches every process's subscribers.

A process holds two connections, however many subscribers it has: one for
commands (``PUBLISH``, presence writes) and one subscribed to the channels
(``<prefix><topic>``) of the topics it has subscribers for. A reader task
decodes each message as it arrives, and the handlers get it a share per
turn of the loop (``Topics.deliver``).

When the subscribed connection drops, the reader reconnects with a bounded
backoff (back to its shortest once a connection works) and subscribes every
topic again; once Redis has confirmed them all, every subscription hears a
``RESYNC``. An idle connection is pinged, so a link that died silently is
found too. While Redis is unreachable, ``broadcast`` raises ``PubSubError``
and logs a line within ``timeout`` seconds, and the topic is remembered:
once Redis answers again, a ``RESYNC`` is published on it, for every
process. A broadcast is sent, or its subscribers are told to reload: never
lost quietly.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import secrets
import typing as t
from urllib.parse import urlsplit

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ..logs import clip
from . import (
    DEFAULT_PREFIX,
    RESYNC,
    Handler,
    PresenceStore,
    PubSub,
    PubSubError,
    Subscription,
    Topics,
    encode,
)

T = t.TypeVar("T")
logger = logging.getLogger(__name__)
FIRST_BACKOFF = 0.05  # seconds before reconnecting; doubles after each failure, up to max_backoff
CANCEL_AGAIN = 0.05  # seconds before cancelling again a task that let a cancellation pass
RESYNC_TOKEN = b"resync"  # the PING after a reconnection's SUBSCRIBE: its PONG means all are in
MAX_UNSENT = 10_000  # topics remembered for a RESYNC while Redis is away (then logged, dropped)


class RedisPubSub(PubSub):
    """Broadcasts through the Redis at ``url`` to every process subscribed there.

    ``prefix`` starts every channel and key this uses (processes of one app
    share it; apps sharing a Redis do not). Every Redis call is bounded by
    ``timeout`` seconds; an idle subscribed connection is pinged every
    ``ping_every`` seconds; reconnections back off up to ``max_backoff``.
    ``node`` names this process (its connections are ``live.<node>.commands``
    and ``live.<node>.subscriber`` in ``CLIENT LIST``); ``client`` is the
    command connection, which the presence store shares. A single Redis
    server, not a Redis Cluster (presence scripts touch keys of many slots).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 2.0,
        ping_every: float = 5.0,
        max_backoff: float = 2.0,
    ) -> None:
        self.node = secrets.token_hex(6)  # this process: in its connections' names and presences
        self.prefix = prefix
        self._timeout = timeout
        self._ping_every = ping_every
        self._max_backoff = max_backoff
        self._where = _where(url)
        options: dict[str, t.Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "protocol": 2,
        }
        # One command connection; a command on a connection Redis dropped is retried once.
        self.client = Redis.from_url(
            url,
            single_connection_client=True,
            client_name=f"live.{self.node}.commands",
            retry=Retry(NoBackoff(), 1, (RedisConnectionError,)),
            **options,
        )
        # One subscribed connection, reconnected by the reader alone (redis-py leaves
        # make_connection and connect unannotated).
        self._connection: AbstractConnection = ConnectionPool.from_url(
            url, client_name=f"live.{self.node}.subscriber", retry=Retry(NoBackoff(), 0), **options
        ).make_connection()  # type: ignore[no-untyped-call]
        self._topics = Topics()
        self._lock = asyncio.Lock()  # one writer of SUBSCRIBE/UNSUBSCRIBE at a time
        self._live = False  # connected, and subscribed to every topic: changes may be sent
        self._pongs: dict[bytes, asyncio.Future[None]] = {}  # PING tokens awaited by _sync
        self._tokens = itertools.count()
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._unsent: dict[str, None] = {}  # topics whose broadcast failed: RESYNC when back
        self._resender: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect both connections; ``PubSubError`` if Redis does not answer."""
        if self._reader is not None:
            raise RuntimeError("this RedisPubSub is already started")
        await self.command("connect", self.client.ping)
        self._reader = asyncio.create_task(self._read_forever())
        try:
            async with asyncio.timeout(self._timeout):
                await self._ready.wait()
        except TimeoutError:
            await self.stop()
            raise PubSubError(f"cannot subscribe at Redis at {self._where}") from None

    async def stop(self) -> None:
        for task in (self._reader, self._resender):
            if task is not None:
                await end(task)
        self._reader = self._resender = None
        self._topics.clear()
        await self.client.aclose()

    def subscribers(self, topic: str | None = None) -> int:
        return self._topics.count(topic)

    async def subscribe(self, topic: str, handler: Handler) -> Subscription:
        """Also waits (bounded) until Redis has the subscription: a broadcast made next is heard."""
        subscription = self._topics.add(topic, handler)
        try:
            await self._sync(topic)
        except BaseException:
            # Cancelled (or failed) before the caller got the subscription:
            # nobody could ever unsubscribe it, so forget it now.
            self._topics.remove(subscription)
            raise
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        if self._topics.remove(subscription):
            await self._sync(subscription.topic)  # the last one: release the channel

    async def broadcast(self, topic: str, message: t.Any, event: str | None = None) -> None:
        data = encode(topic, topic if event is None else event, message)
        try:
            await self.command(
                f"broadcast on {clip(topic)}",
                lambda: self.client.publish(self.prefix + topic, data),
            )
        except PubSubError:
            self._unsent_on(topic)
            raise

    def presence_store(self, heartbeat: float, ttl: float) -> PresenceStore:
        from .redis_presence import RedisPresenceStore

        return RedisPresenceStore(self, heartbeat, ttl)

    async def command(
        self, what: str, call: t.Callable[[], t.Awaitable[T]], *, log: bool = True
    ) -> T:
        """``await call()``, a command on the command connection, within ``timeout`` seconds.

        ``PubSubError``, and a log line unless ``log`` is false, when Redis
        cannot be reached or refuses it.
        """
        try:
            async with asyncio.timeout(self._timeout):
                return await call()
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            if log:
                logger.error("%s failed: Redis at %s: %s", what, self._where, _reason(exc))
            raise PubSubError(f"{what} failed: Redis at {self._where}: {exc}") from exc

    def _unsent_on(self, topic: str) -> None:
        """Remember ``topic`` for a ``RESYNC``, and make sure one goes out once Redis is back."""
        if topic not in self._unsent and len(self._unsent) >= MAX_UNSENT:
            logger.error("%d topics await a resync already: none for %s", MAX_UNSENT, clip(topic))
            return
        self._unsent[topic] = None
        if self._resender is None or self._resender.done():
            self._resender = asyncio.create_task(self._resend())

    async def _resend(self) -> None:
        """Publish a ``RESYNC`` on every remembered topic, as soon as Redis takes them."""
        backoff = FIRST_BACKOFF
        while self._unsent:
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)
            for topic in list(self._unsent):
                publish = functools.partial(
                    self.client.publish, self.prefix + topic, encode(topic, RESYNC, topic)
                )
                # Forgotten first: a broadcast that fails while this is published is
                # remembered again, for a resync after it.
                del self._unsent[topic]
                try:
                    await self.command(f"resync of {clip(topic)}", publish, log=False)
                except PubSubError:
                    self._unsent.setdefault(topic)
                    break  # still away: try again later
        logger.warning("Redis at %s is back: resyncs sent for the failed broadcasts", self._where)

    async def _sync(self, topic: str) -> None:
        """Tell Redis whether this process wants ``topic`` now, and wait until it has heard.

        Not connected: the reader subscribes every wanted topic when it is.
        """
        async with self._lock:
            if not self._live:
                return
            command = "SUBSCRIBE" if topic in self._topics else "UNSUBSCRIBE"
            token = str(next(self._tokens)).encode()
            pong = self._pongs[token] = asyncio.get_running_loop().create_future()
            try:
                await self._connection.send_packed_command(
                    self._connection.pack_commands(
                        [(command, self.prefix + topic), ("PING", token)]
                    )
                )
            except (RedisError, OSError):
                del self._pongs[token]
                return  # the connection is broken: the reader reconnects and subscribes
        try:
            async with asyncio.timeout(self._timeout):
                await pong
        except TimeoutError:
            logger.warning("Redis at %s did not confirm %s %s", self._where, command, clip(topic))
        finally:
            self._pongs.pop(token, None)

    async def _read_forever(self) -> None:
        """Keep the subscribed connection up and read it; log an outage once, and its end."""
        backoff = FIRST_BACKOFF
        failing = False
        opened = False  # before: a first connection, which nothing can have missed
        while True:
            try:
                await self._open(resync=opened)
                opened = True
                if failing:
                    logger.warning("reconnected to Redis at %s", self._where)
                    failing = False
                backoff = FIRST_BACKOFF  # it works again: the next drop is retried at once
                await self._listen()
            except Exception as exc:  # whatever broke the connection: start it again
                if not failing:
                    logger.error(
                        "lost the subscription to Redis at %s (%s); reconnecting",
                        self._where,
                        _reason(exc),
                    )
                    failing = True
            finally:
                await self._close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _open(self, *, resync: bool) -> None:
        """Connect and subscribe every wanted topic before any ``_sync`` may send.

        ``resync``: broadcasts may have been missed while disconnected; a PING
        follows the SUBSCRIBE, and its PONG (``_handle``) resyncs everyone.
        """
        async with self._lock:
            await self._connection.connect()  # type: ignore[no-untyped-call]
            commands: list[tuple[str | bytes, ...]] = []
            channels = [self.prefix + topic for topic in self._topics]
            if channels:
                commands.append(("SUBSCRIBE", *channels))
            if resync:
                commands.append(("PING", RESYNC_TOKEN))
            if commands:
                await self._connection.send_packed_command(
                    self._connection.pack_commands(commands)
                )
            self._live = True
        self._ready.set()

    async def _close(self) -> None:
        self._live = False
        for pong in self._pongs.values():  # their topics are subscribed on reconnection
            if not pong.done():
                pong.set_result(None)
        await self._connection.disconnect(nowait=True)

    async def _listen(self) -> None:
        """Hand each message to its handlers as it arrives; when idle, make sure Redis is there."""
        connection = self._connection
        while True:
            response = await connection.read_response(timeout=self._ping_every)
            if response is None:
                await connection.send_command("PING")
                response = await connection.read_response(timeout=self._timeout)
                if response is None:
                    raise TimeoutError(f"no answer to a PING in {self._timeout} s")
            self._handle(response)

    def _handle(self, response: t.Any) -> None:
        if isinstance(response, list) and response[:1] == [b"message"]:
            self._received(response[1], response[2])
            return
        if isinstance(response, list) and response[:1] == [b"pong"]:
            response = response[1]
        if response == RESYNC_TOKEN:  # every topic is subscribed again
            self._topics.resync()
            return
        pong = self._pongs.get(response) if isinstance(response, bytes) else None
        if pong is not None and not pong.done():
            pong.set_result(None)

    def _received(self, channel: bytes, data: bytes) -> None:
        topic = channel.decode(errors="replace").removeprefix(self.prefix)
        try:
            self._topics.deliver(topic, data)
        except (ValueError, RecursionError) as exc:  # published by something else than broadcast
            logger.warning(
                "ignored a message on %s that is not a broadcast: %s", clip(topic), _reason(exc)
            )


async def end(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it ends.

    Once may not be enough: on Python 3.11, ``asyncio.wait_for`` (which
    redis-py awaits socket writes with) can swallow a cancellation.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_AGAIN)


def _where(url: str) -> str:
    """Redis's address for messages: host and port, or the socket's path; never a password."""
    parts = urlsplit(url)
    if parts.hostname is None:
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}"


def _reason(exc: BaseException) -> str:
    """An exception as a short line: its type and message (redis-py's repr drops the message)."""
    return clip(f"{type(exc).__name__}: {exc}")
