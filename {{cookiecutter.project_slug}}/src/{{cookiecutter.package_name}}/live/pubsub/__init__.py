"""Publish/subscribe between views, in one process or across many: one interface, two backends.

``MemoryPubSub`` (``memory://``) serves one process; ``RedisPubSub``
(``redis://host:port/db``) carries every broadcast to subscribers in every
process connected to the same Redis. Messages cross processes as JSON, so
both backends refuse, at the ``broadcast`` call, a message JSON cannot carry
(``NaN``, sets, objects): what works in development works in production.
Subscribers receive the message decoded from that JSON, on both backends:
decoded once per process, each subscriber given its own copy, handed out a
share per turn of the event loop after the ``broadcast`` call returns (a
broadcast to thousands of views neither holds up its publisher nor starves
other sockets).

Each backend also keeps the presences (``presence.Presence``) where all its
processes see them: a ``PresenceStore``.

The guarantee, when the backend goes away and comes back (Redis restarted,
a link cut): no subscriber misses a change without being told. A subscriber
hears every broadcast made on its topic, or else, once the backend answers
again, a ``RESYNC`` on that topic: ``handler(topic, RESYNC, topic)``, which a
view gets as ``InfoEvent(RESYNC, topic)`` and answers by reloading what it
shows from the source of truth (the database, ``Presence.list``). Every
subscription of a process whose subscribed connection was down hears one;
and every process subscribed to a topic whose ``broadcast`` failed hears one,
sent by the process that failed. A broadcast that failed is never sent late.
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import math
import typing as t
from collections import deque
from dataclasses import dataclass

from ..logs import clip

Handler = t.Callable[[str, str, t.Any], None]
"""Called with ``(topic, event, message)`` for each broadcast; must not block (queue it)."""

Announce = t.Callable[[str, list[str], list[str]], t.Awaitable[None]]
"""Called by a ``PresenceStore`` with ``(topic, joined, left)`` entries it changed on its own."""

RESYNC = "pubsub_resync"
"""The event of a resync: broadcasts on the topic (its message) may have been missed."""
DEFAULT_PREFIX = "live:"  # of every Redis channel and key: apps sharing a Redis need their own
HANDOFFS_PER_TICK = 32
"""Subscribers handed a broadcast per turn of the event loop: each wakes a view that renders in
the next turn, so this bounds the fan-out's work between two polls of the other sockets."""
DRAIN_TURNS = 64
"""Yet a turn hands out at least this share of what waits (``1 / DRAIN_TURNS``): broadcasts that
come faster than views render wait in the views' mailboxes, which coalesce them, not here."""

logger = logging.getLogger(__name__)


class PubSubError(RuntimeError):
    """The backend cannot deliver now (e.g. Redis is unreachable); nothing was sent."""


@dataclass(eq=False)
class Subscription:
    """One handler's interest in one topic; pass it back to ``unsubscribe``."""

    topic: str
    handler: Handler


def encode(topic: str, event: str, message: t.Any) -> str:
    """A broadcast as JSON; ``TypeError``/``ValueError`` name what JSON cannot carry."""
    if not isinstance(topic, str) or not isinstance(event, str):
        raise TypeError(f"a topic and an event are strings, not {clip(topic)} and {clip(event)}")
    try:
        return json.dumps(
            {"topic": topic, "event": event, "message": message},
            separators=(",", ":"),
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        shown = clip(topic)
        raise type(exc)(f"cannot broadcast on {shown}: the message is not JSON: {exc}") from exc


def decode(data: str | bytes) -> tuple[str, t.Any]:
    """``(event, message)`` of a broadcast's JSON; ``ValueError`` if it is not one."""
    envelope = json.loads(data)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("event"), str):
        raise ValueError("not an object with an event")
    return envelope["event"], envelope.get("message")


def fresh(value: t.Any) -> t.Any:
    """A copy of decoded JSON with its own dicts and lists; strings and numbers, which
    nobody can change, are shared (cheaper than decoding again, or ``deepcopy``)."""
    kind = type(value)
    if kind is dict:
        return {
            key: fresh(item) if type(item) in _CONTAINERS else item for key, item in value.items()
        }
    if kind is list:
        return [fresh(item) if type(item) in _CONTAINERS else item for item in value]
    return value


_CONTAINERS = (dict, list)


@dataclass(eq=False)
class _Fanout:
    """A broadcast being handed out: its subscribers when it was made, and the next one's index."""

    topic: str
    event: str
    message: t.Any
    subscriptions: list[Subscription]
    next: int = 0


class Topics:
    """This process's subscriptions, by topic, in the order they were made."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[Subscription, None]] = {}
        self._fanouts: deque[_Fanout] = deque()  # in the order they were made
        self._waiting = 0  # hand-offs the fan-outs have left
        self._handing_out: asyncio.Handle | None = None

    def __contains__(self, topic: object) -> bool:
        return topic in self._topics

    def __iter__(self) -> t.Iterator[str]:
        return iter(list(self._topics))

    def count(self, topic: str | None = None) -> int:
        if topic is not None:
            return len(self._topics.get(topic, ()))
        return sum(map(len, self._topics.values()))

    def add(self, topic: str, handler: Handler) -> Subscription:
        if not isinstance(topic, str):
            raise TypeError(f"a topic is a string, not {clip(topic)}")
        subscription = Subscription(topic, handler)
        self._topics.setdefault(topic, {})[subscription] = None
        return subscription

    def remove(self, subscription: Subscription) -> bool:
        """Forget ``subscription``; True if that left its topic without subscribers."""
        subscriptions = self._topics.get(subscription.topic)
        if subscriptions is None or subscription not in subscriptions:
            return False
        del subscriptions[subscription]
        if subscriptions:
            return False
        del self._topics[subscription.topic]
        return True

    def clear(self) -> None:
        self._topics.clear()
        self._fanouts.clear()
        self._waiting = 0
        if self._handing_out is not None:
            self._handing_out.cancel()
            self._handing_out = None

    def resync(self) -> None:
        """Tell every subscription that it may have missed broadcasts: a ``RESYNC`` each."""
        for topic in self:
            self.deliver(topic, encode(topic, RESYNC, topic))

    def deliver(self, topic: str, data: str | bytes) -> None:
        """Call each handler of ``topic`` with its own copy of the message, decoded from ``data``.

        Decoded here, once, whatever the number of subscribers; handed out
        from the next turn of the event loop on, ``HANDOFFS_PER_TICK`` a turn
        (more when many wait: ``DRAIN_TURNS``), to the subscribers of now that
        are still subscribed then, broadcasts in the order they were delivered.
        Own copies: a handler that changes its message changes nobody else's.
        A handler that raises is logged and the others still get the message.
        ``ValueError`` if ``data`` is not a broadcast.
        """
        subscriptions = self._topics.get(topic)
        if not subscriptions:
            return
        event, message = decode(data)
        self._fanouts.append(_Fanout(topic, event, message, list(subscriptions)))
        self._waiting += len(subscriptions)
        if self._handing_out is None:
            self._handing_out = asyncio.get_running_loop().call_soon(self._hand_out)

    def _hand_out(self) -> None:
        """One turn's share of the broadcasts waiting; the rest in the next turn."""
        self._handing_out = None
        budget = max(HANDOFFS_PER_TICK, math.ceil(self._waiting / DRAIN_TURNS))
        while self._fanouts and budget:
            fanout = self._fanouts[0]
            current = self._topics.get(fanout.topic, {})
            end = min(len(fanout.subscriptions), fanout.next + budget)
            for index in range(fanout.next, end):
                subscription = fanout.subscriptions[index]
                if subscription not in current:
                    continue  # unsubscribed since the broadcast
                # The last one takes the decoded message itself: every copy is made by then.
                last = index == len(fanout.subscriptions) - 1
                try:
                    message = fanout.message if last else fresh(fanout.message)
                    subscription.handler(fanout.topic, fanout.event, message)
                except Exception as exc:
                    logger.error("a subscriber of %s raised %s", clip(fanout.topic), clip(exc))
            budget -= end - fanout.next
            self._waiting -= end - fanout.next
            fanout.next = end
            if end == len(fanout.subscriptions):
                self._fanouts.popleft()
        if self._fanouts:
            self._handing_out = asyncio.get_running_loop().call_soon(self._hand_out)


class PresenceStore(abc.ABC):
    """Where presences live: every process of the backend sees the same ones.

    An entry is JSON text stored under ``(topic, ref)``, owned by the process
    that put it. When a process dies, its entries go and the processes left
    announce them as leaves, once.
    """

    @abc.abstractmethod
    async def start(self, announce: Announce) -> None:
        """Begin; ``announce`` is told of the joins and leaves the store makes on its own."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """End: this process's entries go, announced as leaves where others may hear."""

    @abc.abstractmethod
    async def put(self, topic: str, ref: str, entry: str, replaces: str | None = None) -> bool:
        """Store ``entry`` under ``ref`` (removing ``replaces`` with it); was ``replaces`` there?

        ``PubSubError`` if the backend is away: the store holds the change,
        and makes and announces it once the backend is back.
        """

    @abc.abstractmethod
    async def delete(self, topic: str, ref: str) -> bool:
        """Remove ``ref``'s entry; False if it was already gone (its leave is announced).

        ``PubSubError`` if the backend is away, as for ``put``.
        """

    @abc.abstractmethod
    async def entries(self, topic: str) -> list[str]:
        """Every process's entries on ``topic``."""


class PubSub(abc.ABC):
    """Topics → subscribers, and broadcasts to them; start it before use, stop it after."""

    async def __aenter__(self) -> PubSub:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect (a no-op in memory)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Disconnect; subscriptions end."""

    @abc.abstractmethod
    async def subscribe(self, topic: str, handler: Handler) -> Subscription:
        """Call ``handler`` for every broadcast on ``topic`` from now on, in any process."""

    @abc.abstractmethod
    async def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription`` (idempotent)."""

    @abc.abstractmethod
    async def broadcast(self, topic: str, message: t.Any, event: str | None = None) -> None:
        """Send ``message`` to every subscriber of ``topic``; ``event`` defaults to the topic.

        Raises ``TypeError``/``ValueError`` for a message JSON cannot carry,
        and ``PubSubError`` when the backend is unreachable: then the message
        is not sent, ever, and the topic's subscribers, in every process, get
        a ``RESYNC`` once the backend is back.
        """

    @abc.abstractmethod
    def subscribers(self, topic: str | None = None) -> int:
        """How many subscriptions ``topic`` (or every topic) has in this process (leak checks)."""

    @abc.abstractmethod
    def presence_store(self, heartbeat: float, ttl: float) -> PresenceStore:
        """The presences' store; a process silent for ``ttl`` seconds is dead (checked every
        ``heartbeat`` seconds), where processes can die apart."""


def create_pubsub(url: str, *, prefix: str = DEFAULT_PREFIX) -> PubSub:
    """The backend for ``url``: ``memory://`` or ``redis://…`` (``rediss://`` for TLS).

    ``prefix`` starts Redis's channels and keys (one per app sharing a Redis).
    """
    scheme = url.partition("://")[0]
    if scheme == "memory":
        from .memory import MemoryPubSub

        return MemoryPubSub()
    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisPubSub

        return RedisPubSub(url, prefix=prefix)
    raise ValueError(f"PUBSUB_URL {url!r}: use memory:// or redis://host:port/db")
