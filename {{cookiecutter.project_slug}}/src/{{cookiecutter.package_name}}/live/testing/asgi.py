"""The app driven in-process as an ASGI server would: its lifespan and WebSocket connections."""

from __future__ import annotations

import asyncio
import typing as t
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import LiveTestError


@asynccontextmanager
async def run_lifespan(app: ASGIApp) -> AsyncIterator[dict[str, t.Any]]:
    """Run the app's startup and shutdown (the ASGI lifespan), as a server does around requests.

    Yields the lifespan state; ``live(..., lifespan=state)`` inside it shares
    one startup (one database, one pub/sub) between several views.
    """
    state: dict[str, t.Any] = {}
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()

    async def send(message: Message) -> None:
        outbox.put_nowait(message)

    scope: Scope = {
        "type": "lifespan",
        "asgi": {"version": "3.0", "spec_version": "2.0"},
        "state": state,
    }

    async def run() -> None:
        await app(scope, inbox.get, send)

    task = asyncio.create_task(run())

    async def step(message: str) -> None:
        inbox.put_nowait({"type": f"lifespan.{message}"})
        answer = asyncio.ensure_future(outbox.get())
        await asyncio.wait({answer, task}, return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            answer.cancel()
            task.result()  # re-raise what stopped the app
            raise LiveTestError(f"the app ended its lifespan without answering lifespan.{message}")
        reply = answer.result()
        if reply["type"].endswith(".failed"):
            raise LiveTestError(f"the app's lifespan {message} failed: {reply.get('message', '')}")

    await step("startup")
    try:
        yield state
    finally:
        await step("shutdown")
        await task


@asynccontextmanager
async def served(
    app: ASGIApp, *, lifespan: bool | Mapping[str, t.Any]
) -> AsyncIterator[ASGIApp]:
    """``app`` as a server runs it: inside its lifespan, or one the caller runs (its state)."""
    if lifespan is not True:
        yield _with_state(app, lifespan or {})
        return
    async with run_lifespan(app) as state:
        yield _with_state(app, state)


def _with_state(app: ASGIApp, state: Mapping[str, t.Any]) -> ASGIApp:
    """Give each request a copy of the lifespan state, as servers do (``request.state``)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "state": dict(state)}
        await app(scope, receive, send)

    return wrapped


def websocket_scope(host: str, path: str, query: Mapping[str, t.Any], cookie: str) -> Scope:
    """The scope a server gives the app for a browser's WebSocket to ``path`` on ``host``."""
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws",
        "server": (host.split(":")[0], 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": urlencode(query).encode(),
        "headers": [
            (b"host", host.encode()),
            (b"origin", f"http://{host}".encode()),
            (b"cookie", cookie.encode()),
            (b"user-agent", b"live-testing"),
        ],
        "subprotocols": [],
    }


class WebSocket:
    """An ASGI WebSocket connection to the app, driven from the test through queues."""

    def __init__(self, app: ASGIApp, scope: Scope) -> None:
        self._app = app
        self._scope = scope
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.closed: Message | None = None

    async def connect(self, timeout: float) -> None:
        self._task = asyncio.create_task(self._run())
        self._inbox.put_nowait({"type": "websocket.connect"})
        message = await self.receive(timeout)
        if message["type"] != "websocket.accept":
            raise LiveTestError(
                f"the app did not accept the WebSocket at {self._scope['path']}: {message}"
            )

    async def _run(self) -> None:
        try:
            await self._app(self._scope, self._inbox.get, self._send)
        finally:
            self._outbox.put_nowait(None)

    async def _send(self, message: Message) -> None:
        self._outbox.put_nowait(message)

    def send_text(self, text: str) -> None:
        if self.closed is not None:
            raise LiveTestError(f"the server closed the WebSocket: {self.closed}")
        self._inbox.put_nowait({"type": "websocket.receive", "text": text})

    def send_bytes(self, data: bytes) -> None:
        if self.closed is not None:
            raise LiveTestError(f"the server closed the WebSocket: {self.closed}")
        self._inbox.put_nowait({"type": "websocket.receive", "bytes": data})

    def next_nowait(self) -> Message | None:
        """A message that already arrived, if any (an ended handler is left for ``receive``)."""
        if self.closed is not None or self._outbox.empty():
            return None
        message = self._outbox.get_nowait()
        if message is None:
            self._outbox.put_nowait(None)
        return message

    async def receive(self, timeout: float) -> Message:
        """The app's next message; raises ``TimeoutError``, or ``LiveTestError`` once it stopped."""
        if self.closed is not None:
            raise LiveTestError(f"the server closed the WebSocket: {self.closed}")
        message = await asyncio.wait_for(self._outbox.get(), timeout)
        if message is None:
            assert self._task is not None
            error = self._task.exception()
            self.closed = {
                "type": "websocket.close",
                "reason": "the app's WebSocket handler returned",
            }
            if error is not None:
                raise LiveTestError(f"the app's WebSocket handler crashed: {error!r}") from error
            raise LiveTestError("the app's WebSocket handler returned: the connection is gone")
        if message["type"] == "websocket.close":
            self.closed = message
        return message

    async def close(self, timeout: float) -> None:
        """Disconnect as a browser tab closing would; the app runs its ``disconnect`` callbacks."""
        task = self._task
        if task is None or task.done():
            if task is not None and not task.cancelled():
                task.exception()  # already reported by receive(), if anyone was reading
            return
        self._inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        try:
            await asyncio.wait_for(task, timeout)
        except TimeoutError:
            raise LiveTestError(
                f"the app's WebSocket handler did not finish within {timeout} s of the disconnect"
            ) from None
