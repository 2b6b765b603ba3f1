"""Pub/sub inside one process: a dict of topics to handlers."""

from __future__ import annotations

import json
import logging
import typing as t

from . import Handler, PubSub, Subscription, encode

logger = logging.getLogger(__name__)


class MemoryPubSub(PubSub):
    """Delivers each broadcast to this process's subscribers, decoded from its JSON."""

    def __init__(self) -> None:
        self._topics: dict[str, list[Subscription]] = {}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self._topics.clear()

    def subscribers(self, topic: str) -> int:
        """How many subscriptions ``topic`` has in this process (for leak checks)."""
        return len(self._topics.get(topic, ()))

    async def subscribe(self, topic: str, handler: Handler) -> Subscription:
        subscription = Subscription(topic, handler)
        self._topics.setdefault(topic, []).append(subscription)
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._topics.get(subscription.topic)
        if subscribers is not None and subscription in subscribers:
            subscribers.remove(subscription)
            if not subscribers:
                del self._topics[subscription.topic]

    async def broadcast(self, topic: str, message: t.Any, event: str | None = None) -> None:
        text = encode(topic, event or topic, message)
        for subscription in list(self._topics.get(topic, ())):
            decoded = json.loads(text)
            try:
                subscription.handler(topic, decoded["event"], decoded["message"])
            except Exception:
                logger.exception("a subscriber of %r failed", topic)
