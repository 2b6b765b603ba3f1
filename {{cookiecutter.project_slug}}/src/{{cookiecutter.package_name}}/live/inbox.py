"""The infos waiting for one view: in order while it keeps up, coalesced when it does not.

Infos (``handle_info``: scheduled ticks, broadcasts) come from the server,
not from the view's client, so nothing pushes back on them: a burst of
writes elsewhere can send a view more broadcasts than it can render. They
wait here, apart from the client's messages, and what waits is bounded by
what the view listens to, not by how much others send:

- a repeating job's tick, or an upload's refresh, waits once at most: a
  repeat of one still waiting is dropped (it says nothing new);
- presence diffs on a topic are always merged into the one waiting, without
  losing a join or a leave (by ``phx_ref``, as Phoenix.Presence syncs
  diffs): a view handles one diff per topic for however many arrived while
  it was busy, and one every ``interval`` at most (a batch per view per tick);
- a ``RESYNC`` of a topic waits once at most, no later broadcast replaces
  it (the view must reload everything it shows of that topic), and the
  presence diffs of its topic still waiting go (the reload covers them);
- other broadcasts are delivered one by one, in order, while fewer than
  ``backlog`` infos wait; past that, a broadcast on a topic replaces the one
  of that topic still waiting (latest wins), and takes its place at the end;
  its ``InfoEvent.coalesced`` counts the broadcasts it replaced.

So a view under a burst renders at the rate it can and sees the latest
state of every topic, but may not see every message: a view that must
account for each one should take a broadcast whose ``coalesced`` is not 0
as "something changed" and reload what it shows.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import typing as t
from collections import OrderedDict
from dataclasses import dataclass

from .presence import DIFF_EVENT, MergedDiffs, is_diff
from .pubsub import RESYNC
from .socket import Broadcast, ConnectedLiveViewSocket, InfoEvent


@dataclass
class Info:
    """An info queued for the view whose socket asked for it (a later view ignores it).

    ``order`` places it among the view's messages: the lower goes first.
    """

    event: InfoEvent
    socket: ConnectedLiveViewSocket[t.Any]
    key: t.Hashable | None  # None: never coalesced (a one-off job)
    order: int
    slot: t.Hashable | None = None  # what it coalesces with (the inbox sets it)
    due: float = 0.0  # not handed out before (loop time): a batch of presence diffs


HANDED_KEPT = 16  # presence topics remembered before those handed out long ago are forgotten


class Inbox:
    """The infos of one view's mailbox, oldest first; see the module's docstring.

    ``interval``: a view is handed the presence diffs of a topic at most this
    often (seconds); those arriving meanwhile merge into one. A batch is held
    a random part of it more, so the views that heard one change do not all
    render in the same instant (a crowd's views would hold up the whole process).
    """

    def __init__(self, backlog: int, interval: float) -> None:
        self._backlog = backlog
        self._interval = interval
        self._waiting: OrderedDict[int, Info] = OrderedDict()  # by order
        self._latest: dict[t.Hashable, int] = {}  # a slot → the order of its newest info waiting
        self._merged: dict[int, MergedDiffs] = {}  # an order → the presence diffs merged into it
        self._handed: dict[t.Hashable, float] = {}  # presence diffs' slot → when last handed out
        self.coalesced = 0  # infos merged into or replaced by a later one, so far

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, info: Info, now: float) -> None:
        """Queue ``info``, which arrived at ``now`` (loop time)."""
        slot = info.slot = _slot(info)
        waiting = None if slot is None else self._waiting.get(self._latest.get(slot, -1))
        if waiting is not None and waiting.socket is info.socket:  # not a view joined before
            if type(slot) is _Diffs:
                merged = self._merged.get(waiting.order)
                if merged is None:
                    merged = self._merged[waiting.order] = MergedDiffs()
                    merged.add(waiting.event.payload)
                merged.add(info.event.payload)
                self.coalesced += 1
                return
            if type(slot) is not Broadcast:
                return  # a tick, a refresh or a resync waits already: a repeat says nothing new
            if len(self._waiting) >= self._backlog:
                del self._waiting[waiting.order]  # latest wins, and says how many it replaced
                info.event = dataclasses.replace(
                    info.event, coalesced=info.event.coalesced + waiting.event.coalesced + 1
                )
                self.coalesced += 1
        if type(slot) is _Resync:
            self._drop_diffs(info)
        if type(slot) is _Diffs:
            batch = max(now, self._handed.get(slot, now - self._interval) + self._interval)
            info.due = batch + random.uniform(0, self._interval / 2)
        self._waiting[info.order] = info
        if slot is not None:
            self._latest[slot] = info.order

    def _drop_diffs(self, resync: Info) -> None:
        """The presence diffs of a resync's topic still waiting: its reload covers them (kept,
        they would be applied after it, and could bring back someone who has left)."""
        topic = t.cast(_Resync, resync.slot).topic
        order = self._latest.get(_Diffs(topic), -1)
        held = self._waiting.get(order)
        if held is not None and held.socket is resync.socket:
            del self._waiting[order], self._latest[_Diffs(topic)]
            self._merged.pop(order, None)

    def settled(self, now: float) -> bool:
        """Nothing waits, and no batch of presence diffs handed out holds the next one back:
        a new inbox would do just the same, so this one may go."""
        if self._waiting:
            return False
        horizon = now - self._interval
        return all(at <= horizon for at in self._handed.values())

    def first(self, now: float) -> Info | None:
        """The oldest info that may be handed out at ``now``, left in place."""
        for info in self._waiting.values():
            if info.due <= now:
                return info
        return None

    def due(self) -> float | None:
        """When the next info held back (a batch of presence diffs) may be handed out."""
        return min((info.due for info in self._waiting.values()), default=None)

    def pop(self, info: Info, now: float) -> Info:
        """Take ``info`` (from ``first``), its presence diffs merged."""
        del self._waiting[info.order]
        slot = info.slot
        if slot is not None and self._latest.get(slot) == info.order:
            del self._latest[slot]
        if type(slot) is _Diffs:
            if len(self._handed) >= HANDED_KEPT:  # only the last interval's matter
                self._handed = {
                    key: at for key, at in self._handed.items() if at > now - self._interval
                }
            self._handed[slot] = now
        merged = self._merged.pop(info.order, None)
        if merged is not None:
            info.event = InfoEvent(DIFF_EVENT, merged.diff())
        return info

    def clear(self) -> None:
        self._waiting.clear()
        self._latest.clear()
        self._merged.clear()
        self._handed.clear()


@dataclass(frozen=True)
class _Diffs:
    """The slot of the presence diffs on ``topic``, which merge."""

    topic: str


@dataclass(frozen=True)
class _Resync:
    """The slot of a ``RESYNC`` of ``topic``: never replaced by a later broadcast, which may
    say less than "reload everything"; a repeat of one still waiting says nothing new."""

    topic: str


def held_back(event: InfoEvent, key: t.Hashable | None) -> bool:
    """Would an empty inbox hold this info back? Presence diffs only (they are batched):
    any other it hands out at once, as it came."""
    # Anyone may name an event so: only a real diff is one.
    return type(key) is Broadcast and event.name == DIFF_EVENT and is_diff(event.payload)


def _slot(info: Info) -> t.Hashable | None:
    """What ``info`` coalesces with: its key, the presence diffs or the resync of its topic."""
    key = info.key
    if type(key) is Broadcast:
        if held_back(info.event, key):
            return _Diffs(key.topic)
        if info.event.name == RESYNC:
            return _Resync(key.topic)
    return key


orders = itertools.count()
"""Places messages and infos of every view in one order (a view compares only its own)."""
