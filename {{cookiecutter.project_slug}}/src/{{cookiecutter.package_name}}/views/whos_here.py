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

While Redis is away the page works on: this tab is tracked as soon as Redis
is back (the runtime holds it), and the panel says presence is unavailable
until the ``RESYNC`` that follows, when it lists everyone again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from ..live import InfoEvent, LiveViewSocket, PubSubError, is_connected
from ..resources import presence

DIFF = "presence_diff"
ADJECTIVES = ("Brave", "Calm", "Eager", "Gentle", "Jolly", "Lucky", "Quick", "Wise")
ANIMALS = ("Badger", "Falcon", "Heron", "Lynx", "Otter", "Panda", "Robin", "Walrus")
COLOURS = ("red", "orange", "green", "teal", "blue", "purple", "pink", "brown")  # see app.css

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

    @property
    def people(self) -> list[Visitor]:
        """Everyone here, by name."""
        return _people(self.metas)

    def others_doing(self, doing: str) -> list[Visitor]:
        """Everyone but this tab who is ``doing`` something ("editing"), by name."""
        me = self.me.key if self.me else None
        return [visitor for visitor in self.people if visitor.doing == doing and visitor.key != me]

    async def join(self, socket: LiveViewSocket[Any], doing: str = "viewing") -> None:
        """Show this tab on the topic, named as nobody there is, and list who is there.

        Subscribing comes first so no diff is missed; one that repeats what
        the list already shows changes nothing.
        """
        if not is_connected(socket):
            return
        await socket.subscribe(self.topic)
        await self.refresh(socket)
        self.me = me = Visitor.new({visitor.name for visitor in self.people}, doing)
        meta = {"name": me.name, "colour": me.colour, "doing": me.doing}
        await presence(socket).track(socket, self.topic, me.key, meta)
        await self.refresh(socket)

    async def refresh(self, socket: LiveViewSocket[Any]) -> None:
        """List who is here again (after a ``RESYNC``: diffs may have been missed meanwhile).

        While presence cannot be listed (Redis is away), the panel is
        ``unavailable``; the ``RESYNC`` that follows Redis's return heals it.
        """
        try:
            self.metas = await presence(socket).list(self.topic)
        except PubSubError:
            self.unavailable, self.metas = True, {}
        else:
            self.unavailable = False

    def apply(self, event: InfoEvent) -> Changes | None:
        """Apply a presence diff (``None`` for any other event): joins, then leaves, by ref."""
        if event.name != DIFF:
            return None
        before = {visitor.key: visitor for visitor in self.people}
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
        after = {visitor.key: visitor for visitor in self.people}
        return Changes(
            joined=[visitor for key, visitor in after.items() if key not in before],
            left=[visitor for key, visitor in before.items() if key not in after],
        )


def _people(metas: Metas) -> list[Visitor]:
    """One visitor per key (its latest meta), by name."""
    return sorted(
        (_visitor(key, entries[-1]) for key, entries in metas.items() if entries),
        key=lambda visitor: (visitor.name, visitor.key),
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
