"""``live()`` and ``LiveViewTest``: a LiveView loaded, joined and driven as the browser does."""

from __future__ import annotations

import asyncio
import json
import logging
import typing as t
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError
from starlette.types import ASGIApp

from ..channel import REFUSED, refusals
from .asgi import WebSocket, served, websocket_scope
from .channel import Channel
from .dom import Text, attr, describe, normalize, split_selector, text_matches
from .errors import DiffError, HTTPError, LiveTestError, ServerError, snippet
from .forms import CONTROLS, Control, Form, element_value, form_owner
from .page import Page, read_page
from .rendered import Extracted, Rendered
from .timeouts import scaled
from .uploads import FileInput, UploadFile
from .uploads import upload as run_upload

BASE_URL = "http://testserver"
# Seconds a reply, or what ``wait_for`` waits for, may take before the test fails
# (times TEST_TIMEOUT_SCALE): generous, as only a failing test waits them out.
TIMEOUT = 10.0
SOCKET_PATH = "/live/websocket"
PHX_VALUE = "phx-value-"


@dataclass(frozen=True)
class Redirect:
    """Where the view went instead of staying.

    ``kind`` is ``"live_redirect"`` (``push_navigate`` or a navigate link: a
    new LiveView over the same socket) or ``"redirect"`` (a full page load).
    """

    to: str
    kind: t.Literal["live_redirect", "redirect"] = "redirect"
    replace: bool = False
    flash: str | None = None


@dataclass(frozen=True)
class PushedEvent:
    """An event the server pushed (``socket.push_event``): the browser's ``phx:<name>``."""

    name: str
    payload: t.Any


_NO_PAGE = Page("", "", None, None, [], None, {})


class LiveViewTest:
    """A LiveView as the browser holds it: the page, the channel and the merged tree.

    Made by ``live()``. Queries (``html``, ``find``, ``element``, ``has``,
    ``text``) read the current HTML; actions (``click``, ``change``,
    ``submit``, ``keydown``, ``patch``…) send what the official client sends and
    merge the reply. Actions return ``None``, or the ``Redirect`` when the view
    navigated away; the view is then unusable until ``follow_redirect()``.
    """

    def __init__(
        self,
        app: ASGIApp,
        http: httpx.AsyncClient,
        *,
        timeout: float,
        connect_params: Mapping[str, t.Any],
        socket_path: str = SOCKET_PATH,
    ) -> None:
        self._app = app
        self._http = http
        self._timeout = timeout
        self._connect_params = dict(connect_params)
        self._socket_path = socket_path
        self._channel: Channel | None = None
        self._page = _NO_PAGE
        self._joins = 0  # successful joins since the page load: the client's _mounts
        self._reloading = False
        self._upload_configs: dict[str, dict[str, t.Any]] = {}  # upload ref → its preflight config
        self._joined = False
        self._crashed = False
        self._rendered = Rendered()
        self._destroying: set[str] = set()  # cids the client asked the server to destroy
        self._used: dict[str, set[str]] = {}  # per form: the fields a user touched
        self._parsed: tuple[str, LexborHTMLParser, LexborNode] | None = None
        self.url = ""
        self.title: str | None = None
        self.dead_html = ""
        self.redirect: Redirect | None = None
        self.pushed_events: list[PushedEvent] = []

    @property
    def path(self) -> str:
        """The URL's path and query, e.g. ``"/counter?count=0"``."""
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    # -- reading -----------------------------------------------------------

    def html(self) -> str:
        """The container's current HTML (its ``innerHTML``), as the client rendered it."""
        self._check_here()
        return self._rendered.html

    def find(self, selector: str) -> list[LexborNode]:
        """Every element matching a CSS selector, in document order (selectolax nodes)."""
        root = self._root()
        try:
            matches = root.css(selector)
        except SelectolaxError as error:
            raise LiveTestError(f"invalid CSS selector {selector!r}: {error}") from None
        return [node for node in matches if node.mem_id != root.mem_id]

    def element(self, selector: str, *, text: Text = None) -> LexborNode:
        """The one element matching ``selector`` (and containing ``text``); fails otherwise."""
        matches = [node for node in self.find(selector) if text_matches(node, text)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise LiveTestError(
                f"no element matches {describe(selector, text)} in {self.path}.\n"
                + self._nearest(selector, text)
            )
        shown = "\n".join(snippet(node.html) for node in matches[:3])
        raise LiveTestError(
            f"{describe(selector, text)} matches {len(matches)} elements; a browser acts on one: "
            f"narrow the selector (an id, or text=...):\n{shown}"
        )

    def has(self, selector: str, *, text: Text = None) -> bool:
        """True when some element matches ``selector`` (and contains ``text``)."""
        return any(text_matches(node, text) for node in self.find(selector))

    def assert_has(self, selector: str, *, text: Text = None, count: int | None = None) -> None:
        """Fail, showing the nearest HTML, unless ``selector`` matches (``count`` times)."""
        found = sum(1 for node in self.find(selector) if text_matches(node, text))
        if (count is None and found) or found == count:
            return
        wanted = "at least one" if count is None else str(count)
        raise LiveTestError(
            f"expected {wanted} element(s) matching {describe(selector, text)}, found {found}.\n"
            + self._nearest(selector, text)
        )

    def text(self, selector: str) -> str:
        """The whitespace-normalized text of the one element matching ``selector``."""
        return normalize(self.element(selector).text(deep=True))

    # -- acting ------------------------------------------------------------

    async def click(self, selector: str, *, text: Text = None) -> Redirect | None:
        """Click an element: its (or its nearest ancestor's) ``phx-click``, or the link it is in."""
        await self._ready()
        element = self.element(selector, text=text)
        link = self._closest(element, lambda node: attr(node, "data-phx-link") is not None)
        if link is not None:
            return await self._follow_link(link)
        target = self._closest(element, lambda node: bool(attr(node, "phx-click")))
        if target is not None:
            return await self._exec(target, "click", attr(target, "phx-click") or "")
        anchor = self._closest(
            element, lambda node: node.tag == "a" and attr(node, "href") is not None
        )
        href = attr(anchor, "href") if anchor is not None else None
        if href and not href.startswith("#"):
            return self._navigated(Redirect(href, "redirect"))
        raise LiveTestError(
            f"clicking {describe(selector, text)} does nothing: neither it nor an ancestor "
            f"has phx-click and it is not in a link.\n{snippet(element.html)}"
        )

    async def change(
        self,
        selector: str,
        fields: Mapping[str, t.Any] | None = None,
        *,
        text: Text = None,
        target: str | None = None,
    ) -> Redirect | None:
        """Type ``fields`` into a form (or one of its fields) and send its ``phx-change``.

        ``fields`` uses the form's names, flat (``{"user[name]": "x"}``) or
        nested (``{"user": {"name": "x"}}``); lists fill ``name[]`` fields,
        checkboxes take ``True``/``False`` or their values. ``_target`` is the
        field given by ``selector``, else ``target``, else the last field set.
        """
        await self._ready()
        element = self.element(selector, text=text)
        form_node, control_node = self._form_and_control(element, selector)
        form = self._form(form_node, selector)
        control = form.control_for(control_node) if control_node is not None else None
        binding: str | None
        only: list[str] | None
        if control is not None and (own := attr(control.node, "phx-change")):
            # A field with its own phx-change sends only itself, to its own event.
            binding_node, binding, only = control.node, own, [control.name]
        else:
            binding_node, binding, only = form_node, attr(form_node, "phx-change"), None
        if not binding:
            raise LiveTestError(
                f"{selector!r}: the form has no phx-change, so a browser sends nothing on change."
                f"\n{snippet(form_node.html)}"
            )
        names = form.fill(fields or {})
        if target is not None and target not in form.names:
            raise LiveTestError(
                f"target {target!r} is not a field of form {form.label}; its fields: {form.names}"
            )
        name = control.name if control is not None else target or (names[-1] if names else None)
        used = self._used.setdefault(form.label, set())
        used.update(names)
        if name:
            used.add(name)
        return await self._exec(binding_node, "change", binding, form=form, target=name, only=only)

    async def submit(
        self,
        selector: str,
        fields: Mapping[str, t.Any] | None = None,
        *,
        text: Text = None,
        submitter: str | None = None,
    ) -> Redirect | None:
        """Fill ``fields`` and submit the form's ``phx-submit``.

        ``selector`` names the form or its submit button; ``submitter`` (a CSS
        selector) names the button that was pressed, whose name and value are
        sent as the browser does.
        """
        await self._ready()
        form_node, control_node = self._form_and_control(
            self.element(selector, text=text), selector
        )
        form = self._form(form_node, selector)
        button = self.element(submitter) if submitter is not None else control_node
        pressed = None
        if button is not None:
            pressed = form.control_for(button)
            if pressed is None or (submitter is not None and not pressed.is_button):
                raise LiveTestError(f"{snippet(button.html)} is not a button of form {form.label}")
            if pressed.is_button and pressed.kind not in ("submit", "image"):
                raise LiveTestError(
                    f"{snippet(button.html)} does not submit its form (type={pressed.kind})"
                )
            if not pressed.is_button:
                pressed = None  # Enter in a field: no submitter
        binding = attr(form_node, "phx-submit")
        if not binding:
            raise LiveTestError(
                f"{selector!r}: the form has no phx-submit; a browser would submit it over HTTP "
                f"(a page load).\n{snippet(form_node.html)}"
            )
        form.fill(fields or {})
        used = self._used.setdefault(form.label, set())
        used.update(form.names)  # submitting marks every field as used
        return await self._exec(form_node, "submit", binding, form=form, submitter=pressed)

    async def keydown(self, selector: str | None, key: str) -> Redirect | None:
        """Press ``key`` on an element (``phx-keydown``) or the window (``phx-window-keydown``)."""
        return await self._press("keydown", selector, key)

    async def keyup(self, selector: str | None, key: str) -> Redirect | None:
        """Release ``key`` on an element (``phx-keyup``) or the window (``phx-window-keyup``)."""
        return await self._press("keyup", selector, key)

    async def focus(self, selector: str) -> Redirect | None:
        """Focus an element with ``phx-focus``."""
        return await self._focus("focus", selector)

    async def blur(self, selector: str) -> Redirect | None:
        """Blur an element with ``phx-blur``."""
        return await self._focus("blur", selector)

    async def hook(
        self, event: str, value: t.Any = None, *, target: int | str | None = None
    ) -> t.Any:
        """Push an event as a JS hook's ``pushEvent`` (or, with ``target``, ``pushEventTo``)
        does; returns the hook reply, if any.

        ``target`` is a component's cid or a CSS selector: the event goes to the
        component around each element it matches (to the view when none is).
        """
        await self._ready()
        payload = {"type": "hook", "event": event, "value": {} if value is None else value}
        reply = None
        for cid in [None] if target is None else self._targets(str(target)):
            reply = await self._event(payload if cid is None else {**payload, "cid": cid})
        return reply

    async def patch(self, url: str) -> Redirect | None:
        """Change the URL as a ``patch`` link does: ``handle_params`` runs, ``mount`` does not."""
        await self._ready()
        return await self._patch(url)

    def file_input(self, selector: str, files: t.Sequence[UploadFile]) -> FileInput:
        """Choose ``files`` in the live file input ``selector``; ``upload`` sends them."""
        node = self.element(selector)
        if attr(node, "type") != "file" or not attr(node, "data-phx-upload-ref"):
            raise LiveTestError(
                f"{selector!r} is not a live file input (render it with live_file_input)"
                f"\n{snippet(node.html)}"
            )
        if any(not file.content for file in files):
            raise LiveTestError("the client never uploads an empty file")
        return FileInput.choose(selector, files)

    async def upload(self, files: FileInput, percent: int = 100) -> None:
        """Send chosen files as the browser does, up to ``percent`` of each (see ``uploads``).

        The first call sends the form's change with the files' list; then
        the preflight, and each file in chunks with its progress. Refusals
        are left where the browser leaves them: in the page's errors, and in
        ``files.errors`` (entry ref → the upload channel's reason).
        """
        await self._ready()
        await run_upload(self, files, percent)
        self._check_here()

    async def wait_for(
        self, selector: str, *, text: Text = None, timeout: float | None = None
    ) -> LexborNode:
        """Apply server pushes (``handle_info``, pub/sub) until ``selector`` matches; returns it.

        Gives up after ``timeout`` seconds (``scaled(TIMEOUT)`` unless given).
        A view that crashes meanwhile raises ``ServerError`` (reason ``crash``);
        the next action rejoins it, as the browser does.
        """
        timeout = scaled(TIMEOUT) if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._drain()
            self._check_here()
            if self._crashed:
                raise ServerError(f"waiting for {describe(selector, text)}", {"reason": "crash"})
            matches = [node for node in self.find(selector) if text_matches(node, text)]
            if matches:
                return matches[0]
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                await self._live_channel().receive(remaining)
            except TimeoutError:
                raise LiveTestError(
                    f"nothing matched {describe(selector, text)} within {timeout} s.\n"
                    + self._nearest(selector, text)
                ) from None

    async def follow_redirect(self) -> LiveViewTest:
        """Go where ``redirect`` points, as the browser would; returns this (now the next) view."""
        redirect = self.redirect
        if redirect is None:
            raise LiveTestError("there is no redirect to follow: the view did not navigate away")
        self.redirect = None
        url = urljoin(self.url, redirect.to)
        channel = self._channel
        if (
            redirect.kind == "live_redirect"
            and channel is not None
            and channel.socket.closed is None
        ):
            await self._navigate(url, redirect.flash)
        else:
            if redirect.flash:
                self._http.cookies.set("__phoenix_flash__", redirect.flash)
            await self._load(url)
        return self

    async def close(self) -> None:
        """Close the socket, as closing the tab does (the server runs ``disconnect``)."""
        if self._channel is not None:
            channel, self._channel = self._channel, None
            self._joined = False
            await channel.socket.close(self._timeout)

    # -- page loads and joins ------------------------------------------------

    async def _load(self, url: str) -> None:
        """A full page load: the HTTP render, then a join over a new socket."""
        await self.close()
        self._forget_view()
        response = await self._http.get(url, headers={"accept": "text/html"})
        self.url = str(response.url)
        if response.is_redirect:
            self._navigated(Redirect(response.headers["location"], "redirect"))
            return
        if response.status_code != 200:
            raise HTTPError(url, response.status_code, response.text)
        self.dead_html = response.text
        page = read_page(response.text, self.url)
        if page is None:
            raise LiveTestError(
                f"GET {url} rendered no LiveView container ([data-phx-session]):\n"
                + snippet(response.text)
            )
        self._page, self.title = page, page.title
        await self._connect()
        await self._join({"url": self.url}, referer=None, flash=None, navigation=False)

    async def _navigate(self, url: str, flash: str | None) -> None:
        """Live navigation: leave the channel, join the same topic with ``redirect``."""
        referer = self.url
        self._leave()
        self.url = url
        self._forget_view()
        await self._join({"redirect": url}, referer=referer, flash=flash, navigation=True)

    def _forget_view(self) -> None:
        """What belonged to the view being left: its tree, parsed HTML, used fields, joins."""
        self._rendered, self._parsed, self._used, self._joins = Rendered(), None, {}, 0

    async def _connect(self) -> None:
        """Open the socket as ``LiveSocket.connect()`` does, for the page's container."""
        params = {
            **self._socket_params(),
            "_mounts": 0,
            "_mount_attempts": 0,
            "_live_referer": "undefined",
            "vsn": "2.0.0",
        }
        cookie = "; ".join(f"{cookie.name}={cookie.value}" for cookie in self._http.cookies.jar)
        host = urlsplit(self.url).netloc or "testserver"
        socket = WebSocket(self._app, websocket_scope(host, self._socket_path, params, cookie))
        topic = f"lv:{self._page.container_id}"
        self._channel = Channel(socket, topic, self._timeout, self._on_push)
        await socket.connect(self._timeout)

    def _socket_params(self) -> dict[str, t.Any]:
        """The ``params`` app.js gives ``LiveSocket``: the CSRF token and the caller's own."""
        return {"_csrf_token": self._page.csrf_token, **self._connect_params}

    async def _join(
        self, location: dict[str, str], *, referer: str | None, flash: str | None, navigation: bool
    ) -> None:
        params = self._socket_params()
        if self._page.track_static:
            params["_track_static"] = self._page.track_static
        params.update(_mounts=self._joins, _mount_attempts=0)
        if referer is not None:
            params["_live_referer"] = referer
        payload: dict[str, t.Any] = {
            **location,
            "params": params,
            "session": self._page.session,
            "static": self._page.static,
        }
        if flash:
            payload["flash"] = flash
        payload["sticky"] = False
        status, response = await self._live_channel().request("phx_join", payload, join=True)
        if status == "ok":
            rendered = response.get("rendered")
            if not isinstance(rendered, dict):
                raise DiffError(f"the join reply has no rendered tree: {response}")
            extracted = Rendered.extract(rendered)
            self._rendered, self._destroying = Rendered(extracted.diff), set()
            self._joins += 1
            self._joined, self._crashed = True, False
            self._took(extracted, mount=True)
            if response.get("live_patch"):
                self.url = urljoin(self.url, response["live_patch"]["to"])
            self._drain()
            return
        self._events(response.get("events") or [])
        if response.get("redirect"):
            self._navigated(_redirect(response["redirect"], "redirect"))
        elif response.get("live_redirect"):
            self._navigated(_redirect(response["live_redirect"], "live_redirect"))
        elif response.get("reason") == "reload" and not self._reloading:
            # A mount that raised an HTTP error: the client loads the page, which shows the
            # error with its status (once: a page whose join fails again is a server error).
            self._reloading = True
            try:
                await self._load(self.url)
            finally:
                self._reloading = False
        elif navigation and response.get("reason") in ("unauthorized", "stale"):
            await self._load(self.url)  # not a LiveView here: the client falls back to a page load
        else:
            raise ServerError(f"joining {self.path}", response)

    def _leave(self) -> None:
        """``channel.leave()``: a ``phx_leave`` when joined (the reply is not awaited)."""
        if self._joined:
            self._live_channel().push("phx_leave", {})
            self._joined = False

    # -- what the server sends -------------------------------------------------

    def _on_push(self, event: str, payload: t.Any) -> None:
        """A message on the view's topic; ignored once the view navigated away."""
        if self.redirect is not None:
            return
        if event == "diff":
            self._apply(payload)
        elif event == "live_patch":
            self.url = urljoin(self.url, payload["to"])
        elif event == "live_redirect":
            self._navigated(_redirect(payload, "live_redirect"))
        elif event == "redirect":
            self._navigated(_redirect(payload, "redirect"))
        elif event == "phx_error":
            # The client shows its error state, then rejoins (see _ready).
            self._joined, self._crashed = False, True

    async def _event(self, payload: dict[str, t.Any]) -> t.Any:
        channel = self._live_channel()
        with _refusals(channel.topic) as refused:
            status, response = await channel.request("event", payload)
        what = f"{payload['type']} event {payload['event']!r}"
        if status != "ok":
            if response.get("reason") == "crash":
                await self._await_crash()
            raise ServerError(what, response)
        reply = self._reply(response)
        if refused:  # answered ok, so that a browser's button is not left loading
            raise ServerError(what, {"reason": refused[0]})
        return reply

    async def _await_crash(self) -> None:
        """After a ``crash`` reply comes ``phx_error``: take it, so the next action rejoins."""
        channel = self._live_channel()
        while not self._crashed:
            try:
                await channel.receive(self._timeout)
            except TimeoutError:
                return

    def _reply(self, response: dict[str, t.Any]) -> t.Any:
        """An ok reply: the diff first, then navigation, as ``pushWithReply`` does."""
        reply = self._apply(response["diff"]) if response.get("diff") else None
        if response.get("redirect"):
            self._navigated(_redirect(response["redirect"], "redirect"))
        if response.get("live_patch"):
            self.url = urljoin(self.url, response["live_patch"]["to"])
        if response.get("live_redirect"):
            self._navigated(_redirect(response["live_redirect"], "live_redirect"))
        self._drain()  # what the server sent after the reply
        return reply

    def _apply(self, diff: t.Any) -> t.Any:
        """Merge a diff; returns its hook reply."""
        if not isinstance(diff, dict):
            raise DiffError(f"a diff must be an object: {diff!r}")
        extracted = Rendered.extract(diff)
        self._rendered.merge(extracted.diff)
        self._took(extracted, mount=False)
        return extracted.reply

    def _took(self, extracted: Extracted, *, mount: bool) -> None:
        """The title and events of a merged diff."""
        self._events(extracted.events)
        title = extracted.title
        if isinstance(title, str) or mount:
            prefix, suffix, default = (
                self._page.title_attrs.get(key) for key in ("prefix", "suffix", "default")
            )
            empty = not isinstance(title, str) or not title.strip()
            if not (empty and default is None):
                self.title = f"{prefix or ''}{default if empty else title}{suffix or ''}"

    def _events(self, events: list[t.Any]) -> None:
        for event in events:
            self.pushed_events.append(PushedEvent(event[0], event[1] if len(event) > 1 else {}))

    def _navigated(self, redirect: Redirect) -> Redirect:
        self.redirect = redirect
        return redirect

    async def _ready(self) -> None:
        """Before an action: apply what arrived, refuse if the view left, rejoin after a crash,
        and have the server destroy the components the page no longer shows."""
        self._drain()
        self._check_here()
        if self._crashed:
            self._crashed = False
            await self._join({"url": self.url}, referer=None, flash=None, navigation=False)
        await self._destroy_components()

    async def _destroy_components(self) -> None:
        """As the client does after a patch: ``cids_will_destroy``, then ``cids_destroyed``
        for those still not shown, then forget those the server destroyed."""
        rendered, channel = self._rendered, self._live_channel()
        gone = [cid for cid in rendered.components if cid not in rendered.shown]
        cids = [int(cid) for cid in gone if cid not in self._destroying]
        if not cids:
            return
        self._destroying.update(map(str, cids))
        status, response = await channel.request("cids_will_destroy", {"cids": cids})
        if status != "ok":
            raise ServerError("cids_will_destroy", response)
        self._drain()
        cids = [cid for cid in cids if str(cid) not in self._rendered.shown]
        if cids:
            status, response = await channel.request("cids_destroyed", {"cids": cids})
            if status != "ok":
                raise ServerError("cids_destroyed", response)
            self._rendered.prune(response["cids"])
        self._destroying.difference_update(map(str, cids))

    def _drain(self) -> None:
        if self._channel is not None:
            self._channel.drain()

    def _check_here(self) -> None:
        if self.redirect is not None:
            raise LiveTestError(
                f"the view navigated away to {self.redirect.to!r} ({self.redirect.kind}); "
                "assert on view.redirect, or `await view.follow_redirect()`"
            )
        self._live_channel()  # raises once the view is closed

    async def _announce_files(self, files: FileInput) -> None:
        """The change event the client sends when files are chosen: the form, and ``uploads``."""
        node = self.element(files.selector)
        form_node, _ = self._form_and_control(node, files.selector)
        binding = attr(form_node, "phx-change")
        if not binding:
            raise LiveTestError(
                f"the form of {files.selector!r} has no phx-change: the client sends the "
                "chosen files with it, so a live file input needs one"
            )
        form = self._form(form_node, files.selector)
        name = attr(node, "name") or ""
        payload = {
            "type": "form",
            "event": binding,
            "value": form.serialize(self._used.get(form.label, set())),
            "meta": {"_target": name},
            "uploads": {attr(node, "data-phx-upload-ref"): [e.payload() for e in files.entries]},
        }
        await self._event(payload)

    async def _preflight(self, upload_ref: str, entries: list[dict[str, t.Any]]) -> t.Any:
        payload = {"ref": upload_ref, "entries": entries}
        status, response = await self._live_channel().request("allow_upload", payload)
        if status != "ok":
            raise ServerError("allow_upload", response)
        self._reply(response)
        if isinstance(response.get("config"), dict):
            self._upload_configs[upload_ref] = response["config"]
        return response

    async def _progress(self, upload_ref: str, entry_ref: str, progress: t.Any) -> None:
        payload = {"event": None, "ref": upload_ref, "entry_ref": entry_ref, "progress": progress}
        status, response = await self._live_channel().request("progress", payload)
        if status != "ok":
            raise ServerError("progress", response)
        self._reply(response)

    def _upload_channel(self, topic: str) -> Channel:
        """An upload's channel on the view's socket; the view's pushes still reach the view."""
        main = self._live_channel()
        return Channel(main.socket, topic, self._timeout, lambda _e, _p: None, main.dispatch)

    def _live_channel(self) -> Channel:
        if self._channel is None:
            raise LiveTestError("the view is closed")
        return self._channel

    # -- the client's bindings -------------------------------------------------

    async def _exec(
        self, node: LexborNode, kind: str, binding: str, **extra: t.Any
    ) -> Redirect | None:
        """Run a binding: an event name, or JS commands (push, navigate, patch reach the server)."""
        commands: list[t.Any] = [["push", {}]]
        if binding.startswith("["):
            try:
                commands = json.loads(binding)
            except ValueError:
                raise LiveTestError(
                    f"{binding!r} is neither an event name nor JS commands"
                ) from None
        for command, args in commands:
            if self.redirect is not None:
                break
            if command == "push":
                await self._push_event(node, kind, args.get("event") or binding, args, **extra)
            elif command == "navigate":
                self._navigated(Redirect(args["href"], "live_redirect", bool(args.get("replace"))))
            elif command == "patch":
                await self._patch(args["href"])
        return self.redirect

    async def _push_event(
        self,
        node: LexborNode,
        kind: str,
        event: str,
        args: Mapping[str, t.Any],
        *,
        data: Mapping[str, t.Any] | None = None,
        form: Form | None = None,
        target: str | None = None,
        only: list[str] | None = None,
        submitter: Control | None = None,
    ) -> None:
        """The client's ``pushEvent`` (or ``pushInput``/``submitForm`` for a form)."""
        payload: dict[str, t.Any] = {"type": kind, "event": event}
        if form is None:
            payload["value"] = _meta(node, data, args.get("value"))
        else:
            payload["type"] = "form"
            meta = _meta(form.node, {}, args.get("value"))
            if kind == "change":
                used = self._used.get(form.label, set())
                payload["value"] = form.serialize(used, only)
                payload["meta"] = {"_target": args.get("_target") or target or "undefined", **meta}
                payload["uploads"] = {}
            else:
                payload["value"] = form.serialize(
                    {control.name for control in form.controls}, None, submitter
                )
                payload["meta"] = meta
        target = args.get("target") or attr(node if form is None else form.node, "phx-target")
        for cid in [None] if target is None else self._targets(target):
            await self._event(payload if cid is None else {**payload, "cid": cid})

    async def _press(self, kind: str, selector: str | None, key: str) -> Redirect | None:
        """A key event: the element's own binding, else every window binding."""
        await self._ready()
        element = self.element(selector) if selector is not None else None
        own = attr(element, f"phx-{kind}") if element is not None else None
        if element is not None and own:
            bindings = [(element, own)]
        else:
            bindings = [
                (node, attr(node, f"phx-window-{kind}") or "")
                for node in self.find(f"[phx-window-{kind}]")
            ]
        if not bindings:
            where = (
                f"{selector!r} has no phx-{kind} and" if selector is not None else "in this view"
            )
            raise LiveTestError(
                f"{where} no element has phx-window-{kind}: pressing {key!r} sends nothing"
            )
        for node, binding in bindings:
            wanted = attr(node, "phx-key")
            if binding and (not wanted or wanted.lower() == key.lower()):
                await self._exec(node, kind, binding, data={"key": key})
        return self.redirect

    async def _focus(self, kind: str, selector: str) -> Redirect | None:
        await self._ready()
        element = self.element(selector)
        binding = attr(element, f"phx-{kind}")
        if not binding:
            raise LiveTestError(
                f"{selector!r} has no phx-{kind}: a {kind} sends nothing.\n{snippet(element.html)}"
            )
        return await self._exec(element, kind, binding, data={})

    async def _follow_link(self, link: LexborNode) -> Redirect | None:
        kind, state, href = (
            attr(link, "data-phx-link"),
            attr(link, "data-phx-link-state"),
            attr(link, "href"),
        )
        if kind not in ("patch", "redirect") or state not in ("push", "replace") or not href:
            raise LiveTestError(
                "the client throws on this link (data-phx-link, data-phx-link-state, href):\n"
                + snippet(link.html)
            )
        if kind == "redirect":
            return self._navigated(Redirect(href, "live_redirect", state == "replace"))
        result = await self._patch(href)
        binding = attr(link, "phx-click")
        if binding and result is None:
            result = await self._exec(link, "click", binding)
        return result

    async def _patch(self, url: str) -> Redirect | None:
        href = urljoin(self.url, url)
        status, response = await self._live_channel().request("live_patch", {"url": href})
        if status != "ok":
            await self._load(self.url)  # the client falls back to reloading the current page
            raise ServerError(f"live_patch to {url} (the page was reloaded)", response)
        if response.get("link_redirect"):
            return self._navigated(Redirect(url, "live_redirect"))
        self.url = href
        self._reply(response)
        return self.redirect

    # -- finding elements ------------------------------------------------------

    def _targets(self, target: str) -> list[int | None]:
        """The client's ``phx-target``: a cid, or the component around each matched element."""
        if target.isdigit() and (target == "0" or not target.startswith("0")):
            return [int(target)]
        found = [
            self._closest(node, lambda node: attr(node, "data-phx-component") is not None)
            for node in self.find(target)
        ]
        if not found:
            raise LiveTestError(f"phx-target {target!r} matches nothing: the client sends nothing")
        return [
            None if node is None else int(attr(node, "data-phx-component") or 0) for node in found
        ]

    def _root(self) -> LexborNode:
        """The container, parsed once per render."""
        html = self.html()
        if self._parsed is None or self._parsed[0] is not html:
            parser = LexborHTMLParser(f'<div id="{self._page.container_id}">{html}</div>')
            body = parser.body
            root = body.child if body is not None else None
            assert root is not None
            self._parsed = (html, parser, root)
        return self._parsed[2]

    def _closest(self, node: LexborNode, test: t.Callable[[LexborNode], bool]) -> LexborNode | None:
        """The nearest of ``node`` and its ancestors, inside the view, that passes ``test``."""
        root = self._root()
        current: LexborNode | None = node
        while current is not None and current.mem_id != root.mem_id:
            if test(current):
                return current
            current = current.parent
        return None

    def _form_and_control(
        self, element: LexborNode, selector: str
    ) -> tuple[LexborNode, LexborNode | None]:
        if element.tag == "form":
            return element, None
        if element.tag in CONTROLS:
            owner = form_owner(element, self._root())
            if owner is not None:
                return owner, element
        raise LiveTestError(
            f"{selector!r} is neither a form nor a field in a form:\n{snippet(element.html)}"
        )

    def _form(self, node: LexborNode, selector: str) -> Form:
        label = f"#{attr(node, 'id')}" if attr(node, "id") else selector
        return Form(node, self._root(), label)

    def _nearest(self, selector: str, text: Text) -> str:
        """The HTML nearest to what ``selector`` looks for, to show in a failure."""
        root = self._root()
        parts = split_selector(selector)
        for end in range(len(parts) - 1, 0, -1):
            prefix = "".join(parts[:end]).strip(" >+~")
            try:
                found = [node for node in root.css(prefix) if node.mem_id != root.mem_id]
            except SelectolaxError:
                continue
            if found:
                return f"{prefix!r} matches, but not the rest; its HTML:\n{snippet(found[0].html)}"
        if text is not None:
            found = self.find(selector)
            if found:
                texts = [normalize(node.text(deep=True))[:80] for node in found[:5]]
                return f"{selector!r} matches elements with text {texts}"
        return f"the view's HTML:\n{snippet(self._rendered.html)}"


def _meta(node: LexborNode, meta: Mapping[str, t.Any] | None, value: t.Any) -> dict[str, t.Any]:
    """The client's ``extractMeta``: ``phx-value-*``, the element's value, then extra values."""
    out = dict(meta or {})
    for name, attribute in node.attributes.items():
        if name.startswith(PHX_VALUE):
            out[name[len(PHX_VALUE) :]] = attribute or ""
    own = element_value(node)
    if own is not None:
        unchecked = (
            node.tag == "input"
            and (attr(node, "type") or "").lower() in ("checkbox", "radio")
            and attr(node, "checked") is None
        )
        if unchecked:
            out.pop("value", None)  # the client deletes it
        else:
            out["value"] = own
    if isinstance(value, Mapping):
        out.update(value)
    return out


@contextmanager
def _refusals(topic: str) -> Iterator[list[str]]:
    """What the server said of the events it refused on ``topic`` meanwhile.

    The server answers such an event ``ok``, as Phoenix does, and logs it; a
    test must hear of it all the same: a misspelled event is a failure. Every
    refusal is logged at DEBUG on ``refusals`` (the warning is throttled).
    """
    refused: list[str] = []

    class Listener(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            args = record.args
            if record.msg is REFUSED and isinstance(args, tuple) and args[1] == repr(topic):
                refused.append(record.getMessage())

    listener, level = Listener(), refusals.level
    refusals.addHandler(listener)
    refusals.setLevel(logging.DEBUG)
    try:
        yield refused
    finally:
        refusals.setLevel(level)
        refusals.removeHandler(listener)


def _redirect(payload: dict[str, t.Any], kind: t.Literal["live_redirect", "redirect"]) -> Redirect:
    """A redirect the server sent (in a reply, a push or the join's error)."""
    return Redirect(payload["to"], kind, payload.get("kind") == "replace", payload.get("flash"))


@asynccontextmanager
async def live(
    app: ASGIApp,
    url: str = "/",
    *,
    lifespan: bool | Mapping[str, t.Any] = True,
    client: httpx.AsyncClient | None = None,
    connect_params: Mapping[str, t.Any] | None = None,
    socket_path: str = SOCKET_PATH,
    timeout: float | None = None,
) -> AsyncIterator[LiveViewTest]:
    """Load ``url`` as a browser would and yield the joined view.

    Runs the app's lifespan around the view; ``lifespan=state``, the state
    ``run_lifespan`` yields, shares one running lifespan between several
    views instead, and ``lifespan=False`` runs none. ``client`` is an
    ``httpx.AsyncClient`` on the same app to share cookies with (a logged-in
    session); ``connect_params`` are extra ``LiveSocket`` params and
    ``socket_path`` its endpoint (``LiveRoutes(path=...)`` + ``/websocket``). An
    HTTP redirect, or a redirect from ``mount``, leaves ``view.redirect`` set;
    a reply takes at most ``timeout`` seconds (``scaled(TIMEOUT)`` unless
    given; the client waits 30).
    """
    timeout = scaled(TIMEOUT) if timeout is None else timeout
    async with served(app, lifespan=lifespan) as wrapped:
        http = client or httpx.AsyncClient(
            transport=httpx.ASGITransport(app=wrapped), base_url=BASE_URL
        )
        view = LiveViewTest(
            wrapped,
            http,
            timeout=timeout,
            connect_params=connect_params or {},
            socket_path=socket_path,
        )
        try:
            await view._load(urljoin(BASE_URL, url))
            yield view
        finally:
            try:
                await view.close()
            finally:
                if client is None:
                    await http.aclose()
