"""One ``lv:`` topic of a socket: its mailbox, the view joined on it, render → diff → reply.

Each topic has its own mailbox and worker, so a view's joins, events,
patches and infos (``handle_info``: its scheduled ticks and broadcasts) run
one at a time, in arrival order, while a slow view never holds up the others
on the same socket. The client's messages wait in a bounded queue (a full one
stops reading the socket); infos, which others send, wait in an ``Inbox``
that coalesces them when the view falls behind, so a burst elsewhere slows a
view's updates but never crashes it. Every message gets exactly one reply; an
info's changes are pushed as a ``diff``. A view that raises is dropped
(``disconnect`` runs) and told to rejoin, as Phoenix's "let it crash" does.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import typing as t
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import ParseResult, urljoin, urlparse

import jinja2
from starlette.exceptions import HTTPException

from .async_result import is_async_done
from .binding import BindingError
from .diff import diff_tree
from .flag import Flag
from .inbox import Inbox, Info, held_back, orders
from .lifecycle import call_handle_event, call_handle_params, mount_view
from .logs import clip
from .memo import Memo
from .protocol import Message, Reply, encode_frame, error, frame_head, reply_frame
from .router import view_id
from .session import InvalidToken, csrf_valid
from .shared_statics import share_statics
from .socket import ConnectedLiveViewSocket, InfoEvent, Navigation
from .tree import Tree, forget_streams
from .uploads.config import Holding, UploadConfig, UploadEntry
from .view import LiveView, UnhandledEvent

if t.TYPE_CHECKING:
    from .transport import Transport

LIVEVIEW_VERSION = "1.2.12"
CLEAR_FLASH = "lv:clear-flash"  # handled here, as Phoenix does: phx-value-key names the flash
MAX_PATCHES = 10  # push_patch from handle_params may chain; a loop is a bug
MAX_UPLOADS_PER_EVENT = 10  # file inputs of one form, at most, that a change reports
# Queued by an upload channel when an entry changed (failed, timed out): render, no handle_info.
REFRESH = InfoEvent("phx:upload-changed")
logger = logging.getLogger(__name__)
# The line an event the server cannot handle logs: a warning (at most so many a minute
# per socket), and every one at DEBUG on ``refusals``, where the test client listens.
REFUSED = "event %s on %s refused: %s"
refusals = logging.getLogger(f"{__name__}.refused")


@dataclass
class JoinedView:
    """A LiveView joined on a topic: the view, its socket and what the client holds."""

    join_ref: str | None
    view: LiveView[t.Any]
    socket: ConnectedLiveViewSocket[t.Any]
    path_params: dict[str, t.Any]
    tree: Tree = field(default_factory=dict)
    title: str | None = None
    memo: Memo = field(default_factory=Memo)
    since: float = field(default_factory=time.monotonic)  # when the join began
    diff_head: str = ""  # its diff pushes' frame up to the payload (``frame_head``), once made


class LiveChannel:
    """The messages of one ``lv:<container id>`` topic, handled in arrival order.

    Its worker (a task) and its queues exist while there is something to do:
    an idle joined view holds no task and no queue, and a message or an info
    starts a worker, which ends once everything queued is handled.
    """

    def __init__(self, transport: Transport, topic: str) -> None:
        self.topic = topic
        self.transport = transport
        self.routes = transport.routes
        self.joined: JoinedView | None = None
        self.finished = False  # the channel ended: the socket routes nothing here any more
        config = transport.config
        self._messages: deque[tuple[int, Message]] | None = None  # the client's, with their order
        self._room = Flag(True)  # set while the client's queue has room
        self._inbox: Inbox | None = None
        # The one info queued while no other is: an inbox of one, none made for it. A second
        # info makes the inbox, which takes both (there is never a lone info and an inbox).
        self._lone: Info | None = None
        # Infos that coalesce with nothing (one-off jobs) a view may let wait: past this, the
        # view keeps scheduling them faster than it handles them, a bug of its own.
        self._inbox_limit = config.info_backlog + config.max_jobs + 2 * config.max_subscriptions
        self._wake = Flag()  # set when something was queued, or on close
        self._closing = False
        self._overflowed: ConnectedLiveViewSocket[t.Any] | None = None
        self._worker: asyncio.Task[None] | None = None

    async def deliver(self, message: Message) -> bool:
        """Queue ``message``; waits while the mailbox is full, which stops the socket's reader.

        False when the channel finished meanwhile: nobody will read the message.
        """
        limit = self.transport.config.mailbox_size
        while self._messages is not None and len(self._messages) >= limit and not self.finished:
            self._room.clear()
            await self._room.wait()
        if self.finished:
            return False
        if self._messages is None:
            self._messages = deque()
        self._messages.append((next(orders), message))
        self._queued()
        return True

    def deliver_info(
        self, socket: ConnectedLiveViewSocket[t.Any], event: InfoEvent, key: t.Hashable | None
    ) -> None:
        """Queue an info without waiting: a scheduler or pub/sub must never block on a view.

        ``key`` says what it coalesces with (see ``inbox``). A view that lets
        more one-off infos wait than it could ever have jobs crashes, and the
        client's rejoin mounts it afresh.
        """
        if self.finished or self.transport.closed:
            return
        if self._inbox is None:
            if self._lone is None and not held_back(event, key):
                self._lone = Info(event, socket, key, next(orders))
                self._queued()
                return
            config = self.transport.config
            self._inbox = Inbox(config.info_backlog, config.presence_interval)
            if self._lone is not None:
                self._inbox.put(self._lone, self.transport.loop.time())
                self._lone = None
        if key is None and len(self._inbox) >= self._inbox_limit:
            self.transport.log.warning("%s cannot keep up with infos: %s", self.topic, event.name)
            self._overflowed = socket
        else:
            info = Info(event, socket, key, next(orders))
            self._inbox.put(info, self.transport.loop.time())
        self._queued()

    def _queued(self) -> None:
        """Something was queued: wake the worker, or start one."""
        self._wake.set()
        if self._worker is None and not self._closing:
            self._worker = self.transport.loop.create_task(self._work())

    async def close(self) -> None:
        """The socket closed: drop what is queued, let a running handler finish, clean up.

        As in Phoenix, queued messages are dropped (nobody is left to read
        their replies), but a handler already running may finish its work,
        say a database write, for up to ``close_grace`` seconds.
        """
        self._discard_queued()
        self._closing = True
        self._wake.set()
        worker = self._worker
        if worker is not None:
            done, _ = await asyncio.wait({worker}, timeout=self.transport.config.close_grace)
            if not done:
                logger.warning(
                    "a handler on %s outlived the close grace; cancelled", clip(self.topic)
                )
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
        self._finish()
        await self._drop()

    # -- the worker ----------------------------------------------------------

    async def _work(self) -> None:
        idle = False
        try:
            while not self._closing:
                item = self._take()
                if item is None:
                    due = None if self._inbox is None else self._inbox.due()
                    if due is None:
                        idle = True  # nothing to do, nor anything held back for later
                        return
                    await self._sleep(due)
                    continue
                if self._overflowed is not None:
                    await self._overflow()
                if self.transport.closed:
                    pass
                elif isinstance(item, Info):
                    if self.joined is not None and self.joined.socket is item.socket:
                        await self._info(self.joined, item.event)
                else:
                    await self._process(item)
                # Nothing more: a view joined rests. One that left takes a turn first, in
                # which a reader waiting for room in its mailbox puts its message (a rejoin).
                if self.joined is not None and not (self._lone or self._inbox or self._messages):
                    idle = not self._closing
                    return
                await asyncio.sleep(0)  # a reader waiting on a full mailbox puts its message now
                if self.joined is None and not self._messages:
                    return
        finally:
            self._worker = None
            if idle and self.joined is not None:
                self._rest()
            else:
                # However else the worker ends, the socket stops routing here and what
                # is still queued gives its share of the socket's budget back.
                self._finish()

    def _rest(self) -> None:
        """The worker is done with everything queued: let go of the empty queues."""
        self._messages = None
        if self._inbox is not None and self._inbox.settled(self.transport.loop.time()):
            self._inbox = None

    def _finish(self) -> None:
        self.finished = True
        self.transport.forget(self)
        self._discard_queued()

    def _take(self) -> Message | Info | None:
        """The oldest of the client's messages and the infos due, or None when none is."""
        inbox, messages = self._inbox, self._messages
        now = 0.0 if inbox is None else self.transport.loop.time()
        info = self._lone if inbox is None else inbox.first(now)
        if messages and (info is None or messages[0][0] < info.order):
            message = messages.popleft()[1]
            self.transport.dequeued(message)
            self._room.set()
            return message
        if inbox is not None:
            return None if info is None else inbox.pop(info, now)
        self._lone = None  # taken, if there was one
        return info

    async def _sleep(self, due: float) -> None:
        """Until something is queued, or ``due``: when an info held back may be handed out."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(due):
                await self._wake.wait()

    def _discard_queued(self) -> None:
        for _, message in self._messages or ():
            self.transport.dequeued(message)
        self._messages = None
        self._lone = None
        if self._inbox is not None:
            self._inbox.clear()
        self._room.set()  # a reader waiting for room finds the channel finished

    async def _overflow(self) -> None:
        """The view that could not keep up crashes (if it is still the one joined)."""
        socket, self._overflowed = self._overflowed, None
        if self.joined is not None and self.joined.socket is socket:
            await self._crash(None)

    async def _process(self, message: Message) -> None:
        try:
            try:
                status, response = "ok", await self._handle(message)
            except Reply as reply:
                if "reason" in reply.response:  # not a navigation refusing a join
                    self.transport.log.warning(
                        "%s on %s: %s", message.event, self.topic, reply.response
                    )
                status, response = reply.status, reply.response
            # Replying is inside: any reply that cannot be encoded crashes the view.
            await self._reply(message, status, response)
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and _cancelling():
                raise  # this worker is being cancelled (the close grace ran out)
            # A view's own CancelledError (it awaited a task cancelled elsewhere)
            # is a crash like any other.
            logger.exception("LiveView crashed on %s %s", clip(self.topic), clip(message.event))
            await self._crash(message)

    async def _info(self, joined: JoinedView, event: InfoEvent) -> None:
        """``handle_info``, then push what changed: navigation first, then the diff.

        A view with nothing of its own to push but its render may share that
        with the views the same broadcast reached (``shared_renders``).
        """
        try:
            if is_async_done(event):
                await joined.socket.finish_async(event.payload, joined.view.handle_async)
            elif event is not REFRESH:
                await joined.view.handle_info(event, joined.socket)
            if self._alone(joined):
                frame = await self._shared_update(joined)
                if frame:
                    await self.transport.send(frame)
            else:
                response = await self._update(joined)
                for kind in ("live_patch", "redirect", "live_redirect", "diff"):
                    if kind in response:
                        await self.transport.send(
                            encode_frame(joined.join_ref, None, self.topic, kind, response[kind])
                        )
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and _cancelling():
                raise
            logger.exception(
                "LiveView crashed in handle_info(%s) on %s", clip(event.name), clip(self.topic)
            )
            await self._crash(None)

    async def _reply(self, message: Message, status: str, response: dict[str, t.Any]) -> None:
        await self.transport.send(reply_frame(message, status, response))

    async def _crash(self, message: Message | None) -> None:
        """Phoenix's "let it crash": the client shows its error and rejoins (a fresh mount).

        A socket whose views keep crashing has its joins slowed (``crashes.py``).
        """
        joined = self.joined
        self.transport.crashes.crashed(0.0 if joined is None else time.monotonic() - joined.since)
        if message is not None:
            await self._reply(message, "error", {"reason": "crash"})
        if joined is not None:
            await self._drop()
            await self.transport.send(
                encode_frame(
                    joined.join_ref,
                    joined.join_ref,
                    self.topic,
                    "phx_error",
                    {"reason": "channel_crash"},
                )
            )

    async def _drop(self) -> None:
        """Forget the joined view and let it clean up."""
        joined, self.joined = self.joined, None
        if joined is not None:
            await joined.socket.close()  # its jobs, subscriptions, presences: before disconnect
            try:
                await joined.view.disconnect(joined.socket)
            except Exception:
                logger.exception("disconnect() failed for %s", type(joined.view).__name__)

    # -- messages ------------------------------------------------------------

    async def _handle(self, message: Message) -> dict[str, t.Any]:
        if not isinstance(message.payload, dict):
            raise error("malformed payload")
        if message.event == "phx_join":
            return await self._join(message.join_ref, message.payload)
        joined = self.joined
        if joined is None or joined.join_ref != message.join_ref:
            raise error("unmatched topic")
        handler = _HANDLERS.get(message.event)
        if handler is None:
            raise error("unknown event")
        return await handler(self, joined, message.payload)

    async def _join(self, join_ref: str | None, payload: dict[str, t.Any]) -> dict[str, t.Any]:
        await self._drop()  # a rejoin replaces the view
        websocket = self.transport.websocket
        params = payload.get("params")
        if not isinstance(params, dict) or not csrf_valid(
            websocket.session, params.get("_csrf_token")
        ):
            raise error("unauthorized")
        try:
            live_session = self.routes.tokens.verify(payload.get("session"), websocket.session)
        except InvalidToken as exc:
            raise error(exc.reason) from exc
        if self.topic != f"lv:{live_session.container_id}":
            raise error("unauthorized")  # a token of another container
        navigating = "redirect" in payload
        parsed = self._own_url(payload.get("redirect" if navigating else "url"))
        found = self.routes.match(parsed.path, self.transport.root_path)
        # A page's token joins the view it was rendered for; live navigation
        # may reach any view of the app, as Phoenix's live_session allows.
        if found is None or not navigating and view_id(found.view_class) != live_session.view:
            raise error("unauthorized")  # the client falls back to a page load
        await self._pace()
        config = self.transport.config

        def deliver(event: InfoEvent, key: t.Hashable | None) -> None:
            self.deliver_info(socket, event, key)

        socket: ConnectedLiveViewSocket[t.Any] = ConnectedLiveViewSocket(
            parsed,
            self.routes.pubsub,
            deliver,
            max_jobs=config.max_jobs,
            max_subscriptions=config.max_subscriptions,
            max_presences=config.max_presences,
            max_async=config.max_async,
        )
        socket.state = websocket.state
        socket.root_path = self.transport.root_path
        if not navigating and params.get("_mounts") == 0:
            socket.flash.update(live_session.flash)  # the page's flash, on its first join only
        socket.flash.update(self.routes.flash_signer.loads(payload.get("flash")) or {})
        joined = JoinedView(join_ref, found.view_class(), socket, found.path_params)
        try:
            response = await self._mount(joined, live_session.session)
        except BaseException:
            self.joined = joined  # mounted, never joined: it still cleans up
            await self._drop()
            raise
        rendered = share_statics(joined.tree)
        forget_streams(joined.tree)  # the reply holds copies of their rows
        self._view_parts(joined, rendered)
        self.joined = joined
        return {**response, "rendered": rendered, "liveview_version": LIVEVIEW_VERSION}

    async def _pace(self) -> None:
        """Wait before mounting when this socket's views keep crashing: no crash loop."""
        crashes = self.transport.crashes
        delay = crashes.delay()
        if delay:
            self.transport.log.warning(
                "views on this socket crashed %s times in a row: %s joins in %s s",
                crashes.streak,
                self.topic,
                delay,
            )
            await asyncio.sleep(delay)

    def _own_url(self, url: t.Any) -> ParseResult:
        """A join's URL, which must be a well-formed URL of this very host."""
        if not isinstance(url, str):
            raise error("unauthorized")
        try:
            parsed = urlparse(url)
            parsed.port  # noqa: B018 -- raises ValueError on a malformed port
        except ValueError as exc:
            raise error("invalid url") from exc
        if parsed.scheme not in ("http", "https") or not self.transport.same_host(parsed.netloc):
            raise error("unauthorized")
        return parsed

    async def _mount(self, joined: JoinedView, session: dict[str, t.Any]) -> dict[str, t.Any]:
        """Mount, ``handle_params`` and render a joining view; navigation refuses the join."""
        response: dict[str, t.Any] = {}
        try:
            await mount_view(joined.view, joined.socket, session, joined.path_params)
        except BindingError as exc:
            raise error(str(exc)) from exc
        except HTTPException as exc:
            # As Phoenix answers a mount that raised a 404: the client loads
            # the page, whose HTTP render shows the error with its status.
            raise error("reload", status=exc.status_code) from exc
        patched = await self._follow_patches(joined)
        navigation = self._take_navigation(joined)
        if navigation is not None:
            raise Reply("error", navigation)
        if patched:
            response["live_patch"] = patched
        joined.tree = await self._render(joined)
        return response

    async def _event(self, joined: JoinedView, payload: dict[str, t.Any]) -> dict[str, t.Any]:
        event = payload.get("event")
        if not isinstance(event, str):
            raise error("malformed payload")
        if event == CLEAR_FLASH:
            value = payload.get("value")
            key = value.get("key") if isinstance(value, dict) else None
            joined.socket.clear_flash(key if isinstance(key, str) else None)
            return await self._update(joined)
        uploads = payload.get("uploads")
        if isinstance(uploads, dict):  # a form change lists the files chosen in it
            for ref, entries in list(uploads.items())[:MAX_UPLOADS_PER_EVENT]:
                config = self._upload_config(joined, ref)
                if config is not None:
                    config.put_entries(entries)
        components, cid = joined.socket.components, payload.get("cid")
        if cid is not None and (type(cid) is not int or cid not in components):
            return await self._refuse(joined, event, "no such component")  # destroyed, forged
        parent_events, alone = components.parent_events, cid is not None
        reply = None
        try:
            if cid is None:
                reply = await call_handle_event(joined.view, joined.socket, event, payload)
            else:
                reply = await components.handle_event(cid, event, payload)
        except BindingError as exc:
            # The person at the browser sees what was wrong; the view decides how.
            logger.info("event %s on %s: %s", clip(event), clip(self.topic), exc)
            await joined.view.handle_binding_error(joined.socket, event, exc)
            alone = False
        except UnhandledEvent:
            return await self._refuse(joined, event, "unhandled")
        # A component that did not call its view renders alone, as in Phoenix.
        alone = alone and components.parent_events == parent_events
        response = await self._update(joined, view=not alone)
        if reply is not None:  # a hook's pushEvent(To) callback reads it from the diff's "r"
            response.setdefault("diff", {})["r"] = reply
        return response

    async def _refuse(self, joined: JoinedView, event: str, reason: str) -> dict[str, t.Any]:
        """An event the server cannot handle is logged and answered ``ok``, as Phoenix does:
        an error reply would leave the client's button or form loading (and locked) for good.
        What changed before the refusal (files chosen in the form) is rendered all the same."""
        refusals.debug(REFUSED, clip(event), clip(self.topic), clip(reason))
        self.transport.log.warning(REFUSED, event, self.topic, reason)
        return await self._update(joined)

    async def _live_patch(self, joined: JoinedView, payload: dict[str, t.Any]) -> dict[str, t.Any]:
        url = payload.get("url")
        if not isinstance(url, str):
            raise error("malformed payload")
        target = self._patch_target(joined, url)
        if target is None:
            return {"link_redirect": True}
        try:
            await self._handle_params(joined, *target)
        except Reply as refused:
            # A link whose params do not bind: load it, and the page says why
            # (a 400 in the layout), as if the URL had been typed.
            logger.info("live_patch to %s: %s", clip(url), refused.response.get("reason"))
            return {"redirect": {"to": url}}
        return await self._update(joined)

    async def _allow_upload(
        self, joined: JoinedView, payload: dict[str, t.Any]
    ) -> dict[str, t.Any]:
        """The preflight: a token per entry that may upload now, or why none may."""
        config = self._upload_config(joined, payload.get("ref"))
        entries = payload.get("entries")
        if config is None or not isinstance(entries, list):
            raise error("no such upload")
        limits = self.transport.config
        holding = Holding(
            self.transport.upload_budget.reserve,
            limits.upload_min_rate,
            limits.upload_expiry,
            self._refresher(joined.socket),
            self.transport.reading_time,
        )
        checked = config.preflight(entries, holding)
        response: dict[str, t.Any] = {"ref": config.ref}
        if "error" in checked:
            response["error"] = checked["error"]
        else:
            response["config"] = config.client_config()
            response["entries"] = {
                entry.ref: self.routes.upload_tokens.dumps(
                    {"v": self.topic, "u": config.ref, "e": entry.ref}
                )
                for entry in checked["entries"]
            }
        return {**await self._update(joined), **response}

    async def _progress(self, joined: JoinedView, payload: dict[str, t.Any]) -> dict[str, t.Any]:
        config = self._upload_config(joined, payload.get("ref"))
        entry = None if config is None else config.entry(payload.get("entry_ref"))
        if config is not None and entry is not None:
            config.progress(entry.ref, payload.get("progress"))
            if config.progress_callback is not None:
                result = config.progress_callback(config.name, entry, joined.socket)
                if inspect.isawaitable(result):
                    await result
        return await self._update(joined)

    @staticmethod
    def _upload_config(joined: JoinedView, ref: t.Any) -> UploadConfig | None:
        return next((c for c in joined.socket.uploads.values() if c.ref == ref), None)

    def upload_entry(
        self, upload_ref: t.Any, entry_ref: t.Any
    ) -> tuple[UploadConfig, UploadEntry, t.Callable[[], None]] | None:
        """For the upload channel: an entry of this view, and how to show its changes."""
        joined = self.joined
        config = None if joined is None else self._upload_config(joined, upload_ref)
        entry = None if config is None else config.entry(entry_ref)
        if joined is None or config is None or entry is None:
            return None
        return config, entry, self._refresher(joined.socket)

    def _refresher(self, socket: ConnectedLiveViewSocket[t.Any]) -> t.Callable[[], None]:
        """How an upload shows the view a change of its own (an entry failed, or expired)."""
        return lambda: self.deliver_info(socket, REFRESH, REFRESH.name)

    async def _leave(self, joined: JoinedView, payload: dict[str, t.Any]) -> dict[str, t.Any]:
        await self._drop()
        return {}

    async def _cids_will_destroy(
        self, joined: JoinedView, payload: dict[str, t.Any]
    ) -> dict[str, t.Any]:
        joined.socket.components.will_destroy(_cids(payload))
        return {}

    async def _cids_destroyed(
        self, joined: JoinedView, payload: dict[str, t.Any]
    ) -> dict[str, t.Any]:
        return {"cids": joined.socket.components.destroyed(_cids(payload))}

    # -- steps ---------------------------------------------------------------

    def _patch_target(
        self, joined: JoinedView, url: str
    ) -> tuple[ParseResult, dict[str, t.Any]] | None:
        """The URL and path params of a patch that stays in this view, or None.

        A URL on another host, of another view, or malformed is never a patch.
        """
        try:
            parsed = urlparse(urljoin(joined.socket.url.geturl(), url))
        except ValueError:
            return None
        if parsed.netloc != joined.socket.url.netloc or parsed.scheme != joined.socket.url.scheme:
            return None
        found = self.routes.match(parsed.path, self.transport.root_path)
        if found is None or found.view_class is not type(joined.view):
            return None
        return parsed, found.path_params

    async def _handle_params(
        self,
        joined: JoinedView,
        url: ParseResult | None = None,
        path_params: dict[str, t.Any] | None = None,
    ) -> None:
        """``handle_params``, at a new URL when given; a URL refused (its params fail to
        bind, or an ``HTTPException``) is undone."""
        previous = joined.socket.url, joined.path_params
        if url is not None and path_params is not None:
            joined.socket.url, joined.path_params = url, path_params
        try:
            await call_handle_params(joined.view, joined.socket, joined.path_params)
        except BindingError as exc:
            joined.socket.url, joined.path_params = previous
            raise error(str(exc)) from exc
        except HTTPException as exc:
            joined.socket.url, joined.path_params = previous
            raise error("reload", status=exc.status_code) from exc

    async def _follow_patches(self, joined: JoinedView) -> dict[str, str] | None:
        """Run ``handle_params`` for each ``push_patch`` to this same view; report the last."""
        patched = None
        for _ in range(MAX_PATCHES):
            navigation = joined.socket.navigation
            if navigation is None or navigation.kind != "patch":
                return patched
            to = self._browser_url(navigation.to)
            target = self._patch_target(joined, to)
            if target is None:
                joined.socket.navigation = Navigation("navigate", navigation.to, navigation.replace)
                return patched
            joined.socket.navigation = None
            await self._handle_params(joined, *target)
            patched = {"to": to, "kind": "replace" if navigation.replace else "push"}
        raise RuntimeError(f"push_patch keeps patching: more than {MAX_PATCHES} patches in a row")

    def _take_navigation(self, joined: JoinedView) -> dict[str, t.Any] | None:
        """The reply key for a navigate or redirect the handlers asked for, flash included."""
        socket = joined.socket
        navigation, socket.navigation = socket.navigation, None
        if navigation is None:
            return None
        target: dict[str, t.Any] = {"to": self._browser_url(navigation.to)}
        if socket.flash:
            target["flash"] = self.routes.flash_signer.dumps(socket.flash)
        if navigation.kind == "redirect":
            return {"redirect": target}
        return {"live_redirect": {**target, "kind": "replace" if navigation.replace else "push"}}

    def _browser_url(self, to: str) -> str:
        return self.routes.navigation_url(to, self.transport.root_path)

    async def _update(self, joined: JoinedView, view: bool = True) -> dict[str, t.Any]:
        """After a callback: follow navigation, then reply with the diff (of the components
        alone unless ``view``)."""
        response: dict[str, t.Any] = {}
        patched = await self._follow_patches(joined)
        if patched:
            response["live_patch"] = patched
        navigation = self._take_navigation(joined)
        if navigation is not None:
            return navigation
        diff: Tree = {}
        if view:
            diff = self._diff(joined, await self._render(joined))
        else:
            await joined.socket.components.render_components(self.routes.environment)
        self._view_parts(joined, diff)
        if diff:
            response["diff"] = diff
        return response

    @staticmethod
    def _diff(joined: JoinedView, tree: Tree) -> Tree:
        """The diff from what the client has to ``tree``, which it has next."""
        diff = share_statics(diff_tree(joined.tree, tree))
        forget_streams(tree)  # the diff holds copies of their rows
        joined.tree = tree
        return diff

    @staticmethod
    def _view_parts(joined: JoinedView, message: Tree) -> None:
        """Add the components rendered since the last message (``c``), a changed title
        (``t``) and pushed events (``e``) to a join or diff."""
        socket = joined.socket
        changes = socket.components.changes()
        if changes:
            message["c"] = changes
        if socket.live_title != joined.title:
            joined.title = socket.live_title
            message["t"] = joined.title or ""
        if socket.pushed_events:
            message["e"], socket.pushed_events = socket.pushed_events, []

    @staticmethod
    def _alone(joined: JoinedView) -> bool:
        """Would an update of ``joined`` push nothing of its own but its render? No
        navigation, pushed events, title change, flash nor components (uploads and
        streams are in its context, which is then never shared)."""
        socket = joined.socket
        return (
            socket.navigation is None
            and not socket.pushed_events
            and socket.live_title == joined.title
            and not socket.flash
            and socket.components.component_count == 0
        )

    async def _shared_update(self, joined: JoinedView) -> str:
        """The ``diff`` frame of a view ``_alone``, its render shared with the views that
        render its template from an equal context (``shared_renders``) when it can be;
        "" when nothing changed."""
        template = self.routes.template(joined.view)
        context = joined.view.template_context(joined.socket)
        shared = self.routes.shared_renders
        key = shared.key(template, context)
        render = None if key is None else shared.get(key)
        if render is None:
            tree = await self._render(joined, template, context)
            if key is None or not self._alone(joined):  # not shareable, or made components
                diff = self._diff(joined, tree)
                self._view_parts(joined, diff)
                return encode_frame(joined.join_ref, None, self.topic, "diff", diff) if diff else ""
            render = shared.put(key, tree)
        payload = render.diff_from(joined.tree)
        joined.tree = render.tree
        if not payload:
            return ""
        if not joined.diff_head:
            joined.diff_head = frame_head(joined.join_ref, None, self.topic, "diff")
        return f"{joined.diff_head}{payload}]"

    async def _render(
        self,
        joined: JoinedView,
        template: jinja2.Template | None = None,
        context: dict[str, t.Any] | None = None,
    ) -> Tree:
        """The view's tree, from ``template`` and ``context`` when the caller has them."""
        view = joined.view
        if template is None or context is None:
            template, context = self.routes.template(view), view.template_context(joined.socket)
        return await joined.socket.components.render(
            self.routes.environment, template, context, joined.memo
        )


def _cids(payload: dict[str, t.Any]) -> list[int]:
    """The cids of a ``cids_will_destroy`` or ``cids_destroyed``; anything else is refused."""
    cids = payload.get("cids")
    if not isinstance(cids, list) or not all(type(cid) is int for cid in cids):
        raise error("malformed payload")
    return t.cast(list[int], cids)


def _cancelling() -> bool:
    """True when the running task itself has been asked to stop."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


Handler = t.Callable[[LiveChannel, JoinedView, dict[str, t.Any]], t.Awaitable[dict[str, t.Any]]]
_HANDLERS: dict[str, Handler] = {
    "event": LiveChannel._event,
    "live_patch": LiveChannel._live_patch,
    "phx_leave": LiveChannel._leave,
    "cids_will_destroy": LiveChannel._cids_will_destroy,
    "cids_destroyed": LiveChannel._cids_destroyed,
    "allow_upload": LiveChannel._allow_upload,
    "progress": LiveChannel._progress,
}
