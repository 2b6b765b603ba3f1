"""The lobby: who is here right now, in every process, and a wave that reaches them all.

It shows the "who's here" panel (``whos_here``) with a line for each arrival
and departure, and ``wave`` broadcasts on the lobby's topic with
``socket.broadcast``: every lobby subscribed to it hears the wave in
``handle_info``, whichever process serves it.
"""

from dataclasses import dataclass, field
from typing import Any

from ..live import (
    RESYNC,
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveView,
    LiveViewSocket,
    UnhandledEvent,
)
from .whos_here import WhosHere

TOPIC = "lobby"
FEED_LINES = 8  # the feed keeps this many lines, newest first


@dataclass
class Lobby:
    whos_here: WhosHere
    # Newest first, each line keyed by its number: a new line is one row of the diff.
    feed: list[dict[str, Any]] = field(default_factory=list)
    lines: int = 0  # written so far

    def say(self, *lines: str) -> None:
        """Add ``lines`` to the feed, the last one on top, each keyed by its number."""
        new = [{"id": self.lines + n, "text": line} for n, line in enumerate(lines)]
        self.lines += len(lines)
        self.feed = [*reversed(new), *self.feed][:FEED_LINES]


class LobbyLive(LiveView[Lobby]):
    template_name = "lobby.html"

    async def mount(self, socket: LiveViewSocket[Lobby], session: dict[str, Any]) -> None:
        socket.context = Lobby(WhosHere(TOPIC))
        socket.live_title = "Lobby"
        await socket.context.whos_here.join(socket)

    async def handle_event(self, event: str, socket: ConnectedLiveViewSocket[Lobby]) -> None:
        me = socket.context.whos_here.me
        if event != "wave" or me is None:
            raise UnhandledEvent(event)
        if not await socket.broadcast(TOPIC, {"name": me.name}):
            # Redis is away: say so, rather than wave to nobody.
            socket.context.say("Your wave could not be sent: try again in a moment.")

    async def handle_info(self, event: InfoEvent, socket: ConnectedLiveViewSocket[Lobby]) -> None:
        lobby = socket.context
        if event.name == RESYNC:  # the pub/sub was away: arrivals and departures were missed
            await lobby.whos_here.refresh(socket)
            return
        changes = lobby.whos_here.apply(event)
        if changes is not None:
            lines = [f"{visitor.name} joined" for visitor in changes.joined]
            lines += [f"{visitor.name} left" for visitor in changes.left]
        elif event.name == TOPIC:
            # Anything may broadcast here (a task, another app): read the wave defensively.
            payload = event.payload if isinstance(event.payload, dict) else {}
            lines = [f"{payload.get('name') or 'Someone'} waves"]
        else:
            return
        lobby.say(*lines)
