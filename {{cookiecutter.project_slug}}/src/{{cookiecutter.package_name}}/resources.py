"""The app's shared resources: made once by the lifespan, reached by every request and view.

Starlette copies the state the lifespan yields into each request
(``request.state``), and the LiveView runtime gives the same to live views
(``socket.state``). ``database(socket)``, ``pubsub(request)``… are the typed
way in.
"""

from typing import Protocol, TypedDict, TypeVar

from starlette.datastructures import State

from .db import Database
from .live.presence import Presence
from .live.pubsub import PubSub
from .settings import Settings

T = TypeVar("T")


class Resources(TypedDict):
    """What the lifespan yields; each key becomes an attribute of ``state``."""

    db: Database
    settings: Settings
    pubsub: PubSub
    presence: Presence


class HasState(Protocol):
    """A request, a WebSocket or a live view's socket."""

    @property
    def state(self) -> State: ...


def database(holder: HasState) -> Database:
    """The app's database, for ``async with database(socket).session() as session: ...``."""
    return _resource(holder, "db", Database)


def settings(holder: HasState) -> Settings:
    """The app's settings."""
    return _resource(holder, "settings", Settings)


def pubsub(holder: HasState) -> PubSub:
    """The app's pub/sub, for ``await pubsub(request).broadcast(topic, message)``.

    The same object ``socket.subscribe`` and ``socket.broadcast`` use: code with
    no socket (an HTTP endpoint, a background task) reaches every view with it.
    """
    # mypy takes no abstract class for type[T] (python/mypy#4717); isinstance does.
    return _resource(holder, "pubsub", PubSub)  # type: ignore[type-abstract]


def presence(holder: HasState) -> Presence:
    """Who is on which topic, in every process: ``await presence(socket).track(...)``."""
    return _resource(holder, "presence", Presence)


def _resource(holder: HasState, name: str, kind: type[T]) -> T:
    value = getattr(holder.state, name, None)
    if not isinstance(value, kind):
        raise RuntimeError(f"no {name} in the app's state: is the app's lifespan running?")
    return value
