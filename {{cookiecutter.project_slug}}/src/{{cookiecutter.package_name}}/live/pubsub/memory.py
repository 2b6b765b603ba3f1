"""Pub/sub and presences inside one process: dicts, and nothing to connect to."""

from __future__ import annotations

import typing as t

from . import Announce, Handler, PresenceStore, PubSub, Subscription, Topics, encode


class MemoryPubSub(PubSub):
    """Delivers each broadcast to this process's subscribers, from the loop's next turn on.

    Needs no ``start``: a view's unit test may use one as it is.
    """

    def __init__(self) -> None:
        self._topics = Topics()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self._topics.clear()

    def subscribers(self, topic: str | None = None) -> int:
        return self._topics.count(topic)

    async def subscribe(self, topic: str, handler: Handler) -> Subscription:
        return self._topics.add(topic, handler)

    async def unsubscribe(self, subscription: Subscription) -> None:
        self._topics.remove(subscription)

    async def broadcast(self, topic: str, message: t.Any, event: str | None = None) -> None:
        # Through JSON as over Redis: the same errors, the same decoded messages.
        self._topics.deliver(topic, encode(topic, topic if event is None else event, message))

    def presence_store(self, heartbeat: float, ttl: float) -> PresenceStore:
        return MemoryPresenceStore()  # one process lives and dies as a whole: nothing expires


class MemoryPresenceStore(PresenceStore):
    """Presences in a dict: topic → ref → entry."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[str, str]] = {}

    async def start(self, announce: Announce) -> None:
        pass

    async def stop(self) -> None:
        self._topics.clear()

    async def put(self, topic: str, ref: str, entry: str, replaces: str | None = None) -> bool:
        entries = self._topics.setdefault(topic, {})
        replaced = replaces is not None and entries.pop(replaces, None) is not None
        entries[ref] = entry
        return replaced

    async def delete(self, topic: str, ref: str) -> bool:
        entries = self._topics.get(topic, {})
        found = entries.pop(ref, None) is not None
        if not entries:
            self._topics.pop(topic, None)
        return found

    async def entries(self, topic: str) -> list[str]:
        return list(self._topics.get(topic, {}).values())
