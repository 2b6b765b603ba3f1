"""A small Phoenix channel client, for protocol tests over a real WebSocket.

It does what the official JS client does, frame by frame, so tests can send
exactly what a browser sends (and what a broken or hostile one might send):
GET the page with its session cookie, read the container's tokens, connect to
``/live/websocket`` with that cookie, then join and push on ``lv:<id>``.
Every wait is bounded: a server that does not answer within ``TIMEOUT`` fails the test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import typing as t
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin

import httpx
from selectolax.lexbor import LexborHTMLParser
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from {{ cookiecutter.package_name }}.live.testing import scaled

TIMEOUT = scaled(15.0)  # seconds to wait for any one frame
VSN = "2.0.0"


class Frame(t.NamedTuple):
    """``[join_ref, ref, topic, event, payload]``."""

    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: t.Any


class Reply(t.TypedDict):
    """The payload of a ``phx_reply``."""

    status: str
    response: dict[str, t.Any]


def ok(reply: Reply) -> dict[str, t.Any]:
    """The response of a reply that must be ``ok``."""
    assert reply["status"] == "ok", reply
    return reply["response"]


def error(reply: Reply) -> dict[str, t.Any]:
    """The response of a reply that must be an error."""
    assert reply["status"] == "error", reply
    return reply["response"]


@dataclass(frozen=True)
class LivePage:
    """What the HTTP render gave the browser: the tokens a join echoes back."""

    url: str
    csrf_token: str
    container_id: str
    session: str
    static: str | None
    cookies: dict[str, str]

    @property
    def topic(self) -> str:
        return f"lv:{self.container_id}"


async def fetch_page(base_url: str, path: str, cookies: dict[str, str] | None = None) -> LivePage:
    """GET ``path`` and read the CSRF meta tag and the main container's tokens.

    With ``cookies``, the page is loaded in that browser session (another tab).
    """
    url = urljoin(base_url, path)
    async with httpx.AsyncClient(timeout=TIMEOUT, cookies=cookies) as http:
        response = await http.get(url)
        response.raise_for_status()
        cookies = dict(http.cookies.items())
    html = LexborHTMLParser(response.text)
    meta = html.css_first("meta[name='csrf-token']")
    container = html.css_first("[data-phx-main]")
    assert meta is not None and container is not None, "no csrf meta tag or no main container"
    attributes = container.attributes
    csrf, container_id, session = (
        meta.attributes.get("content"),
        attributes.get("id"),
        attributes.get("data-phx-session"),
    )
    assert csrf and container_id and session, f"incomplete container: {attributes}"
    return LivePage(
        url, csrf, container_id, session, attributes.get("data-phx-static") or None, cookies
    )


@dataclass
class LiveClient:
    """One WebSocket, as ``new LiveSocket("/live", Socket, {params}).connect()`` opens it.

    Frames that arrive while waiting for a reply (server pushes such as
    ``diff``, ``live_patch`` or ``phx_close``) are kept in ``pushes``.
    """

    base_url: str
    page: LivePage
    ws: ClientConnection
    join_refs: dict[str, str] = field(default_factory=dict)  # topic → its current join's ref
    pushes: list[Frame] = field(default_factory=list)
    _refs: t.Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    @asynccontextmanager
    async def open(
        cls, base_url: str, path: str = "/counter", **options: t.Any
    ) -> AsyncIterator[LiveClient]:
        """Load ``path`` over HTTP, then connect its socket with the session cookie.

        ``options`` go to ``websockets``' ``connect`` (``max_queue``, ``max_size``…).
        """
        page = await fetch_page(base_url, path)
        async with cls.connect(base_url, page, **options) as client:
            yield client

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, base_url: str, page: LivePage, **options: t.Any
    ) -> AsyncIterator[LiveClient]:
        """Open another socket for a page already loaded (as a browser reconnecting does)."""
        query = urlencode({"_csrf_token": page.csrf_token, "_mounts": 0, "vsn": VSN})
        ws_url = base_url.replace("http", "ws", 1) + f"/live/websocket?{query}"
        cookie = "; ".join(f"{name}={value}" for name, value in page.cookies.items())
        async with connect(
            ws_url, additional_headers={"Cookie": cookie}, open_timeout=TIMEOUT, **options
        ) as ws:
            yield cls(base_url, page, ws)

    @property
    def join_ref(self) -> str | None:
        """The ref of the page's current join."""
        return self.join_refs.get(self.page.topic)

    async def load(self, path: str) -> LivePage:
        """Another page in this browser session: its container joins over this same socket."""
        return await fetch_page(self.base_url, path, self.page.cookies)

    def next_ref(self) -> str:
        return str(next(self._refs))

    # -- frames ------------------------------------------------------------

    async def send(
        self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: t.Any
    ) -> None:
        await self.ws.send(json.dumps([join_ref, ref, topic, event, payload]))

    async def send_binary(
        self, join_ref: str | None, ref: str | None, topic: str, event: str, data: bytes
    ) -> None:
        await self.ws.send(binary_push(join_ref, ref, topic, event, data))

    async def receive(self, timeout: float = TIMEOUT) -> Frame:
        """The next frame; raises ``TimeoutError`` or ``ConnectionClosed``."""
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(text, str), "the server sent a binary frame"
        join_ref, ref, topic, event, payload = json.loads(text)
        return Frame(join_ref, ref, topic, event, payload)

    async def close_code(self, timeout: float = TIMEOUT) -> int | None:
        """Wait (bounded) for the server to close the socket; its close code, if it sent one.

        Frames that arrive first are kept in ``pushes``.
        """
        async with asyncio.timeout(timeout):
            try:
                while True:
                    self.pushes.append(await self.receive(timeout))
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd is not None else None

    async def reply_to(self, ref: str, timeout: float = TIMEOUT) -> Reply:
        """Wait (bounded) for the ``phx_reply`` to ``ref``, keeping other frames in ``pushes``.

        Views on different topics answer in any order: a reply that came
        while waiting for another one is taken from ``pushes``.
        """
        for index, frame in enumerate(self.pushes):
            if frame.event == "phx_reply" and frame.ref == ref:
                del self.pushes[index]
                return t.cast(Reply, frame.payload)
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.receive(timeout)
                if frame.event == "phx_reply" and frame.ref == ref:
                    return t.cast(Reply, frame.payload)
                self.pushes.append(frame)

    async def call(
        self, topic: str, event: str, payload: t.Any, join_ref: str | None = None
    ) -> Reply:
        """Push ``event`` and return its reply."""
        ref = self.next_ref()
        await self.send(join_ref, ref, topic, event, payload)
        return await self.reply_to(ref)

    # -- Phoenix and LiveView messages ----------------------------------------

    async def join(
        self,
        *,
        redirect: str | None = None,
        csrf_token: str | None = None,
        session: str | None = None,
        topic: str | None = None,
        mounts: int = 0,
        page: LivePage | None = None,
    ) -> Reply:
        """``phx_join`` the page's view, as the client does (``redirect`` for a live navigation).

        ``mounts`` is the client's count of successful joins: a rejoin sends more than 0.
        ``page`` joins another page of this browser session (see ``load``) on this socket.
        """
        page = page or self.page
        topic = topic or page.topic
        ref = self.next_ref()
        params: dict[str, t.Any] = {
            "_csrf_token": page.csrf_token if csrf_token is None else csrf_token,
            "_mounts": mounts,
            "_mount_attempts": mounts,
        }
        payload: dict[str, t.Any] = {
            "params": params,
            "session": page.session if session is None else session,
            "static": page.static,
            "sticky": False,
        }
        if redirect is None:
            payload["url"] = page.url
        else:
            payload["redirect"] = urljoin(self.base_url, redirect)
            params["_live_referer"] = page.url
        await self.send(ref, ref, topic, "phx_join", payload)
        reply = await self.reply_to(ref)
        if reply["status"] == "ok":
            self.join_refs[topic] = ref
        return reply

    async def push(self, event: str, payload: t.Any, topic: str | None = None) -> Reply:
        """Push ``event`` on a joined view's topic (the page's, unless ``topic``)."""
        topic = topic or self.page.topic
        return await self.call(topic, event, payload, self.join_refs.get(topic))

    async def click(
        self, event: str, value: dict[str, t.Any] | None = None, topic: str | None = None
    ) -> Reply:
        """A ``phx-click`` on a button (the client adds the button's ``value``, ``""``)."""
        return await self.push(
            "event",
            {"type": "click", "event": event, "value": {"value": "", **(value or {})}},
            topic,
        )

    async def change(self, event: str, form: dict[str, str], target: str) -> Reply:
        """A ``phx-change``: the form urlencoded, ``_target`` in ``meta``."""
        value = urlencode(form)
        return await self.push(
            "event",
            {
                "type": "form",
                "event": event,
                "value": value,
                "meta": {"_target": target},
                "uploads": {},
            },
        )

    async def live_patch(self, path: str) -> Reply:
        return await self.push("live_patch", {"url": urljoin(self.base_url, path)})

    async def leave(self) -> Reply:
        return await self.push("phx_leave", {})

    async def heartbeat(self) -> Reply:
        return await self.call("phoenix", "heartbeat", {})

    # -- uploads: a second topic, lvu:<entry ref>, on the same socket ------------

    async def join_upload(self, entry_ref: str, token: t.Any) -> Reply:
        """``phx_join`` ``lvu:<entry_ref>`` with ``{"token": token}``, as the client's upload does.

        An ok join's ref is kept: ``push_binary`` sends the chunks with it.
        """
        topic = f"lvu:{entry_ref}"
        ref = self.next_ref()
        await self.send(ref, ref, topic, "phx_join", {"token": token})
        reply = await self.reply_to(ref)
        if reply["status"] == "ok":
            self.join_refs[topic] = ref
        return reply

    async def push_binary(
        self, topic: str, event: str, data: bytes, join_ref: str | None = None
    ) -> Reply:
        """Push ``data`` as a binary frame (an upload's ``chunk``) and return its reply.

        The frame carries ``join_ref``, or else the topic's current join's ref (none if unjoined).
        """
        ref = self.next_ref()
        await self.send_binary(join_ref or self.join_refs.get(topic), ref, topic, event, data)
        return await self.reply_to(ref)


def binary_push(
    join_ref: str | None, ref: str | None, topic: str, event: str, data: bytes
) -> bytes:
    """Phoenix's binary push: byte 0 (a push), then the lengths of join_ref, ref, topic and
    event (one byte each), those four as UTF-8, then ``data`` as it is."""
    fields = [(part or "").encode() for part in (join_ref, ref, topic, event)]
    assert all(len(part) < 256 for part in fields), "a binary push's header fields are short"
    return bytes([0, *map(len, fields)]) + b"".join(fields) + data
