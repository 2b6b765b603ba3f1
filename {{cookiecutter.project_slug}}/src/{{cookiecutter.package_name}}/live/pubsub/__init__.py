"""Publish/subscribe between views, in one process or across many: one interface, two backends.

``MemoryPubSub`` (``memory://``) serves one process; ``RedisPubSub``
(``redis://host:port/db``) carries every broadcast to subscribers in every
process connected to the same Redis. Messages cross processes as JSON, so
both backends refuse, at the ``broadcast`` call, a message JSON cannot carry
(``NaN``, sets, objects): what works in development works in production.
Subscribers receive the message decoded from that JSON, on both backends.
"""

from __future__ import annotations

import abc
import json
import typing as t
from dataclasses import dataclass

Handler = t.Callable[[str, str, t.Any], None]
"""Called with ``(topic, event, message)`` for each broadcast; must not block (queue it)."""


class PubSubError(RuntimeError):
    """The backend cannot deliver now (e.g. Redis is unreachable); nothing was sent."""


@dataclass(eq=False)
class Subscription:
    """One handler's interest in one topic; pass it back to ``unsubscribe``."""

    topic: str
    handler: Handler


def encode(topic: str, event: str, message: t.Any) -> str:
    """A broadcast as JSON; ``TypeError``/``ValueError`` name what JSON cannot carry."""
    try:
        return json.dumps(
            {"topic": topic, "event": event, "message": message},
            separators=(",", ":"),
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"cannot broadcast on {topic!r}: the message is not JSON: {exc}") from exc


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
        and ``PubSubError`` when the backend is unreachable.
        """


def create_pubsub(url: str) -> PubSub:
    """The backend for ``url``: ``memory://`` or ``redis://…`` (``rediss://`` for TLS)."""
    scheme = url.partition("://")[0]
    if scheme == "memory":
        from .memory import MemoryPubSub

        return MemoryPubSub()
    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisPubSub

        return RedisPubSub(url)
    raise ValueError(f"PUBSUB_URL {url!r}: use memory:// or redis://host:port/db")
