"""A "who's here" panel for any view: the people on a topic, live, in every process.

Each tab that joins gets a generated name and colour and is tracked with the
app's presence under a key of its own, so two tabs of one browser are two
people here. To show the panel in a view::

    async def mount(self, socket, session):
        socket.context = MyContext(whos_here=WhosHere("items"))
        await socket.context.whos_here.join(socket)

    async def handle_info(self, event, socket):
        if event.name == RESYNC:  # the pub/sub was away: diffs may have been missed
            await socket.context.whos_here.refresh(socket)
        socket.context.whos_here.apply(event)

and ``{% include "whos_here.html" %}`` in its template (the context must have
``whos_here``). Leaving needs nothing: the runtime untracks a closing view.
The panel is a LiveComponent (``WhosHerePanel``): when the view re-renders for
anything else, an unchanged panel sends nothing.

While Redis is away the page works on: this tab is tracked as soon as Redis
is back (the runtime holds it), and the panel says presence is unavailable
until the ``RESYNC`` that follows, when it lists everyone again. A list that
fails while the subscription stays up (Redis slow, or back before presence
is) is tried again by itself every ``RETRY`` seconds, as such a ``RESYNC``.

A presence change costs what it changes, not the size of the room: ``apply``
looks only at the keys a diff names, and the panel lists ``SHOWN`` people
(this tab first, then in order of arrival, so a newcomer is a row added at
the end) as rows keyed by their presence key, so one arrival is a one-row
diff; the rest are counted ("and 240 more").
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

from ..live import (
    RESYNC,
    ComponentSocket,
    InfoEvent,
    Job,
    LiveComponent,
    LiveViewSocket,
    PubSubError,
    is_connected,
)
from ..resources import presence

DIFF = "presence_diff"
ADJECTIVES = ("Brave", "Calm", "Eager", "Gentle", "Jolly", "Lucky", "Quick", "Wise")
ANIMALS = ("Badger", "Falcon", "Heron", "Lynx", "Otter", "Panda", "Robin", "Walrus")
COLOURS = ("red", "orange", "green", "teal", "blue", "purple", "pink", "brown")  # see app.css
SHOWN = 20  # people a panel lists; the others are counted
RETRY = 2.0  # seconds between tries to list who is here while presence is unavailable

Metas = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Visitor:
    """One tab on the topic, as the panel shows it."""

    key: str
    name: str
    colour: str
    doing: str = "viewing"  # what the tab is there for: "viewing", "editing"…

    @classmethod
    def new(cls, taken: set[str], doing: str = "viewing") -> Visitor:
        """A tab that has just arrived: a fresh key, a random colour and a name not ``taken``.

        (Once every name is taken, names repeat.)
        """
        names = [f"{adjective} {animal}" for adjective in ADJECTIVES for animal in ANIMALS]
        name = secrets.choice([name for name in names if name not in taken] or names)
        return cls(secrets.token_urlsafe(8), name, secrets.choice(COLOURS), doing)


@dataclass
class Changes:
    """Who arrived and who left in one presence diff."""

    joined: list[Visitor]
    left: list[Visitor]


@dataclass
class WhosHere:
    """The people on ``topic``; ``me`` is this tab once connected (``None`` on the HTTP render)."""

    topic: str
    me: Visitor | None = None
    metas: Metas = field(default_factory=dict)  # key → metas, as presence lists them
    unavailable: bool = False  # presence could not be listed (Redis is away): until a refresh
    rows: list[dict[str, Any]] = field(default_factory=list)  # whom the panel lists
    retry: Job | None = field(default=None, repr=False)  # the next try while unavailable

    @property
    def people(self) -> list[Visitor]:
        """Everyone here, by name."""
        return _people(self.metas)

    @property
    def more(self) -> int:
        """How many people are here besides those the panel lists."""
        return max(0, len(self.metas) - SHOWN)

    def others_doing(self, doing: str) -> list[Visitor]:
        """Everyone but this tab who is ``doing`` something ("editing"), by name."""
        me = self.me.key if self.me else None
        return sorted(
            (
                visitor
                for key, metas in self.metas.items()
                if key != me and metas and (visitor := _visitor(key, metas[-1])).doing == doing
            ),
            key=_by_name,
        )

    async def join(self, socket: LiveViewSocket[Any], doing: str = "viewing") -> None:
        """Show this tab on the topic, named as nobody there is, and list who is there.

        Subscribing comes first so no diff is missed; one that repeats what
        the list already shows (this tab's own join, say) changes nothing.
        """
        if not is_connected(socket):
            return
        await socket.subscribe(self.topic)
        await self.refresh(socket)
        taken = {str(metas[-1].get("name")) for metas in self.metas.values() if metas}
        self.me = me = Visitor.new(taken, doing)
        meta = {"name": me.name, "colour": me.colour, "doing": me.doing}
        tracked = await presence(socket).track(socket, self.topic, me.key, meta)
        if tracked is not None and not self.unavailable:  # (else the next try lists it)
            self.metas.setdefault(me.key, []).append(tracked)
            self._list({me.key})

    async def refresh(self, socket: LiveViewSocket[Any]) -> None:
        """List who is here again (after a ``RESYNC``: diffs may have been missed meanwhile).

        While presence cannot be listed (Redis is away), the panel is
        ``unavailable``; the ``RESYNC`` that follows Redis's return heals it,
        or else the one this schedules, ``RETRY`` seconds later.
        """
        try:
            self.metas = await presence(socket).list(self.topic)
        except PubSubError:
            self.unavailable, self.metas = True, {}
            if is_connected(socket) and not (self.retry and self.retry.active):
                self.retry = socket.schedule_info_once(InfoEvent(RESYNC, self.topic), RETRY)
        else:
            self.unavailable = False
        self.rows = []  # anyone may have changed meanwhile
        self._list(set())

    def apply(self, event: InfoEvent) -> Changes | None:
        """Apply a presence diff (``None`` for any other event): joins, then leaves, by ref.

        Only the keys the diff names are looked at: the cost is the change's.
        """
        if event.name != DIFF:
            return None
        named = {*event.payload["joins"], *event.payload["leaves"]}
        before = self._visitors(named)
        for key, entry in event.payload["joins"].items():
            known = {meta["phx_ref"] for meta in self.metas.get(key, [])}
            self.metas.setdefault(key, []).extend(
                meta for meta in entry["metas"] if meta["phx_ref"] not in known
            )
        for key, entry in event.payload["leaves"].items():
            gone = {meta["phx_ref"] for meta in entry["metas"]}
            metas = [meta for meta in self.metas.get(key, []) if meta["phx_ref"] not in gone]
            if metas:
                self.metas[key] = metas
            else:
                self.metas.pop(key, None)
        after = self._visitors(named)
        self._list(named)
        return Changes(
            joined=[visitor for key, visitor in after.items() if key not in before],
            left=[visitor for key, visitor in before.items() if key not in after],
        )

    def _list(self, changed: set[str]) -> None:
        """Choose the rows: this tab, then the first to arrive, ``SHOWN`` at most.

        Plain dicts keyed by ``id``, made again only for who changed: the
        template's loop reuses the row of anyone unchanged, and the diff
        names only the rows that came, went or changed.
        """
        me = self.me.key if self.me else None
        keys = [me] if me in self.metas else []
        keys += itertools.islice((key for key in self.metas if key != me), SHOWN - len(keys))
        kept = {row["id"]: row for row in self.rows if row["id"] not in changed}
        self.rows = [
            kept.get(key) or _row(_visitor(key, self.metas[key][-1]), key == me) for key in keys
        ]

    def _visitors(self, keys: set[str]) -> dict[str, Visitor]:
        """The visitors here under ``keys``, by name."""
        metas = self.metas
        found = (_visitor(key, metas[key][-1]) for key in keys if metas.get(key))
        return {visitor.key: visitor for visitor in sorted(found, key=_by_name)}


class WhosHerePanel(LiveComponent[dict[str, Any]]):
    """The panel: ``rows``, ``more``, ``unavailable`` and ``connected``, from ``WhosHere``."""

    template_name = "whos_here_panel.html"

    async def update(
        self, socket: ComponentSocket[dict[str, Any]], assigns: dict[str, Any]
    ) -> None:
        socket.context = assigns


def _by_name(visitor: Visitor) -> tuple[str, str]:
    return visitor.name, visitor.key


def _row(visitor: Visitor, me: bool) -> dict[str, Any]:
    """A visitor as a row of the panel (``id``: the loop keys rows by it)."""
    return {
        "id": visitor.key,
        "name": visitor.name,
        "colour": visitor.colour,
        "doing": visitor.doing,
        "me": me,
    }


def _people(metas: Metas) -> list[Visitor]:
    """One visitor per key (its latest meta), by name."""
    return sorted(
        (_visitor(key, entries[-1]) for key, entries in metas.items() if entries),
        key=_by_name,
    )


def _visitor(key: str, meta: dict[str, Any]) -> Visitor:
    """A tracked meta as the panel shows it; an unknown colour (another app version) is grey."""
    colour = meta.get("colour")
    return Visitor(
        key,
        str(meta.get("name", "Someone")),
        colour if colour in COLOURS else "grey",
        str(meta.get("doing", "viewing")),
    )
