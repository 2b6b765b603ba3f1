"""Phoenix channels over a Starlette WebSocket: the server side of the official client.

Frames are ``[join_ref, ref, topic, event, payload]`` (see PROTOCOL.md).
Heartbeats are answered as they arrive; every ``lv:*`` message goes through
one queue per connection, so a socket's joins, events and patches run one at
a time, in order, while the reader stays responsive.
"""

from __future__ import annotations

import asyncio
import json
import logging
import typing as t
from dataclasses import dataclass, field
from urllib.parse import ParseResult, urljoin, urlparse

from starlette.websockets import WebSocket, WebSocketDisconnect

from .binding import BindingError
from .diff import diff_tree
from .lifecycle import call_handle_event, call_handle_params, mount_view
from .memo import Memo
from .session import csrf_valid
from .shared_statics import share_statics
from .socket import ConnectedLiveViewSocket, Navigation
from .template import render_template
from .tree import Tree
from .view import LiveView, UnhandledEvent

if t.TYPE_CHECKING:
    from .routes import LiveRoutes

LIVEVIEW_VERSION = "1.2.12"
CLEAR_FLASH = "lv:clear-flash"  # handled here, as Phoenix does: phx-value-key names the flash
MAX_PATCHES = 10  # push_patch from handle_params may chain; a loop is a bug
logger = logging.getLogger(__name__)


class ProtocolError(ValueError):
    """A frame that is not ``[join_ref, ref, topic, event, payload]``."""


@dataclass(frozen=True)
class Message:
    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: t.Any


def parse_frame(text: str) -> Message:
    """Decode one text frame, or raise ``ProtocolError``."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ProtocolError("frame is not JSON") from error
    if not isinstance(data, list) or len(data) != 5:
        raise ProtocolError("frame is not [join_ref, ref, topic, event, payload]")
    join_ref, ref, topic, event, payload = data
    if not all(isinstance(part, str) or part is None for part in (join_ref, ref)):
        raise ProtocolError("join_ref and ref must be strings or null")
    if not isinstance(topic, str) or not isinstance(event, str):
        raise ProtocolError("topic and event must be strings")
    return Message(join_ref, ref, topic, event, payload)


def encode_frame(
    join_ref: str | None, ref: str | None, topic: str, event: str, payload: t.Any
) -> str:
    return json.dumps(
        [join_ref, ref, topic, event, payload], separators=(",", ":"), ensure_ascii=False
    )


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


class Reply(Exception):
    """Stop handling a message and answer it with ``status`` and ``response``."""

    def __init__(self, status: str, response: dict[str, t.Any]) -> None:
        super().__init__(status, response)
        self.status = status
        self.response = response


def _error(reason: str) -> Reply:
    return Reply("error", {"reason": reason})


class LiveConnection:
    """One browser's WebSocket: reads frames, runs its LiveViews, writes replies."""

    def __init__(self, websocket: WebSocket, routes: LiveRoutes) -> None:
        self.websocket = websocket
        self.routes = routes
        self.views: dict[str, JoinedView] = {}
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._send_lock = asyncio.Lock()

    async def run(self) -> None:
        await self.websocket.accept()
        worker = asyncio.create_task(self._work())
        try:
            await self._read()
        finally:
            # As in Phoenix, messages still queued when the socket closes are
            # dropped: nobody is left to receive their replies.
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            for topic in list(self.views):
                await self._drop(topic)

    # -- reading -----------------------------------------------------------

    async def _read(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                logger.warning("closing a LiveView socket: binary frames are not supported yet")
                await self.websocket.close(1003, "binary frames are not supported")
                return
            try:
                frame = parse_frame(text)
            except ProtocolError as error:
                logger.warning("closing a LiveView socket: malformed frame: %s", error)
                await self.websocket.close(1007, str(error))
                return
            if frame.topic == "phoenix" and frame.event == "heartbeat":
                await self._reply(frame, "ok", {})
            elif frame.topic.startswith("lv:"):
                self._queue.put_nowait(frame)
            else:
                await self._reply(frame, "error", {"reason": "unmatched topic"})

    async def _work(self) -> None:
        while True:
            frame = await self._queue.get()
            try:
                # Replying is inside: a reply that cannot be encoded crashes the view.
                await self._reply(frame, "ok", await self._handle(frame))
            except Reply as reply:
                if reply.status == "error":
                    logger.warning(
                        "%s %s on %s: %s", frame.event, frame.ref, frame.topic, reply.response
                    )
                await self._reply(frame, reply.status, reply.response)
            except Exception:
                logger.exception("LiveView crashed on %s %s", frame.topic, frame.event)
                await self._crash(frame)

    # -- writing -----------------------------------------------------------

    async def _send(
        self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: t.Any
    ) -> None:
        text = encode_frame(join_ref, ref, topic, event, payload)
        async with self._send_lock:
            try:
                await self.websocket.send_text(text)
            except (WebSocketDisconnect, RuntimeError):
                logger.debug("dropped a frame for a closed socket: %s %s", topic, event)

    async def _reply(self, frame: Message, status: str, response: dict[str, t.Any]) -> None:
        await self._send(
            frame.join_ref,
            frame.ref,
            frame.topic,
            "phx_reply",
            {"status": status, "response": response},
        )

    async def _crash(self, frame: Message) -> None:
        """Phoenix's "let it crash": the client shows its error and rejoins (a fresh mount)."""
        await self._reply(frame, "error", {"reason": "crash"})
        joined = self.views.get(frame.topic)
        if joined is not None:
            await self._drop(frame.topic)
            await self._send(
                joined.join_ref,
                joined.join_ref,
                frame.topic,
                "phx_error",
                {"reason": "channel_crash"},
            )

    # -- messages ----------------------------------------------------------

    async def _handle(self, frame: Message) -> dict[str, t.Any]:
        if not isinstance(frame.payload, dict):
            raise _error("malformed payload")
        if frame.event == "phx_join":
            return await self._join(frame)
        joined = self.views.get(frame.topic)
        if joined is None or joined.join_ref != frame.join_ref:
            raise _error("unmatched topic")
        if frame.event == "event":
            return await self._event(joined, frame.payload)
        if frame.event == "live_patch":
            return await self._live_patch(joined, frame.payload)
        if frame.event == "phx_leave":
            await self._drop(frame.topic)
            return {}
        if frame.event == "cids_will_destroy":
            return {}
        if frame.event == "cids_destroyed":
            return {"cids": frame.payload.get("cids", [])}
        raise _error("unknown event")

    async def _join(self, frame: Message) -> dict[str, t.Any]:
        if frame.topic in self.views:
            await self._drop(frame.topic)
        payload = frame.payload
        params = payload.get("params")
        token = self.routes.signer.loads(payload.get("session")) or {}
        session, flash = token.get("session"), token.get("flash")
        if (
            not isinstance(session, dict)
            or not isinstance(flash, dict)
            or not isinstance(params, dict)
            or not csrf_valid(self.websocket.session, params.get("_csrf_token"))
        ):
            raise _error("unauthorized")
        url = payload.get("url") or payload.get("redirect")
        if not isinstance(url, str):
            raise _error("unauthorized")
        parsed = urlparse(url)
        found = self.routes.match(parsed.path)
        if found is None:
            raise _error("unauthorized")  # the client falls back to a page load
        socket: ConnectedLiveViewSocket[t.Any] = ConnectedLiveViewSocket(parsed)
        if "redirect" not in payload and params.get("_mounts") == 0:
            socket.flash.update(flash)  # the page's flash, on its first join only
        socket.flash.update(self.routes.flash_signer.loads(payload.get("flash")) or {})
        joined = JoinedView(frame.join_ref, found.view_class(), socket, found.path_params)
        try:
            response = await self._mount(joined, session)
        except BaseException:
            await self._disconnect(joined)  # mounted, never joined: it still cleans up
            raise
        rendered = share_statics(joined.tree)
        self._title_and_events(joined, rendered)
        self.views[frame.topic] = joined
        return {**response, "rendered": rendered, "liveview_version": LIVEVIEW_VERSION}

    async def _mount(self, joined: JoinedView, session: dict[str, t.Any]) -> dict[str, t.Any]:
        """Mount, ``handle_params`` and render a joining view; navigation refuses the join."""
        response: dict[str, t.Any] = {}
        try:
            await mount_view(joined.view, joined.socket, session, joined.path_params)
        except BindingError as error:
            raise _error(str(error)) from error
        patched = await self._follow_patches(joined)
        navigation = self._take_navigation(joined)
        if navigation is not None:
            raise Reply("error", navigation)
        if patched:
            response["live_patch"] = patched
        joined.tree = self._render(joined)
        return response

    async def _event(self, joined: JoinedView, payload: dict[str, t.Any]) -> dict[str, t.Any]:
        event = payload.get("event")
        if not isinstance(event, str):
            raise _error("malformed payload")
        if event == CLEAR_FLASH:
            value = payload.get("value")
            key = value.get("key") if isinstance(value, dict) else None
            joined.socket.clear_flash(key if isinstance(key, str) else None)
            return await self._update(joined)
        try:
            await call_handle_event(joined.view, joined.socket, event, payload)
        except BindingError as error:
            raise _error(str(error)) from error
        except UnhandledEvent as error:
            raise _error(f"unhandled event {event!r}") from error
        return await self._update(joined)

    async def _live_patch(self, joined: JoinedView, payload: dict[str, t.Any]) -> dict[str, t.Any]:
        url = payload.get("url")
        if not isinstance(url, str):
            raise _error("malformed payload")
        parsed = urlparse(url)
        found = self.routes.match(parsed.path)
        if found is None or found.view_class is not type(joined.view):
            return {"link_redirect": True}
        await self._handle_params(joined, parsed, found.path_params)
        return await self._update(joined)

    # -- steps -------------------------------------------------------------

    async def _handle_params(
        self,
        joined: JoinedView,
        url: ParseResult | None = None,
        path_params: dict[str, t.Any] | None = None,
    ) -> None:
        """``handle_params``, at a new URL when given; a URL whose params fail to bind is undone."""
        previous = joined.socket.url, joined.path_params
        if url is not None and path_params is not None:
            joined.socket.url, joined.path_params = url, path_params
        try:
            await call_handle_params(joined.view, joined.socket, joined.path_params)
        except BindingError as error:
            joined.socket.url, joined.path_params = previous
            raise _error(str(error)) from error

    async def _follow_patches(self, joined: JoinedView) -> dict[str, str] | None:
        """Run ``handle_params`` for each ``push_patch`` to this same view; report the last."""
        patched = None
        for _ in range(MAX_PATCHES):
            navigation = joined.socket.navigation
            if navigation is None or navigation.kind != "patch":
                return patched
            url = self._absolute(joined.socket.url, navigation.to)
            found = self.routes.match(url.path)
            if found is None or found.view_class is not type(joined.view):
                joined.socket.navigation = Navigation("navigate", navigation.to, navigation.replace)
                return patched
            joined.socket.navigation = None
            await self._handle_params(joined, url, found.path_params)
            patched = {"to": navigation.to, "kind": "replace" if navigation.replace else "push"}
        raise RuntimeError(f"push_patch keeps patching: more than {MAX_PATCHES} patches in a row")

    def _take_navigation(self, joined: JoinedView) -> dict[str, t.Any] | None:
        """The reply key for a navigate or redirect the handlers asked for, flash included."""
        socket = joined.socket
        navigation, socket.navigation = socket.navigation, None
        if navigation is None:
            return None
        target: dict[str, t.Any] = {"to": navigation.to}
        if socket.flash:
            target["flash"] = self.routes.flash_signer.dumps(socket.flash)
        if navigation.kind == "redirect":
            return {"redirect": target}
        return {"live_redirect": {**target, "kind": "replace" if navigation.replace else "push"}}

    async def _update(self, joined: JoinedView) -> dict[str, t.Any]:
        """After a callback: follow navigation, then reply with the diff."""
        response: dict[str, t.Any] = {}
        patched = await self._follow_patches(joined)
        if patched:
            response["live_patch"] = patched
        navigation = self._take_navigation(joined)
        if navigation is not None:
            return navigation
        tree = self._render(joined)
        diff = share_statics(diff_tree(joined.tree, tree))
        joined.tree = tree
        self._title_and_events(joined, diff)
        if diff:
            response["diff"] = diff
        return response

    @staticmethod
    def _title_and_events(joined: JoinedView, message: Tree) -> None:
        """Add a changed title (``t``) and pushed events (``e``) to a join or diff."""
        socket = joined.socket
        if socket.live_title != joined.title:
            joined.title = socket.live_title
            message["t"] = joined.title or ""
        if socket.pushed_events:
            message["e"], socket.pushed_events = socket.pushed_events, []

    def _render(self, joined: JoinedView) -> Tree:
        view = joined.view
        context = view.template_context(joined.socket)
        return render_template(self.routes.template(view), context, joined.memo)

    @staticmethod
    def _absolute(base: ParseResult, to: str) -> ParseResult:
        return urlparse(urljoin(base.geturl(), to))

    async def _drop(self, topic: str) -> None:
        """Forget a view and let it clean up."""
        joined = self.views.pop(topic, None)
        if joined is not None:
            await self._disconnect(joined)

    @staticmethod
    async def _disconnect(joined: JoinedView) -> None:
        try:
            await joined.view.disconnect(joined.socket)
        except Exception:
            logger.exception("disconnect() failed for %s", type(joined.view).__name__)
