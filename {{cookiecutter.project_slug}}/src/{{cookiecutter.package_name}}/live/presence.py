"""Who is on a topic, with what metadata, seen alike by every process: Phoenix's Presence.

``await presence.track(socket, topic, key, meta)`` shows ``meta`` under
``key`` (a user id, say) for as long as the view lives; a user with three tabs
has three metas, each with its own ``phx_ref``. ``await presence.list(topic)``
gives ``{key: [meta, ...]}``. Every change is broadcast on the topic itself
as a ``presence_diff`` event, in Phoenix's shape:
``{"joins": {key: {"metas": [...]}}, "leaves": {key: {"metas": [...]}}}``, so
a view that subscribes to the topic hears it in ``handle_info``.

The changes a process makes to a topic within ``batch`` seconds (0.02) go
out merged, as one diff: 300 tabs closing at once are one broadcast that
each subscriber decodes once, not 300 (90,000 deliveries to a room of 300).

Presences live where the pub/sub's processes all see them: in a dict with
``MemoryPubSub``, in Redis with ``RedisPubSub``, where a process that dies
without a word has its presences leave within ``ttl + heartbeat`` seconds.

While Redis is away, ``track``, ``update`` and ``untrack`` still work: this
process holds the change and makes it, announcing it, at the first
heartbeat that reaches Redis again. Only ``list`` fails (``PubSubError``):
there is nobody to show. A view that shows a list reloads it on the
topic's ``RESYNC``, which its subscription hears once Redis is back.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import json
import logging
import math
import secrets
import typing as t

from .logs import clip
from .pubsub import PubSub, PubSubError
from .socket import ConnectedLiveViewSocket, LiveViewSocket

DIFF_EVENT = "presence_diff"
HEARTBEAT = 3.0  # seconds between a process's heartbeats, and its sweeps of dead processes
TTL = 10.0  # seconds without a heartbeat after which a process is dead
BATCH = 0.02  # seconds a topic's changes wait to go out merged

logger = logging.getLogger(__name__)
Meta = dict[str, t.Any]
Metas = dict[str, builtins.list[Meta]]


class Presence:
    """The presences of one pub/sub's processes; start it after the pub/sub, stop it before.

    ``async with pubsub, Presence(pubsub) as presence: ...``. ``heartbeat`` and
    ``ttl`` bound how long a dead process's presences stay (Redis only);
    ``batch`` is how long a topic's changes wait to be broadcast as one diff.
    """

    def __init__(
        self,
        pubsub: PubSub,
        *,
        heartbeat: float = HEARTBEAT,
        ttl: float = TTL,
        batch: float = BATCH,
    ) -> None:
        if not (math.isfinite(ttl) and 0 < heartbeat < ttl):
            raise ValueError(f"need 0 < heartbeat < ttl, not heartbeat={heartbeat}, ttl={ttl}")
        if not 0 <= batch < heartbeat:
            raise ValueError(f"need 0 <= batch < heartbeat, not batch={batch}")
        self._pubsub = pubsub
        self._store = pubsub.presence_store(heartbeat, ttl)
        self._batch = batch
        # Each view's presences: (topic, key) → its meta as stored.
        self._views: dict[ConnectedLiveViewSocket[t.Any], dict[tuple[str, str], Meta]] = {}
        self._pending: dict[str, MergedDiffs] = {}  # topic → its changes not broadcast yet
        self._flushes: set[asyncio.Task[None]] = set()
        self._started = False

    async def __aenter__(self) -> Presence:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """``PubSubError`` if the backend cannot be reached."""
        await self._store.start(self._announce)
        self._started = True

    async def stop(self) -> None:
        """Changes waiting go out; this process's presences leave (announced to other processes)."""
        self._started = False
        self._views.clear()
        for task in self._flushes:
            task.cancel()
        await asyncio.gather(*map(self._broadcast, list(self._pending)))
        await self._store.stop()

    @property
    def tracked(self) -> int:
        """How many presences this process's views have (for leak checks)."""
        return sum(map(len, self._views.values()))

    async def track(
        self, socket: LiveViewSocket[t.Any], topic: str, key: str, meta: t.Mapping[str, t.Any]
    ) -> Meta | None:
        """Show ``meta`` under ``key`` on ``topic`` until the view closes or untracks it.

        Returns the meta as listed (with its ``phx_ref``), so the view can show
        itself without listing the topic again. Does nothing on the HTTP
        render (the socket is not connected): then None.
        ``ValueError`` if this view already tracks ``key`` there (``update``
        it); ``RuntimeError`` past ``LiveConfig.max_presences`` for the view;
        ``TypeError``/``ValueError`` for a meta JSON cannot carry. If the
        backend cannot be reached, the presence is held and made later.
        """
        if not isinstance(socket, ConnectedLiveViewSocket):  # not is_connected: no one is here yet
            return None
        self._check(topic, key)
        views = self._views.get(socket)
        if views is not None and (topic, key) in views:
            raise ValueError(f"this view already tracks {clip(key)} on {clip(topic)}: update() it")
        if views is not None and len(views) >= socket.max_presences:
            limit = socket.max_presences
            raise RuntimeError(f"a view may track at most {limit} presences (max_presences)")
        stored = {**_mapping(meta), "phx_ref": _new_ref()}
        entry = _entry(topic, key, stored)
        if views is None:
            socket.cleanup(functools.partial(self._leave, socket))  # refused once it closed
            views = self._views[socket] = {}
        await self._put(topic, stored["phx_ref"], entry)
        views[(topic, key)] = stored
        await self._diff(topic, {key: [stored]}, {})
        listed: Meta = json.loads(entry)["meta"]  # as ``list`` gives it: through JSON, a copy
        return listed

    async def update(
        self, socket: LiveViewSocket[t.Any], topic: str, key: str, meta: t.Mapping[str, t.Any]
    ) -> None:
        """Replace the meta this view tracks under ``key``: the old one leaves, the new one joins.

        ``ValueError`` if the view does not track ``key`` on ``topic``.
        """
        if not isinstance(socket, ConnectedLiveViewSocket):
            return
        self._check(topic, key)
        views = self._views.get(socket, {})
        old = views.get((topic, key))
        if old is None:
            raise ValueError(f"this view does not track {clip(key)} on {clip(topic)}: track() it")
        stored = {**_mapping(meta), "phx_ref": _new_ref(), "phx_ref_prev": old["phx_ref"]}
        entry = _entry(topic, key, stored)
        replaced = await self._put(topic, stored["phx_ref"], entry, old["phx_ref"])
        views[(topic, key)] = stored
        await self._diff(topic, {key: [stored]}, {key: [old]} if replaced else {})

    async def untrack(self, socket: LiveViewSocket[t.Any], topic: str, key: str) -> None:
        """Stop showing this view under ``key`` on ``topic`` (nothing if it was not): a leave."""
        if not isinstance(socket, ConnectedLiveViewSocket):
            return
        stored = self._views.get(socket, {}).pop((topic, key), None)
        if stored is not None:
            await self._remove(topic, key, stored)

    async def list(self, topic: str) -> Metas:
        """Who is on ``topic``, in every process: key → metas (one per view tracking it).

        ``PubSubError`` if the backend cannot be reached.
        """
        self._check(topic)
        return _group(await self._store.entries(topic))

    def _check(self, topic: str, key: str = "") -> None:
        if not self._started:
            raise RuntimeError("start the Presence first: `async with Presence(pubsub)`")
        if not isinstance(topic, str) or not isinstance(key, str):
            raise TypeError(f"a topic and a key are strings, not {clip(topic)} and {clip(key)}")

    async def _leave(self, socket: ConnectedLiveViewSocket[t.Any]) -> None:
        """The view closed: all its presences leave."""
        for (topic, key), stored in self._views.pop(socket, {}).items():
            await self._remove(topic, key, stored)

    async def _put(self, topic: str, ref: str, entry: str, replaces: str | None = None) -> bool:
        """``store.put``: was ``replaces`` there?

        If the backend is away the store holds the change and makes it once
        the backend is back; the diff is announced now all the same (that
        too may fail: then a ``RESYNC``): who lists the topic meanwhile
        must not miss it. Whether ``replaces`` was there is not known: yes.
        """
        try:
            return await self._store.put(topic, ref, entry, replaces)
        except PubSubError:
            return True

    async def _remove(self, topic: str, key: str, stored: Meta) -> None:
        try:
            removed = await self._store.delete(topic, stored["phx_ref"])
        except PubSubError:
            removed = True  # held, as in ``_put``: and the leave announced
        if removed:
            await self._diff(topic, {}, {key: [stored]})

    async def _announce(
        self, topic: str, joined: builtins.list[str], left: builtins.list[str]
    ) -> None:
        """Broadcast what the store changed on its own (a dead process's leaves, say)."""
        await self._diff(topic, _group(joined), _group(left))

    async def _diff(self, topic: str, joins: Metas, leaves: Metas) -> None:
        """Merge a change into the topic's next broadcast, due ``batch`` seconds after its first."""
        pending = self._pending.get(topic)
        first = pending is None
        if pending is None:
            pending = self._pending[topic] = MergedDiffs()
        pending.add(
            {
                "joins": {key: {"metas": metas} for key, metas in joins.items()},
                "leaves": {key: {"metas": metas} for key, metas in leaves.items()},
            }
        )
        if not self._started:  # stopping (the store announces its leaves): nothing may wait
            await self._broadcast(topic)
        elif first:
            task = asyncio.create_task(self._flush(topic))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _flush(self, topic: str) -> None:
        await asyncio.sleep(self._batch)
        await self._broadcast(topic)

    async def _broadcast(self, topic: str) -> None:
        pending = self._pending.pop(topic, None)
        if pending is None:
            return
        try:
            await self._pubsub.broadcast(topic, pending.diff(), event=DIFF_EVENT)
        except PubSubError:
            pass  # logged; the topic's subscribers get a RESYNC, and list again, once it is back


def is_diff(payload: t.Any) -> bool:
    """Whether ``payload`` has a presence diff's shape (then ``merge_diffs`` takes it)."""
    return (
        isinstance(payload, dict)
        and payload.keys() == {"joins", "leaves"}
        and all(_is_metas_by_key(payload[kind]) for kind in ("joins", "leaves"))
    )


def _is_metas_by_key(changes: t.Any) -> bool:
    return isinstance(changes, dict) and all(
        isinstance(entry, dict)
        and isinstance(entry.get("metas"), builtins.list)
        and all(_is_meta(meta) for meta in entry["metas"])
        for entry in changes.values()
    )


def _is_meta(meta: t.Any) -> bool:
    return isinstance(meta, dict) and isinstance(meta.get("phx_ref"), str)


class MergedDiffs:
    """Presence diffs merged as they arrive into one that changes any list as they all would.

    Each meta's last change wins (joins apply before leaves, as Phoenix's
    ``syncDiff``): one that joined then left is a leave (a view may have
    listed it already), one that left then joined again is a join. Adding a
    diff costs its own size, whatever was merged before.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, str, Meta]] = {}  # phx_ref → (kind, key, meta)

    def add(self, diff: dict[str, t.Any]) -> None:
        """Merge a diff (``is_diff``) after those added before."""
        last = self._last
        for kind in ("joins", "leaves"):
            for key, entry in diff[kind].items():
                for meta in entry["metas"]:
                    last.pop(meta["phx_ref"], None)  # re-inserted: the order of the last change
                    last[meta["phx_ref"]] = (kind, key, meta)

    def diff(self) -> dict[str, t.Any]:
        merged: dict[str, dict[str, t.Any]] = {"joins": {}, "leaves": {}}
        for kind, key, meta in self._last.values():
            merged[kind].setdefault(key, {"metas": []})["metas"].append(meta)
        return merged


def merge_diffs(*diffs: dict[str, t.Any]) -> dict[str, t.Any]:
    """One presence diff that changes any list as ``diffs`` one after the other do."""
    merged = MergedDiffs()
    for diff in diffs:
        merged.add(diff)
    return merged.diff()


def _new_ref() -> str:
    """A ref no other meta has, in any process."""
    return secrets.token_urlsafe(12)


def _mapping(meta: t.Mapping[str, t.Any]) -> Meta:
    if not isinstance(meta, t.Mapping):
        raise TypeError(f"a presence's meta is a mapping (a dict), not {clip(meta)}")
    return dict(meta)


def _entry(topic: str, key: str, meta: Meta) -> str:
    """What the store keeps: JSON, so every backend gives back the same metas."""
    try:
        return json.dumps({"key": key, "meta": meta}, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise type(exc)(
            f"cannot track {clip(key)} on {clip(topic)}: the meta is not JSON: {exc}"
        ) from exc


def _group(entries: builtins.list[str]) -> Metas:
    """Stored entries as ``{key: [meta, ...]}``."""
    grouped: Metas = {}
    for entry in entries:
        decoded = json.loads(entry)
        grouped.setdefault(decoded["key"], []).append(decoded["meta"])
    return grouped
