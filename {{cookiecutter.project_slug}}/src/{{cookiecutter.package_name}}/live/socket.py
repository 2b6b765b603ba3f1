"""The socket a LiveView sees: its state, its title, navigation, and its real-time reach.

A connected socket can schedule messages to its own view (``schedule_info``)
and subscribe to pub/sub topics; both arrive in ``handle_info``. Everything it
started ends when the view closes, before ``disconnect`` runs.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
import typing as t
from dataclasses import dataclass
from urllib.parse import ParseResult, urlencode, urlsplit

from starlette.datastructures import State

from .async_result import (
    ASYNC_EVENT,
    AsyncDone,
    AsyncResult,
    AsyncTasks,
    Work,
    assign_results,
    get_key,
    set_key,
)
from .component import ComponentsManager, LiveComponent
from .pubsub import PubSub, PubSubError, Subscription
from .pubsub.memory import MemoryPubSub
from .scheduler import Deliver, Job, Scheduler
from .uploads.config import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CHUNK_TIMEOUT,
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_FILE_SIZE,
    UploadConfig,
    UploadEntry,
    UploadError,
)

Context = t.TypeVar("Context")
SHOWN_CHARS = 200  # of a refused URL, in the exception's message
EXTERNAL_SCHEMES = ("http", "https")
MISREAD_CHARS = re.compile(r"[\\\x00-\x1f\x7f]")  # a backslash or a control character


logger = logging.getLogger(__name__)
Cleanup = t.Callable[[], t.Awaitable[None]]
# ``allow_upload``'s ``progress``: called with the upload's name, the entry and the socket.
Progress = t.Callable[[str, UploadEntry, "ConnectedLiveViewSocket[t.Any]"], t.Any]


@dataclasses.dataclass(frozen=True)
class InfoEvent:
    """A message for ``handle_info``: a scheduled tick, or a broadcast (``name`` is its topic).

    ``InfoEvent(RESYNC, topic)`` says broadcasts on ``topic`` may have been
    missed (the pub/sub was away): reload what the view shows from them.
    ``coalesced`` counts the earlier broadcasts on the topic this one replaced
    while the view was behind (see ``inbox``): if it is not 0, some were
    never handled, and a view that acts only on some messages should reload.
    (It is not compared: an event equals another of the same name and payload.)
    """

    name: str
    payload: t.Any = None
    coalesced: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True)
class Broadcast:
    """How a broadcast on ``topic`` is keyed in its view's mailbox (broadcasts coalesce there)."""

    topic: str


class UnsafeRedirect(ValueError):
    """A navigation target that could send the browser to another site (an open redirect)."""


@dataclass(frozen=True)
class Navigation:
    """A navigation a handler asked for; the runtime carries it out afterwards.

    ``kind`` is ``"patch"`` (same view, new params), ``"navigate"`` (another
    LiveView over the same connection) or ``"redirect"`` (a full page load).
    """

    kind: t.Literal["patch", "navigate", "redirect"]
    to: str
    replace: bool = False


class LiveViewSocket(t.Generic[Context]):
    """The socket of the HTTP render: state only, nothing is pushed."""

    connected: t.ClassVar[bool] = False

    def __init__(self, url: ParseResult, pubsub: PubSub | None = None) -> None:
        self.context: Context = t.cast(Context, None)
        self.live_title: str | None = None
        self.url = url
        self.navigation: Navigation | None = None
        self.pushed_events: list[list[t.Any]] = []
        self.flash: dict[str, str] = {}
        # Where the app is mounted ("" at the root); templates see it as ``root_path``.
        self.root_path = ""
        self.uploads: dict[str, UploadConfig] = {}  # templates see it as ``uploads``
        # The app's lifespan state (``request.state``): its database, settings, pub/sub.
        self.state = State()
        self.components = ComponentsManager(self)  # the view's LiveComponents
        self._pubsub = pubsub

    async def push_patch(
        self, path: str, params: t.Mapping[str, t.Any] | None = None, *, replace: bool = False
    ) -> None:
        """Change the URL of this view: ``handle_params`` runs again, ``mount`` does not."""
        self.navigation = Navigation("patch", _local(path, "push_patch", params), replace)

    async def push_navigate(
        self, path: str, params: t.Mapping[str, t.Any] | None = None, *, replace: bool = False
    ) -> None:
        """Go to another LiveView without a page load (a new ``mount``)."""
        self.navigation = Navigation("navigate", _local(path, "push_navigate", params), replace)

    async def redirect(self, path: str, params: t.Mapping[str, t.Any] | None = None) -> None:
        """Leave the LiveView with a full page load (e.g. to a non-live route of this site)."""
        self.navigation = Navigation("redirect", _local(path, "redirect", params))

    async def redirect_external(self, url: str) -> None:
        """Leave for another site, ``https://…`` or ``http://…``: the one way off this site.

        Navigation's other methods take paths only, so a URL built from user
        input can never send the browser elsewhere by accident.
        """
        self.navigation = Navigation("redirect", _external(url))

    def send_update(
        self, component: type[LiveComponent[t.Any]], id: t.Hashable, **assigns: t.Any
    ) -> None:
        """Call a rendered component's ``update`` with ``assigns``, then render it."""
        self.components.send_update(component, id, assigns)

    def put_flash(self, kind: str, message: str) -> None:
        """Show ``message`` as the ``kind`` flash (``flash`` in templates); survives navigation."""
        self.flash[kind] = message

    def clear_flash(self, kind: str | None = None) -> None:
        """Remove one flash, or all (the browser's ``phx-click="lv:clear-flash"`` does this)."""
        if kind is None:
            self.flash.clear()
        else:
            self.flash.pop(kind, None)

    def allow_upload(
        self,
        name: str,
        *,
        accept: t.Sequence[str] = (),
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        chunk_timeout: float = DEFAULT_CHUNK_TIMEOUT,
        auto_upload: bool = False,
        progress: Progress | None = None,
    ) -> UploadConfig:
        """Accept files for ``name`` (``live_file_input(uploads.name)`` in the template).

        ``accept`` lists extensions (``".pdf"``) and types (``"image/*"``);
        sizes are bytes and ``chunk_timeout`` seconds. The server enforces
        every limit as the bytes arrive, whatever the browser declares.
        ``progress(name, entry, socket)`` (sync or async) runs after each of
        the client's progress events: ``entry.done`` says the file is whole.
        """
        if name in self.uploads:
            raise UploadError(f"allow_upload({name!r}) was called already for this view")
        config = UploadConfig(
            name,
            tuple(item.lower() for item in accept),
            max_entries,
            max_file_size,
            chunk_size,
            chunk_timeout,
            auto_upload,
            progress,
        )
        self.uploads[name] = config
        return config

    def cancel_upload(self, name: str, entry_ref: str) -> None:
        """Drop one chosen file (a cancel button's ``phx-value-ref``) and its bytes."""
        self._upload(name).cancel(entry_ref)

    def uploaded_entries(self, name: str) -> tuple[list[UploadEntry], list[UploadEntry]]:
        """The entries of ``name`` whose bytes have all arrived, and those still on their way."""
        entries = self._upload(name).entries
        return [e for e in entries if e.done], [e for e in entries if not e.done]

    async def consume_uploaded_entries(
        self, name: str, consume: t.Callable[[str, UploadEntry], t.Any]
    ) -> list[t.Any]:
        """Hand each complete file to ``consume(path, entry)`` (sync or async), then remove it.

        ``path`` is the temporary file: move or copy it somewhere lasting
        (``shutil.move``) inside ``consume``; whatever is left there after
        it returns is deleted. Returns what ``consume`` returned, in order.
        """
        config = self._upload(name)
        results = []
        for entry in config.done_entries:
            path = entry.path
            if path is None:
                continue  # its bytes are gone already (the view is closing)
            entry.stop_timer()  # it does not expire while ``consume`` has it
            try:
                result = consume(path, entry)
                if inspect.isawaitable(result):
                    result = await result
                results.append(result)
            finally:
                config.cancel(entry.ref)  # its bytes go, whatever consume did
        return results

    def _upload(self, name: str) -> UploadConfig:
        try:
            return self.uploads[name]
        except KeyError:
            raise UploadError(f"no upload named {name!r}: call socket.allow_upload first") from None

    def push_event(self, event: str, payload: t.Any = None) -> t.Awaitable[None]:
        """Send ``phx:<event>`` to the browser (window event and hooks' ``handleEvent``).

        Queued at once; the result may be awaited (``await socket.push_event(…)``
        as in PyView) or ignored.
        """
        self.pushed_events.append([event, {} if payload is None else payload])
        return _DONE

    async def broadcast(self, topic: str, message: t.Any) -> bool:
        """Send ``message`` to every subscriber of ``topic``, in every process; True once sent.

        Subscribers get ``handle_info(InfoEvent(topic, message))``. The message
        must be JSON (``TypeError``/``ValueError`` here otherwise). False when
        the pub/sub is unreachable (Redis is away): logged, and never the
        view's error, for what the view did before (a commit) stands; the
        subscribers get ``InfoEvent(RESYNC, topic)`` once it is back instead.
        """
        if self._pubsub is None:
            raise RuntimeError("this socket has no pub/sub: pass one to LiveRoutes(pubsub=...)")
        try:
            await self._pubsub.broadcast(topic, message)
        except PubSubError:
            return False
        return True

    # On the HTTP render nothing is live: these do nothing, as in PyView, so
    # ``mount`` may call them unconditionally.

    def schedule_info(self, event: InfoEvent, seconds: float) -> Job:
        """Deliver ``event`` to ``handle_info`` every ``seconds`` (connected sockets only)."""
        return Job()

    def schedule_info_once(self, event: InfoEvent, seconds: float | None = None) -> Job:
        """Deliver ``event`` to ``handle_info`` once, after ``seconds`` (connected only)."""
        return Job()

    def assign_async(self, keys: str | t.Sequence[str], work: Work, *, reset: bool = False) -> None:
        """Set ``keys`` of the context to loading ``AsyncResult``s, filled when ``work`` ends.

        ``work`` (async, or plain: run in a thread) returns the value of one
        key, or a dict with every key. It runs once connected; on the HTTP
        render the keys just show loading. ``reset`` drops the last result.
        """
        names = (keys,) if isinstance(keys, str) else tuple(keys)
        self._start_async(names, work)  # first: a closed view refuses, leaving the keys as they are
        for name in names:
            current = get_key(self.context, name)
            current = current if isinstance(current, AsyncResult) else AsyncResult()
            set_key(self.context, name, current.with_loading(reset))

    def start_async(self, name: str, work: Work) -> None:
        """Run ``work``; its ``AsyncResult`` goes to ``handle_async(name, result, socket)``."""
        self._start_async(name, work)

    def cancel_async(self, key: str | t.Sequence[str]) -> bool:
        """Stop the work of ``start_async(name)`` or ``assign_async(keys)``; False if none runs.

        A name stops both ``start_async(name)`` and ``assign_async(name)``; a
        list stops ``assign_async`` of those keys. The result still arrives,
        failed with ``Cancelled``.
        """
        return False

    def _start_async(self, key: str | tuple[str, ...], work: Work) -> None:
        """Nothing runs on the HTTP render."""

    async def subscribe(self, topic: str) -> None:
        """Receive the broadcasts on ``topic`` in ``handle_info`` (connected sockets only).

        Works while the pub/sub is away: the subscription is made when it is
        back, followed by ``InfoEvent(RESYNC, topic)``.
        """

    async def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic``'s broadcasts."""


class ConnectedLiveViewSocket(LiveViewSocket[Context]):
    """The socket of a joined LiveView, live over the WebSocket."""

    connected: t.ClassVar[bool] = True

    def __init__(
        self,
        url: ParseResult,
        pubsub: PubSub | None = None,
        deliver: Deliver | None = None,
        *,
        max_jobs: int = 100,
        max_subscriptions: int = 100,
        max_presences: int = 10,
        max_async: int = 10,
    ) -> None:
        """The runtime passes ``pubsub`` and ``deliver`` (into the view's mailbox); a unit
        test of a view may leave them out: broadcasts stay in memory, infos go nowhere."""
        pubsub = pubsub or MemoryPubSub()
        super().__init__(url, pubsub)
        self._pubsub: PubSub = pubsub
        self._deliver = deliver or _nowhere
        self._scheduler = Scheduler(self._deliver, max_jobs)
        self._async = AsyncTasks(self._async_done, max_async)
        self._max_subscriptions = max_subscriptions
        self.max_presences = max_presences  # checked by ``Presence.track``
        self._subscriptions: dict[str, Subscription] = {}
        self._cleanups: list[Cleanup] = []
        self._closed = False

    def schedule_info(self, event: InfoEvent, seconds: float) -> Job:
        self._check_open()
        return self._scheduler.every(event, seconds)

    def schedule_info_once(self, event: InfoEvent, seconds: float | None = None) -> Job:
        self._check_open()
        return self._scheduler.once(event, seconds)

    def cancel_async(self, key: str | t.Sequence[str]) -> bool:
        if isinstance(key, str):
            started, assigned = self._async.cancel(key), self._async.cancel((key,))
            return started or assigned
        return self._async.cancel(tuple(key))

    def _start_async(self, key: str | tuple[str, ...], work: Work) -> None:
        self._check_open()
        self._async.start(key, work)

    def _async_done(self, done: AsyncDone) -> None:
        """Queue work's outcome like an info (its own key: it never coalesces)."""
        self._deliver(InfoEvent(ASYNC_EVENT, done), done.token)

    async def finish_async(
        self,
        done: AsyncDone,
        handle_async: t.Callable[[str, AsyncResult[t.Any], t.Any], t.Awaitable[None]],
    ) -> None:
        """Apply work's outcome (the view's mailbox hands it over): assign it, or call
        ``handle_async``. The outcome of work replaced or closed since is dropped."""
        if not self._async.finish(done):
            return
        if isinstance(done.key, tuple):
            assign_results(self.context, done.key, done.outcome)
        else:
            await handle_async(done.key, done.outcome, self)

    async def subscribe(self, topic: str) -> None:
        self._check_open()
        if topic in self._subscriptions:
            return
        if len(self._subscriptions) >= self._max_subscriptions:
            raise RuntimeError(f"a view may subscribe to at most {self._max_subscriptions} topics")
        subscription = await self._pubsub.subscribe(topic, self._received)
        if self._closed or topic in self._subscriptions:  # closed, or subscribed, meanwhile
            await self._pubsub.unsubscribe(subscription)
            self._check_open()
            return
        self._subscriptions[topic] = subscription

    async def unsubscribe(self, topic: str) -> None:
        subscription = self._subscriptions.pop(topic, None)
        if subscription is not None:
            await self._pubsub.unsubscribe(subscription)

    def cleanup(self, callback: Cleanup) -> None:
        """Run ``callback`` when this view closes, before ``disconnect`` (presence uses it)."""
        self._check_open()
        self._cleanups.append(callback)

    def _check_open(self) -> None:
        """Nothing may start on a closed view: nothing would ever stop it."""
        if self._closed:
            raise RuntimeError("this view is closed: jobs, subscriptions and cleanups are refused")

    @property
    def jobs(self) -> int:
        """How many scheduled jobs are live (for tests and leak checks)."""
        return len(self._scheduler)

    @property
    def subscriptions(self) -> list[str]:
        return list(self._subscriptions)

    def _received(self, topic: str, event: str, message: t.Any) -> None:
        self._deliver(InfoEvent(event, message), Broadcast(topic))

    async def close(self) -> None:
        """The view is closing: stop its jobs, uploads, subscriptions and cleanups, in order."""
        self._closed = True
        self._scheduler.cancel_all()
        self._async.close()
        for config in self.uploads.values():
            config.close()
        subscriptions, self._subscriptions = list(self._subscriptions.values()), {}
        cleanups, self._cleanups = self._cleanups, []
        for subscription in subscriptions:
            try:
                await self._pubsub.unsubscribe(subscription)
            except Exception:
                logger.exception("unsubscribing from %r failed", subscription.topic)
        for callback in reversed(cleanups):
            try:
                await callback()
            except Exception:
                logger.exception("a cleanup of a closing view failed")


def is_connected(socket: LiveViewSocket[t.Any]) -> bool:
    """True once the browser has joined over the WebSocket (not during the HTTP render)."""
    return socket.connected


def _nowhere(event: InfoEvent, key: t.Hashable | None) -> None:
    """Where a socket with no view delivers its infos."""


class _Done:
    """An awaitable that has already finished: awaiting it returns ``None`` at once."""

    __slots__ = ()

    def __await__(self) -> t.Generator[None, None, None]:
        yield from ()


_DONE = _Done()


def _local(path: str, method: str, params: t.Mapping[str, t.Any] | None) -> str:
    """``path`` with ``params`` added, once it is sure to stay on this site.

    Browsers read ``\\`` as ``/`` and drop tabs and newlines anywhere, so
    ``/\\evil.example`` and ``/\\t/evil.example`` are ``//evil.example``: another
    host. A path is one ``/`` then anything but a backslash or a control
    character; percent-escapes stay part of the path.
    """
    if not path.startswith("/") or path.startswith("//") or not _plain(path):
        raise UnsafeRedirect(
            f"{method}() takes a path on this site, such as '/items?page=2', not "
            f"{_shown(path)}: a scheme, a host ('//…'), a backslash or a control character "
            "could send the browser to another site. Leave the site with "
            "socket.redirect_external(url)."
        )
    if not params:
        return path
    separator = "&" if "?" in path else "?"
    return path + separator + urlencode(params, doseq=True)


def _external(url: str) -> str:
    """``url`` once it is an absolute http(s) URL with a host, read alike by Python and browsers."""
    try:
        parts = urlsplit(url)  # which ignores leading spaces, unlike a Location header
        valid = parts.scheme in EXTERNAL_SCHEMES and bool(parts.hostname)
        valid = valid and _plain(url) and url == url.strip()
    except ValueError:  # e.g. an unclosed IPv6 bracket
        valid = False
    if not valid:
        raise UnsafeRedirect(
            "redirect_external() takes an absolute http or https URL, such as "
            f"'https://example.com/docs', not {_shown(url)}."
        )
    return url


def _plain(url: str) -> bool:
    """No backslash and no control character: nothing a browser reads differently from us."""
    return MISREAD_CHARS.search(url) is None


def _shown(url: str) -> str:
    return repr(url[:SHOWN_CHARS]) + ("…" if len(url) > SHOWN_CHARS else "")
