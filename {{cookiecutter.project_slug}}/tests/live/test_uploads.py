"""File uploads over the wire: real binary chunks on a real WebSocket, and the test client.

A browser says what it is about to send (names, types, sizes) before a byte
arrives, then sends each file in binary chunks on its own ``lvu:<entry ref>``
channel, joined with the token the preflight gave that entry (PROTOCOL.md,
f. Uploads). Nothing it says is trusted. These tests send what the official
client sends, and what a broken or hostile one might (sizes that lie, forged
or borrowed tokens, progress never made, uploads never finished, chunks where
none belong), and check the server's replies, what the page then shows, and
that no temporary file outlives its upload. Each test serves a small app with
an upload folder of its own under a real uvicorn, so the folder's contents
are that test's alone.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import stat
import tempfile
import time
import typing as t
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer
from jinja2 import DictLoader
from selectolax.lexbor import LexborHTMLParser
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from {{ cookiecutter.package_name }}.live import (
    ConnectedLiveViewSocket,
    LiveConfig,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
    UploadConfig,
    UploadEntry,
    remove_stale_uploads,
)
from {{ cookiecutter.package_name }}.live.socket import Progress
from {{ cookiecutter.package_name }}.live.testing import Rendered, UploadFile, live, scaled
from {{ cookiecutter.package_name }}.live.uploads.writer import upload_dir

from live_client import Frame, LiveClient, LivePage, Reply
from servers import serve
{%- raw %}

SECRET = "test-secret-key-for-the-upload-tests"
MAX_FILE_SIZE = 10_000
MAX_ENTRIES = 2
CHUNK_SIZE = 1_000
CHUNK_TIMEOUT = scaled(5.0)  # seconds; never runs out while a test is sending
HASTY_TIMEOUT = scaled(1.0)  # the view that gives up on a stalled upload quickly
BUSY_TIMEOUT = scaled(0.8)  # the view whose handler is sometimes slower than this
STEADY_TIMEOUT = scaled(3.0)  # the view whose uploads take longer than this, a chunk at a time
WAIT = scaled(15.0)  # the longest a test waits for the server to act on its own
OK: Reply = {"status": "ok", "response": {}}

TOO_LARGE = "The file is too large."
NOT_ACCEPTED = "This type of file is not accepted."
INCOMPLETE = "The upload ended before the whole file arrived."
TIMED_OUT = "The upload stopped: nothing arrived for too long."
TOO_SLOW = "The upload was too slow: it did not finish in time."
EXPIRED = "The file was not saved in time: choose it again."
SOCKET_FULL = "Too many files are waiting to be saved on this page: save or cancel some."
SERVER_FULL = "The server is receiving too many files right now: try again later."

TEMPLATES = {
    "layout.html": "<meta name='csrf-token' content='{{ csrf_token }}'>{{ live_container }}",
    "photos.html": """<form id="photos-form" phx-change="validate" phx-submit="save">
  {{ live_file_input(uploads.photos) }}
  <p id="upload-errors">
    {% for message in upload_errors(uploads.photos) %}<span class="error">{{ message }}</span>
    {% endfor %}
  </p>
  {% for entry in uploads.photos.entries %}
  <div class="entry" id="entry-{{ entry.ref }}">
    <span class="name">{{ entry.client_name }}</span>
    <span class="progress">{{ entry.progress }}%</span>
    {% for message in upload_errors(uploads.photos, entry) %}
    <span class="error">{{ message }}</span>
    {% endfor %}
    <button type="button" phx-click="cancel" phx-value-ref="{{ entry.ref }}">Cancel</button>
  </div>
  {% endfor %}
  <button type="submit">Save</button>
</form>
<ul id="saved">{% for name in saved %}<li>{{ name }}</li>{% endfor %}</ul>
""",
}


# -- the app ----------------------------------------------------------------------


class Shelf:
    """Where the views put the files they consume, for the test to read."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, bytes] = {}  # client name → the bytes consumed
        self.saves: list[list[str]] = []  # what each save's consume_uploaded_entries returned


class PhotosLive(LiveView[dict[str, t.Any]]):
    """Up to two photos, sent as soon as they are chosen; Save keeps them."""

    template_name = "photos.html"
    auto_upload: t.ClassVar[bool] = True
    chunk_timeout: t.ClassVar[float] = CHUNK_TIMEOUT
    shelf: t.ClassVar[Shelf]  # the running test's

    async def mount(
        self, socket: LiveViewSocket[dict[str, t.Any]], session: dict[str, t.Any]
    ) -> None:
        self.kept = PhotosLive.shelf
        socket.context = {"saved": []}
        socket.allow_upload(
            "photos",
            accept=[".png", "image/jpeg"],
            max_entries=MAX_ENTRIES,
            max_file_size=MAX_FILE_SIZE,
            chunk_size=CHUNK_SIZE,
            chunk_timeout=self.chunk_timeout,
            auto_upload=self.auto_upload,
            progress=self.on_progress(),
        )

    def on_progress(self) -> Progress | None:
        """What ``allow_upload``'s ``progress`` calls: nothing, but in ``KeepingPhotosLive``."""
        return None

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[dict[str, t.Any]], ref: str = ""
    ) -> None:
        if event == "cancel":
            socket.cancel_upload("photos", ref)
        elif event == "save":
            names = await socket.consume_uploaded_entries("photos", self._keep)
            self.kept.saves.append(names)
            socket.context["saved"] = [*socket.context["saved"], *names]
        # "validate": the runtime has checked the chosen files; the page shows what it found

    def _keep(self, path: str, entry: UploadEntry) -> str:
        target = self.kept.folder / f"{len(self.kept.files)}{entry.extension}"
        shutil.copyfile(path, target)
        self.kept.files[entry.client_name] = target.read_bytes()
        return entry.client_name


class ManualPhotosLive(PhotosLive):
    """The same form, uploading when it is submitted."""

    auto_upload = False


class HastyPhotosLive(PhotosLive):
    """Gives up on an upload whose chunks stop for ``HASTY_TIMEOUT`` seconds."""

    chunk_timeout = HASTY_TIMEOUT


class SteadyPhotosLive(PhotosLive):
    """Gives up on an upload whose chunks stop for ``STEADY_TIMEOUT`` seconds."""

    chunk_timeout = STEADY_TIMEOUT


class KeepingPhotosLive(PhotosLive):
    """Keeps each photo as soon as it has arrived, with no Save (Phoenix's ``progress:``)."""

    async def _arrived(
        self, name: str, entry: UploadEntry, socket: ConnectedLiveViewSocket[t.Any]
    ) -> None:
        if entry.done:
            names = await socket.consume_uploaded_entries(name, self._keep)
            socket.context["saved"] = [*socket.context["saved"], *names]

    def on_progress(self) -> Progress | None:
        return self._arrived


class BusyPhotosLive(PhotosLive):
    """Sometimes busy: ``slow`` takes longer than its uploads' chunk timeout."""

    chunk_timeout = BUSY_TIMEOUT

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[dict[str, t.Any]], ref: str = ""
    ) -> None:
        if event == "slow":
            await asyncio.sleep(BUSY_TIMEOUT * 3)
        else:
            await super().handle_event(event, socket, ref)


def photos_app(upload_dir: Path, **config: t.Any) -> Starlette:
    routes = LiveRoutes(
        LiveEnvironment(loader=DictLoader(TEMPLATES)),
        SECRET,
        config=LiveConfig(upload_dir=str(upload_dir), **config),
    )
    routes.add("/auto", PhotosLive)
    routes.add("/manual", ManualPhotosLive)
    routes.add("/hasty", HastyPhotosLive)
    routes.add("/steady", SteadyPhotosLive)
    routes.add("/busy", BusyPhotosLive)
    routes.add("/keeping", KeepingPhotosLive)
    return Starlette(
        routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key=SECRET)]
    )


@dataclass(frozen=True)
class Server:
    base_url: str
    uploads: Path  # the app's upload_dir: where uploads in progress are written

    def temp_files(self) -> list[Path]:
        return sorted(self.uploads.iterdir())


@contextmanager
def serving(uploads: Path, **config: t.Any) -> Iterator[Server]:
    """The app under uvicorn, writing uploads in progress to ``uploads`` (made here)."""
    uploads.mkdir(parents=True)
    with serve(photos_app(uploads, **config)) as base_url:
        yield Server(base_url, uploads)


@pytest.fixture
def shelf(tmp_path: Path) -> Shelf:
    folder = tmp_path / "kept"
    folder.mkdir()
    PhotosLive.shelf = Shelf(folder)
    return PhotosLive.shelf


@pytest.fixture
def server(tmp_path: Path, shelf: Shelf) -> Iterator[Server]:
    with serving(tmp_path / "uploads") as server:
        yield server


# -- the client's side --------------------------------------------------------------


@dataclass(frozen=True)
class Photo:
    """A file the test chooses: the entry the client describes, and the bytes it sends."""

    ref: str
    data: bytes = b""
    name: str = ""
    type: str = "image/png"
    size: int | None = None  # the size the client declares, when it lies

    @classmethod
    def of(cls, ref: str, length: int = 2_500, **described: t.Any) -> Photo:
        """``length`` random bytes, described as ``described`` says (a PNG by default)."""
        described.setdefault("name", f"photo-{ref}.png")
        return cls(ref, secrets.token_bytes(length), **described)

    @property
    def topic(self) -> str:
        return f"lvu:{self.ref}"

    def entry(self) -> dict[str, t.Any]:
        """As the client lists it in a change event and a preflight."""
        return {
            "path": "photos",
            "ref": self.ref,
            "last_modified": 1_700_000_000_000,
            "name": self.name,
            "relative_path": "",
            "type": self.type,
            "size": len(self.data) if self.size is None else self.size,
        }

    def chunks(self) -> list[bytes]:
        return [self.data[at : at + CHUNK_SIZE] for at in range(0, len(self.data), CHUNK_SIZE)]


@dataclass
class Page:
    """A socket with an upload view joined, and the view's HTML as the client holds it."""

    client: LiveClient
    rendered: Rendered
    page: LivePage | None = None  # another page's view on the same socket (not the client's)

    @property
    def topic(self) -> str:
        return (self.page or self.client.page).topic

    # -- what the page shows ----------------------------------------------------

    def _html(self) -> LexborHTMLParser:
        return LexborHTMLParser(self.rendered.html)

    def input(self) -> dict[str, str | None]:
        node = self._html().css_first("input[type=file]")
        assert node is not None, self.rendered.html
        return dict(node.attributes)

    @property
    def upload_ref(self) -> str:
        ref = self.input()["data-phx-upload-ref"]
        assert ref
        return ref

    def refs(self, kind: str) -> str:
        """The input's ``data-phx-<kind>-refs`` ("" when absent)."""
        return self.input().get(f"data-phx-{kind}-refs") or ""

    def texts(self, selector: str) -> list[str]:
        return [node.text(deep=True).strip() for node in self._html().css(selector)]

    def entries(self) -> list[str]:
        return [node.attributes["id"] or "" for node in self._html().css(".entry")]

    def errors(self, entry_ref: str | None = None) -> list[str]:
        """An entry's error messages, or (no ref) the upload's own."""
        where = "#upload-errors" if entry_ref is None else f"#entry-{entry_ref}"
        return self.texts(f"{where} .error")

    # -- what the client sends ----------------------------------------------------

    def merge(self, diff: dict[str, t.Any]) -> None:
        self.rendered.merge(Rendered.extract(dict(diff)).diff)

    def apply_pushes(self) -> None:
        """Merge the diffs the server pushed to the view (an upload that failed on its own)."""
        kept = []
        for frame in self.client.pushes:
            assert frame.event != "phx_error", f"the view crashed: {frame}"
            if frame.topic == self.topic and frame.event == "diff":
                self.merge(frame.payload)
            else:
                kept.append(frame)
        self.client.pushes[:] = kept

    async def next_diff(self) -> None:
        """Wait (bounded) for the server to push a diff to the view, and merge it."""
        self.merge((await next_push(self.client, self.topic, "diff")).payload)
        self.apply_pushes()

    async def push(self, event: str, payload: dict[str, t.Any]) -> Reply:
        """Push on the view's topic; the pushes that came first, then the reply's diff, merged."""
        reply = await self.client.push(event, payload, self.topic)
        self.apply_pushes()
        if "diff" in reply["response"]:
            self.merge(reply["response"]["diff"])
        return reply

    async def choose(self, *photos: Photo) -> Reply:
        """The form's change event, listing the files chosen in its file input."""
        return await self.push(
            "event",
            {
                "type": "form",
                "event": "validate",
                "value": "",
                "meta": {"_target": "photos"},
                "uploads": {self.upload_ref: [photo.entry() for photo in photos]},
            },
        )

    async def preflight(self, *photos: Photo) -> Reply:
        entries = [photo.entry() for photo in photos]
        return await self.push("allow_upload", {"ref": self.upload_ref, "entries": entries})

    async def announce(self, *photos: Photo) -> dict[str, str]:
        """Choose ``photos`` and preflight them: each one's token."""
        assert (await self.choose(*photos))["status"] == "ok"
        reply = await self.preflight(*photos)
        assert reply["status"] == "ok" and "error" not in reply["response"], reply
        tokens: dict[str, str] = reply["response"]["entries"]
        assert sorted(tokens) == sorted(photo.ref for photo in photos)
        return tokens

    async def progress(self, entry_ref: str, progress: t.Any) -> Reply:
        payload = {"event": None, "ref": self.upload_ref, "entry_ref": entry_ref}
        return await self.push("progress", {**payload, "progress": progress})

    async def click(self, event: str, **value: str) -> Reply:
        return await self.push(
            "event", {"type": "click", "event": event, "value": {"value": "", **value}}
        )

    async def save(self) -> Reply:
        reply = await self.push("event", {"type": "form", "event": "save", "value": ""})
        assert reply["status"] == "ok", reply
        return reply

    async def chunk(self, photo: Photo, data: bytes) -> Reply:
        return await self.client.push_binary(photo.topic, "chunk", data)

    async def send(self, photo: Photo, token: str) -> None:
        """Upload ``photo`` whole as the client does: join its channel, each chunk acknowledged
        before the next, and a progress event whenever the percentage grows."""
        joined = await self.client.join_upload(photo.ref, token)
        assert joined == OK, f"joining {photo.topic}: {joined}"
        sent, reported = 0, -1
        for chunk in photo.chunks():
            assert await self.chunk(photo, chunk) == OK
            sent += len(chunk)
            percent = sent * 100 // len(photo.data)
            if percent > reported:
                reported = percent
                assert (await self.progress(photo.ref, percent))["status"] == "ok"


@asynccontextmanager
async def opened(server: Server, path: str = "/auto") -> AsyncIterator[Page]:
    """Load ``path`` and join its view over a fresh socket."""
    async with LiveClient.open(server.base_url, path) as client:
        reply = await client.join()
        assert reply["status"] == "ok", reply
        yield Page(client, Rendered(Rendered.extract(reply["response"]["rendered"]).diff))


async def another_view(page: Page, path: str = "/auto") -> Page:
    """Load ``path`` in the same browser session and join its view over ``page``'s socket."""
    loaded = await page.client.load(path)
    reply = await page.client.join(page=loaded)
    assert reply["status"] == "ok", reply
    return Page(page.client, Rendered(Rendered.extract(reply["response"]["rendered"]).diff), loaded)


async def next_push(client: LiveClient, topic: str, event: str, timeout: float = WAIT) -> Frame:
    """Wait (bounded) for the server's ``event`` on ``topic``; other frames stay in ``pushes``."""
    for index, frame in enumerate(client.pushes):
        if (frame.topic, frame.event) == (topic, event):
            return client.pushes.pop(index)
    async with asyncio.timeout(timeout):
        while True:
            frame = await client.receive(timeout)
            if (frame.topic, frame.event) == (topic, event):
                return frame
            client.pushes.append(frame)


async def eventually(condition: t.Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait (bounded) for something the server's thread does."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def refused(reason: str, **extra: t.Any) -> Reply:
    return {"status": "error", "response": {"reason": reason, **extra}}


# -- the happy paths ------------------------------------------------------------------


async def test_an_auto_upload_arrives_whole_and_is_consumed(server: Server, shelf: Shelf) -> None:
    photo = Photo.of("0", 2_500, name="sunset.png")
    async with opened(server) as page:
        assert "data-phx-auto-upload" in page.input()
        assert page.refs("active") == ""

        changed = await page.choose(photo)
        assert changed["status"] == "ok" and "diff" in changed["response"]
        # Without its ref in the active refs, the client would drop the file.
        assert page.refs("active") == "0" and page.refs("preflighted") == ""
        assert page.texts("#entry-0 .name") == ["sunset.png"]
        assert page.texts("#entry-0 .progress") == ["0%"]
        assert server.temp_files() == []  # nothing is written before a byte arrives

        preflight = await page.preflight(photo)
        assert preflight["status"] == "ok"
        response = preflight["response"]
        assert response["ref"] == page.upload_ref
        assert response["config"] == {
            "max_file_size": MAX_FILE_SIZE,
            "max_entries": MAX_ENTRIES,
            "chunk_size": CHUNK_SIZE,
            "chunk_timeout": int(CHUNK_TIMEOUT * 1000),
        }
        assert list(response["entries"]) == ["0"] and response["entries"]["0"]
        assert "error" not in response
        assert page.refs("preflighted") == "0" and page.refs("done") == ""

        assert await page.client.join_upload("0", response["entries"]["0"]) == OK
        (temp,) = server.temp_files()
        assert temp.stat().st_size == 0 and photo.name not in temp.name
        assert temp.stat().st_mode & 0o777 == 0o600  # readable by the server's user alone
        shown = []
        for chunk in photo.chunks():  # 1000, 1000, 500 bytes
            assert await page.chunk(photo, chunk) == OK
            sent = temp.stat().st_size
            assert (await page.progress("0", sent * 100 // len(photo.data)))["status"] == "ok"
            shown += page.texts("#entry-0 .progress")
        assert shown == ["40%", "80%", "100%"]
        assert page.refs("done") == "0" == page.refs("preflighted")
        assert temp.read_bytes() == photo.data

        await page.save()
        assert shelf.files == {"sunset.png": photo.data}
        assert shelf.saves == [["sunset.png"]]
        assert server.temp_files() == []
        assert page.texts("#saved li") == ["sunset.png"]
        assert page.entries() == [] and page.refs("active") == "" and page.refs("done") == ""

        await page.save()  # consumed once: a second save finds nothing
        assert shelf.saves == [["sunset.png"], []]


async def test_a_manual_upload_preflights_two_files_at_submit_time(
    server: Server, shelf: Shelf
) -> None:
    # Accepted by extension (no type declared), and by declared type (no extension).
    shot = Photo.of("0", 1_500, name="shot.PNG", type="")
    camera = Photo.of("1", 2_200, name="camera", type="image/jpeg")
    async with opened(server, "/manual") as page:
        assert "data-phx-auto-upload" not in page.input()
        assert "multiple" in page.input()
        await page.choose(shot, camera)
        assert page.refs("active") == "0,1" and page.refs("preflighted") == ""
        assert page.errors("0") == page.errors("1") == page.errors() == []
        assert page.refs("error") == ""

        # Submitting: the client preflights every entry, uploads them, then submits.
        reply = await page.preflight(shot, camera)
        tokens = reply["response"]["entries"]
        assert sorted(tokens) == ["0", "1"] and tokens["0"] != tokens["1"]
        assert page.refs("preflighted") == "0,1" and page.refs("done") == ""

        # Both channels at once, their chunks interleaved.
        for photo in (shot, camera):
            assert await page.client.join_upload(photo.ref, tokens[photo.ref]) == OK
        assert len(server.temp_files()) == 2
        for pair in zip_longest(shot.chunks(), camera.chunks()):
            for photo, chunk in zip((shot, camera), pair, strict=True):
                if chunk is not None:
                    assert await page.chunk(photo, chunk) == OK
        for photo in (shot, camera):
            await page.progress(photo.ref, 100)
        assert page.texts(".entry .progress") == ["100%", "100%"]
        assert page.refs("done") == "0,1" == page.refs("preflighted")

        await page.save()
        assert shelf.files == {"shot.PNG": shot.data, "camera": camera.data}
        assert server.temp_files() == []
        assert page.texts("#saved li") == ["shot.PNG", "camera"]


# -- limits -----------------------------------------------------------------------------

OVERSIZED = {
    "past its declared size": (2_500, [1_000, 1_000, 1_000]),
    "past max_file_size": (MAX_FILE_SIZE, [1_000] * 9 + [1_500]),
    "one first chunk past both": (MAX_FILE_SIZE, [MAX_FILE_SIZE + 1]),
}


@pytest.mark.parametrize(("declared", "chunks"), OVERSIZED.values(), ids=OVERSIZED.keys())
async def test_the_chunk_past_the_limit_is_refused_and_ends_the_upload(
    server: Server, shelf: Shelf, declared: int, chunks: list[int]
) -> None:
    photo = Photo("0", secrets.token_bytes(sum(chunks)), "big.png", size=declared)
    async with opened(server) as page:
        tokens = await page.announce(photo)
        assert await page.client.join_upload("0", tokens["0"]) == OK
        *accepted, last = chunks
        at = 0
        for size in accepted:
            assert await page.chunk(photo, photo.data[at : at + size]) == OK
            at += size
        assert len(photo.data) - at == last
        reply = await page.chunk(photo, photo.data[at:])
        assert reply == refused("file_size_limit_exceeded", limit=MAX_FILE_SIZE)

        await next_push(page.client, photo.topic, "phx_close")
        await page.next_diff()
        assert page.errors("0") == [TOO_LARGE]
        assert page.refs("error") == "0"
        assert page.refs("done") == page.refs("preflighted") == ""
        assert server.temp_files() == []
        # The channel is gone: a further chunk finds nobody to take it.
        assert await page.chunk(photo, b"more") == refused("unmatched topic")

        await page.save()
        assert shelf.files == {} and shelf.saves == [[]]


DECLARED_WRONG = {
    "too large": (Photo.of("0", 100, size=MAX_FILE_SIZE + 1), "too_large", TOO_LARGE),
    "wrong type and extension": (
        Photo.of("0", 100, name="notes.txt", type="text/plain"),
        "not_accepted",
        NOT_ACCEPTED,
    ),
    "another image type": (  # image/gif is neither .png nor image/jpeg
        Photo.of("0", 100, name="anim.gif", type="image/gif"),
        "not_accepted",
        NOT_ACCEPTED,
    ),
}


@pytest.mark.parametrize("path", ["/auto", "/manual"])
@pytest.mark.parametrize(
    ("photo", "reason", "message"), DECLARED_WRONG.values(), ids=DECLARED_WRONG.keys()
)
async def test_a_file_declared_wrong_gets_no_token(
    server: Server, path: str, photo: Photo, reason: str, message: str
) -> None:
    async with opened(server, path) as page:
        await page.choose(photo)
        assert page.refs("active") == "0"
        assert page.errors("0") == [message]
        assert page.refs("error") == "0"

        response = (await page.preflight(photo))["response"]
        if path == "/manual":  # a form with an invalid file is not sent at all
            assert response["error"] == [["0", reason]] and "entries" not in response
        else:  # the valid files of an auto upload go on; this one has none
            assert response["entries"] == {} and "error" not in response
        assert page.refs("preflighted") == ""
        assert await page.client.join_upload("0", None) == refused("invalid_token")
        assert server.temp_files() == []


async def test_too_many_files_send_the_first_until_the_rest_are_cancelled(
    server: Server, shelf: Shelf
) -> None:
    """As Phoenix's auto upload: tokens for the first ``max_entries``; the error stays (and
    keeps the form from being submitted) until the extra file is cancelled."""
    photos = [Photo.of(str(ref)) for ref in range(MAX_ENTRIES + 1)]
    async with opened(server) as page:
        await page.choose(*photos)
        assert page.errors() == ["Too many files."]
        assert page.refs("active") == "0,1,2"

        response = (await page.preflight(*photos))["response"]
        tokens = response["entries"]
        assert sorted(tokens) == ["0", "1"] and "error" not in response
        assert page.refs("preflighted") == "0,1"
        assert page.errors() == ["Too many files."] and page.refs("error") == page.upload_ref

        await page.click("cancel", ref="2")
        assert page.errors() == [] and page.refs("active") == "0,1"
        for photo in photos[:2]:
            await page.send(photo, tokens[photo.ref])
        await page.save()
        assert shelf.files == {photo.name: photo.data for photo in photos[:2]}
        assert server.temp_files() == []


async def test_too_many_files_of_a_manual_upload_get_no_tokens(server: Server) -> None:
    photos = [Photo.of(str(ref)) for ref in range(MAX_ENTRIES + 1)]
    async with opened(server, "/manual") as page:
        await page.choose(*photos)
        response = (await page.preflight(*photos))["response"]
        assert response["error"] == [[page.upload_ref, "too_many_files"]]
        assert "entries" not in response and page.refs("preflighted") == ""
        assert server.temp_files() == []


# -- tokens -----------------------------------------------------------------------------


async def test_a_forged_token_is_refused(server: Server, shelf: Shelf) -> None:
    photo, other = Photo.of("0"), Photo.of("1")
    async with opened(server) as page:
        tokens = await page.announce(photo, other)
        token = tokens["0"]
        claims = {"v": page.topic, "u": page.upload_ref, "e": "0"}
        payload, timestamp, signature = token.rsplit(".", 2)
        edited = ("B" if signature[0] == "A" else "A") + signature[1:]
        forgeries: dict[str, t.Any] = {
            "an edited signature": f"{payload}.{timestamp}.{edited}",
            "another entry's claims": f"{tokens['1'].rsplit('.', 2)[0]}.{timestamp}.{signature}",
            "another key": URLSafeTimedSerializer("not-the-key", salt="live-upload").dumps(claims),
            "a session token's salt": URLSafeTimedSerializer(SECRET, "live-session").dumps(claims),
            "the claims, unsigned": claims,
            "nothing": None,
        }
        for name, forged in forgeries.items():
            assert await page.client.join_upload("0", forged) == refused("invalid_token"), name
        assert server.temp_files() == []

        await page.send(photo, token)  # the refusals did not spend the real token
        await page.save()
        assert shelf.files == {photo.name: photo.data}


async def test_another_sockets_token_is_refused(server: Server, shelf: Shelf) -> None:
    photo = Photo.of("0")
    async with opened(server) as page:
        token = (await page.announce(photo))["0"]
        # The same page on a second socket (a browser reconnecting), and another tab.
        async with (
            LiveClient.connect(server.base_url, page.client.page) as twin,
            opened(server) as tab,
        ):
            assert (await twin.join())["status"] == "ok"
            assert await twin.join_upload("0", token) == refused("invalid_token")
            assert await tab.client.join_upload("0", token) == refused("invalid_token")
            await tab.announce(Photo.of("0"))  # even where an entry 0 awaits its bytes
            assert await tab.client.join_upload("0", token) == refused("invalid_token")
            assert server.temp_files() == []

        await page.send(photo, token)
        await page.save()
        assert shelf.files == {photo.name: photo.data}


async def test_a_token_joins_once(server: Server, shelf: Shelf) -> None:
    whole, half = Photo.of("0"), Photo.of("1")
    async with opened(server) as page:
        tokens = await page.announce(whole, half)
        await page.send(whole, tokens["0"])
        # Used again on the same socket: refused, and the file already received is kept.
        reply = await page.client.join_upload("0", tokens["0"])
        assert reply == refused("already_registered")

        # An upload left half way: its token cannot start it again.
        assert await page.client.join_upload("1", tokens["1"]) == OK
        assert await page.chunk(half, half.chunks()[0]) == OK
        left = await page.client.call("lvu:1", "phx_leave", {}, page.client.join_refs["lvu:1"])
        assert left == OK
        await page.next_diff()
        assert page.errors("1") == [INCOMPLETE]
        assert await page.client.join_upload("1", tokens["1"]) == refused("already_registered")
        assert len(server.temp_files()) == 1

        await page.save()
        assert shelf.files == {whole.name: whole.data}
        assert server.temp_files() == []


async def test_a_token_for_another_entry_is_refused(server: Server) -> None:
    photos = [Photo.of("0"), Photo.of("1")]
    async with opened(server) as page:
        tokens = await page.announce(*photos)
        assert await page.client.join_upload("1", tokens["0"]) == refused("invalid_token")
        assert await page.client.join_upload("0", tokens["1"]) == refused("invalid_token")
        assert server.temp_files() == []
        assert await page.client.join_upload("0", tokens["0"]) == OK


async def test_an_expired_token_is_refused(tmp_path: Path, shelf: Shelf) -> None:
    with serving(tmp_path / "uploads", upload_token_max_age=0) as server:
        async with opened(server) as page:
            token = (await page.announce(Photo.of("0")))["0"]
            issued = int(time.time())
            async with asyncio.timeout(WAIT):  # tokens count whole seconds
                while int(time.time()) <= issued:
                    await asyncio.sleep(0.02)
            assert await page.client.join_upload("0", token) == refused("invalid_token")
            assert server.temp_files() == []


async def test_a_token_of_a_view_gone_is_refused(server: Server) -> None:
    async with opened(server) as page:
        token = (await page.announce(Photo.of("0")))["0"]
        assert (await page.client.leave())["status"] == "ok"
        assert await page.client.join_upload("0", token) == refused("invalid_token")
        # Joined again, the view is a fresh mount: the token is not one of its entries'.
        assert (await page.client.join(mounts=1))["status"] == "ok"
        assert await page.client.join_upload("0", token) == refused("invalid_token")
        assert server.temp_files() == []


async def test_an_entry_that_failed_is_disallowed(server: Server) -> None:
    async with opened(server) as page:
        token = (await page.announce(Photo.of("0")))["0"]
        await page.progress("0", {"error": "failed"})  # the browser could not read the file
        assert page.errors("0") == ["The browser could not send the file."]
        assert page.refs("preflighted") == ""
        assert await page.client.join_upload("0", token) == refused("disallowed")
        assert server.temp_files() == []


# -- uploads that stop --------------------------------------------------------------------


async def test_an_abandoned_upload_is_given_up_after_its_chunk_timeout(
    server: Server, shelf: Shelf
) -> None:
    photo = Photo.of("0", 2_500)
    async with opened(server, "/hasty") as page:
        token = (await page.announce(photo))["0"]
        assert await page.client.join_upload("0", token) == OK
        assert await page.chunk(photo, photo.chunks()[0]) == OK
        await page.progress("0", 40)
        (temp,) = server.temp_files()
        started = time.monotonic()

        await next_push(page.client, photo.topic, "phx_close")
        assert time.monotonic() - started > HASTY_TIMEOUT / 2
        await page.next_diff()
        assert page.errors("0") == [TIMED_OUT]
        assert page.refs("done") == page.refs("preflighted") == ""
        assert not temp.exists() and server.temp_files() == []
        assert await page.chunk(photo, photo.chunks()[1]) == refused("unmatched topic")

        await page.save()
        assert shelf.files == {}


async def test_a_socket_closed_mid_upload_leaves_no_file(server: Server) -> None:
    whole, half = Photo.of("0"), Photo.of("1")
    async with opened(server) as page:
        tokens = await page.announce(whole, half)
        await page.send(whole, tokens["0"])  # received, not yet consumed
        assert await page.client.join_upload("1", tokens["1"]) == OK
        for chunk in half.chunks()[:2]:
            assert await page.chunk(half, chunk) == OK
        assert len(server.temp_files()) == 2
        await page.client.ws.close()
    await eventually(lambda: server.temp_files() == [])


async def test_cancelling_mid_upload_drops_the_file_and_leaves_no_error(
    server: Server, shelf: Shelf
) -> None:
    photo, next_photo = Photo.of("0"), Photo.of("1")
    async with opened(server) as page:
        token = (await page.announce(photo))["0"]
        assert await page.client.join_upload("0", token) == OK
        assert await page.chunk(photo, photo.chunks()[0]) == OK
        await page.click("cancel", ref="0")
        assert page.entries() == [] and page.refs("active") == ""
        assert server.temp_files() == []

        # The official client's uploader goes on until told otherwise: its next chunk is
        # refused and its channel ends.
        assert (await page.chunk(photo, photo.chunks()[1]))["status"] == "error"
        await next_push(page.client, photo.topic, "phx_close")
        await page.choose()  # a round trip: whatever the view queued meanwhile is rendered
        # A cancelled file has no error to show: an error ref would block every submit
        # (the client cancels a submit while data-phx-error-refs is not empty).
        assert page.refs("error") == "", "the cancelled entry's error ref is left behind"
        assert page.errors() == [] and page.entries() == []

        tokens = await page.announce(next_photo)
        await page.send(next_photo, tokens["1"])
        await page.save()
        assert shelf.files == {next_photo.name: next_photo.data}
        assert server.temp_files() == []


async def test_files_uploaded_one_after_another_do_not_use_up_the_socket(
    tmp_path: Path, shelf: Shelf
) -> None:
    # A socket may hold 3 channels: the view, and (at a time) two uploads.
    with serving(tmp_path / "uploads", max_channels=3) as server:
        async with opened(server) as page:
            photos = [Photo.of(str(ref)) for ref in range(4)]
            for photo in photos:
                tokens = await page.announce(photo)
                await page.send(photo, tokens[photo.ref])
                await page.save()
            assert shelf.files == {photo.name: photo.data for photo in photos}
            assert server.temp_files() == []


async def test_refused_upload_joins_do_not_use_up_the_socket(tmp_path: Path, shelf: Shelf) -> None:
    # The view and two uploads at a time; refused joins are none of them.
    with serving(tmp_path / "uploads", max_channels=3) as server:
        async with opened(server) as page:
            photo = Photo.of("0")
            token = (await page.announce(photo))["0"]
            for ref in ("7", "8"):  # tokens of nothing: each join is refused
                assert await page.client.join_upload(ref, "forged") == refused("invalid_token")
            await page.send(photo, token)
            await page.save()
            assert shelf.files == {photo.name: photo.data}


# -- hostile frames --------------------------------------------------------------------------


async def test_a_chunk_before_the_join_is_refused(server: Server, shelf: Shelf) -> None:
    photo = Photo.of("0")
    async with opened(server) as page:
        token = (await page.announce(photo))["0"]
        assert await page.chunk(photo, photo.chunks()[0]) == refused("unmatched topic")
        assert server.temp_files() == []

        await page.send(photo, token)
        await page.save()
        assert shelf.files == {photo.name: photo.data}


async def test_a_text_chunk_is_refused_and_ends_the_upload(server: Server) -> None:
    photo = Photo.of("0")
    async with opened(server) as page:
        token = (await page.announce(photo))["0"]
        assert await page.client.join_upload("0", token) == OK
        reply = await page.client.call("lvu:0", "chunk", "aGVsbG8=", page.client.join_refs["lvu:0"])
        assert reply == refused("chunks are binary")
        await next_push(page.client, photo.topic, "phx_close")
        await page.next_diff()
        assert page.errors("0") == [INCOMPLETE]
        assert server.temp_files() == []


async def test_a_binary_frame_to_a_view_closes_only_that_socket(
    server: Server, shelf: Shelf
) -> None:
    photo = Photo.of("0")
    async with opened(server) as bad, opened(server) as good:
        token = (await good.announce(photo))["0"]
        assert await good.client.join_upload("0", token) == OK
        assert await good.chunk(photo, photo.chunks()[0]) == OK

        assert bad.client.join_ref is not None
        click = b'{"type":"click","event":"save","value":{}}'
        await bad.client.send_binary(bad.client.join_ref, "9", bad.topic, "event", click)
        assert await bad.client.close_code() == 1003

        for chunk in photo.chunks()[1:]:
            assert await good.chunk(photo, chunk) == OK
        await good.progress("0", 100)
        await good.save()
        assert shelf.files == {photo.name: photo.data}
        assert server.temp_files() == []


async def test_progress_cannot_claim_a_file_done(server: Server, shelf: Shelf) -> None:
    photo = Photo.of("0", 3_000)
    async with opened(server) as page:
        token = (await page.announce(photo))["0"]
        assert await page.client.join_upload("0", token) == OK
        assert await page.chunk(photo, photo.chunks()[0]) == OK

        await page.progress("0", 90)  # ahead of the bytes: the page shows the server's count
        assert page.texts("#entry-0 .progress") == ["33%"]
        await page.progress("0", 100)  # "done", with two thirds missing
        assert page.refs("done") == "" and page.refs("preflighted") == ""
        assert page.errors("0") == [INCOMPLETE]
        assert server.temp_files() == []
        assert await page.chunk(photo, photo.chunks()[1]) == refused("disallowed")
        await next_push(page.client, photo.topic, "phx_close")

        await page.save()
        assert shelf.saves == [[]] and shelf.files == {}


async def test_a_preflight_for_no_such_upload_is_an_error_reply(
    server: Server, shelf: Shelf
) -> None:
    photo = Photo.of("0")
    async with opened(server) as page:
        entries = [photo.entry()]
        reply = await page.push("allow_upload", {"ref": "phx-nope", "entries": entries})
        assert reply == refused("no such upload")
        reply = await page.push("allow_upload", {"ref": page.upload_ref, "entries": "all"})
        assert reply == refused("no such upload")
        reply = await page.push("allow_upload", {"entries": entries})
        assert reply == refused("no such upload")
        # Progress about an entry or an upload nobody chose changes nothing.
        assert (await page.progress("7", 100))["status"] == "ok"
        payload = {"event": None, "ref": "phx-nope", "entry_ref": "0", "progress": 100}
        assert (await page.push("progress", payload))["status"] == "ok"
        assert page.entries() == [] and server.temp_files() == []

        # The view works on.
        tokens = await page.announce(photo)
        await page.send(photo, tokens["0"])
        await page.save()
        assert shelf.files == {photo.name: photo.data}


# -- the test client ---------------------------------------------------------------------

FILE_INPUT = "#photos-form input[type=file]"


@pytest.mark.parametrize("path", ["/auto", "/manual"])
async def test_the_test_client_uploads_and_submits(tmp_path: Path, shelf: Shelf, path: str) -> None:
    uploads = tmp_path / "uploads"
    chosen = [
        UploadFile("one.png", secrets.token_bytes(2_500), "image/png"),
        UploadFile("two.jpg", secrets.token_bytes(1_200), "image/jpeg"),
    ]
    async with live(photos_app(uploads), path) as view:
        files = view.file_input(FILE_INPUT, chosen)
        await view.upload(files)
        assert files.errors == {}
        view.assert_has(".entry .progress", text="100%", count=2)
        await view.submit("#photos-form")
        assert [item.text() for item in view.find("#saved li")] == ["one.png", "two.jpg"]
        assert shelf.files == {file.name: file.content for file in chosen}
        assert list(uploads.iterdir()) == []


async def test_the_test_client_stops_part_way(tmp_path: Path, shelf: Shelf) -> None:
    uploads = tmp_path / "uploads"
    chosen = UploadFile("half.png", secrets.token_bytes(4_000), "image/png")
    async with live(photos_app(uploads), "/auto") as view:
        files = view.file_input(FILE_INPUT, [chosen])
        await view.upload(files, percent=50)
        assert view.text(".entry .progress") == "50%"
        (temp,) = uploads.iterdir()
        assert temp.stat().st_size == 2_000

        await view.upload(files)
        assert view.text(".entry .progress") == "100%"
        await view.submit("#photos-form")
        assert shelf.files == {"half.png": chosen.content}
        assert list(uploads.iterdir()) == []


async def test_the_test_client_shows_a_file_refused_before_sending(
    tmp_path: Path, shelf: Shelf
) -> None:
    uploads = tmp_path / "uploads"
    huge = UploadFile("huge.png", bytes(MAX_FILE_SIZE + 1), "image/png")
    async with live(photos_app(uploads), "/auto") as view:
        files = view.file_input(FILE_INPUT, [huge])
        await view.upload(files)
        assert files.errors == {}  # no token, so no channel refused anything
        view.assert_has(".entry .error", text=TOO_LARGE, count=1)
        await view.submit("#photos-form")
        assert shelf.files == {}
        assert not uploads.exists() or list(uploads.iterdir()) == []


async def test_the_test_client_reports_a_refused_upload(tmp_path: Path, shelf: Shelf) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")  # the upload folder, inside a file, cannot be made
    chosen = UploadFile("photo.png", secrets.token_bytes(1_500), "image/png")
    async with live(photos_app(blocked / "uploads"), "/auto") as view:
        files = view.file_input(FILE_INPUT, [chosen])
        await view.upload(files)
        assert files.errors == {files.entries[0].ref: "writer_error"}
        await view.wait_for(".entry .error", text="The file could not be saved.")
        await view.submit("#photos-form")
        assert shelf.files == {}


@pytest.mark.parametrize(
    ("name", "extension"),
    [
        ("photo.PNG", ".png"),
        ("archive.tar.gz", ".gz"),
        ("no-extension", ""),
        ("evil.ph\\p", ".php"),
        ("x.a/../../b", ""),
        ("x.<script>", ".script"),
        ("x." + "a" * 40, "." + "a" * 15),
    ],
)
def test_an_entry_s_extension_is_letters_and_digits_only(name: str, extension: str) -> None:
    entry = UploadEntry("0", "phx-x", client_name=name, client_size=1, client_type="")
    assert entry.client_extension == extension


@pytest.mark.parametrize(
    ("name", "kind", "extension"),
    [
        ("photo.PNG", "image/png", ".png"),
        ("evil.html", "image/jpeg", ""),  # accepted by its type: its name's extension is not safe
        ("x.js", "image/jpeg", ""),
        ("x.svg", "image/jpeg", ""),
    ],
)
def test_an_entry_s_extension_is_one_the_app_accepts(name: str, kind: str, extension: str) -> None:
    config = UploadConfig("photos", (".png", "image/jpeg"), max_entries=3)
    config.put_entries([{"ref": "0", "name": name, "type": kind, "size": 10}])
    (entry,) = config.entries
    assert entry.valid and entry.extension == extension


async def test_an_empty_chunk_is_refused_and_ends_the_upload(server: Server) -> None:
    photo = Photo.of("0")
    async with opened(server) as page:
        tokens = await page.announce(photo)
        assert await page.client.join_upload(photo.ref, tokens[photo.ref]) == OK
        reply = await page.client.push_binary(photo.topic, "chunk", b"")
        assert reply["status"] == "error" and reply["response"] == {"reason": "empty chunk"}
        assert server.temp_files() == []


async def test_a_progress_callback_can_keep_each_file_as_it_arrives(
    server: Server, shelf: Shelf
) -> None:
    first, second = Photo.of("0"), Photo.of("1", 4_000)
    async with opened(server, "/keeping") as page:
        tokens = await page.announce(first, second)
        await page.send(first, tokens[first.ref])
        assert shelf.files == {first.name: first.data}  # no Save: kept when it was whole
        assert page.refs("active") == "1"
        await page.send(second, tokens[second.ref])
        assert shelf.files == {first.name: first.data, second.name: second.data}
        assert page.refs("active") == "" and server.temp_files() == []


# -- what a busy view, a view that goes, or a killed process leaves ---------------------


@pytest.mark.parametrize("min_rate", [100, 5_000], ids=["chunk-timeout", "whole-deadline"])
async def test_a_busy_view_does_not_time_out_the_uploads_it_keeps_waiting(
    tmp_path: Path, shelf: Shelf, min_rate: int
) -> None:
    """While a slow handler runs, the client's progress pushes fill the view's mailbox and the
    socket is not read: chunks wait, through no fault of the client's. Time does not count,
    for the chunk timeout or for the whole upload's deadline (chunk_timeout + size /
    upload_min_rate: far at 100 B/s, shorter than the slow handler at 5,000)."""
    photo = Photo.of("0", 2_000)
    with serving(tmp_path / "uploads", mailbox_size=2, upload_min_rate=min_rate) as server:
        async with opened(server, "/busy") as page:
            tokens = await page.announce(photo)
            client = page.client
            assert await client.join_upload(photo.ref, tokens[photo.ref]) == OK
            async def push(event: str, payload: dict[str, t.Any]) -> None:  # reply unawaited
                await client.send(client.join_ref, client.next_ref(), page.topic, event, payload)

            await push("event", {"type": "click", "event": "slow", "value": {}})
            for start in range(0, len(photo.data), 100):  # as the client: progress unawaited
                chunk = photo.data[start : start + 100]
                assert await client.push_binary(photo.topic, "chunk", chunk) == OK
                percent = (start + 100) * 100 // len(photo.data)
                await push(
                    "progress",
                    {"event": None, "ref": page.upload_ref, "entry_ref": "0", "progress": percent},
                )
            await page.save()
            assert shelf.files == {photo.name: photo.data}
            assert not [f for f in client.pushes if f.event in ("phx_close", "phx_error")]


async def test_a_client_that_keeps_its_own_view_busy_cannot_hold_its_room_for_long(
    tmp_path: Path, shelf: Shelf
) -> None:
    """Its socket unread (its own flood of slow events) stops its uploads' clock, but for the
    deadline's length and a chunk timeout more at most: a preflight never sent gives the
    server's room back."""
    held, wanted = Photo.of("0", 2_500), Photo.of("0", 2_500)
    with serving(tmp_path / "uploads", upload_max_bytes=4_000, mailbox_size=2) as server:
        async with opened(server, "/busy") as busy, opened(server) as other:
            await busy.announce(held)  # preflighted: 2,500 of the server's 4,000 bytes held
            client = busy.client
            click = {"type": "click", "event": "slow", "value": {}}
            for _ in range(10):  # slow events, replies unawaited: its socket stays unread
                await client.send(client.join_ref, client.next_ref(), busy.topic, "event", click)
            await other.choose(wanted)
            async with asyncio.timeout(WAIT):  # far less than the 10 slow events take
                while not (await other.preflight(wanted))["response"].get("entries"):
                    assert other.errors("0") == [SERVER_FULL]  # until the room is back
                    await asyncio.sleep(0.05)
            client.ws.transport.abort()  # the tab is gone (a close would wait behind its events)


async def test_a_view_that_goes_closes_its_uploads_channels(tmp_path: Path, shelf: Shelf) -> None:
    """Complete but never saved, or still arriving: when the view leaves, each file's channel
    is closed (the client stops) and its slot of the socket is free again."""
    done, partial = Photo.of("0"), Photo.of("1")
    with serving(tmp_path / "uploads", max_channels=3) as server:
        async with opened(server) as page:
            tokens = await page.announce(done, partial)
            await page.send(done, tokens[done.ref])
            client = page.client
            assert await client.join_upload(partial.ref, tokens[partial.ref]) == OK
            assert await client.push_binary(partial.topic, "chunk", partial.data[:500]) == OK
            assert len(server.temp_files()) == 2
            assert (await client.leave())["status"] == "ok"
            closed = set()
            async with asyncio.timeout(WAIT):
                while closed != {done.topic, partial.topic}:
                    frame = client.pushes.pop(0) if client.pushes else await client.receive()
                    if frame.event == "phx_close":
                        closed.add(frame.topic)
            assert server.temp_files() == []
        async with opened(server) as again:  # another page: its uploads have their slots
            tokens = await again.announce(Photo.of("5"))
            assert await again.client.join_upload("5", tokens["5"]) == OK


async def test_every_chosen_file_is_listed_up_to_ten_more_than_allowed(server: Server) -> None:
    photos = [Photo.of(str(ref)) for ref in range(MAX_ENTRIES + 20)]
    async with opened(server) as page:
        await page.choose(*photos)
        assert page.refs("active") == ",".join(str(ref) for ref in range(MAX_ENTRIES + 10))
        assert page.errors() == ["Too many files."]


def test_uploads_a_killed_process_left_are_removed_at_the_next_start(tmp_path: Path) -> None:
    stale, fresh, other = (tmp_path / name for name in ("a.upload", "b.upload", "keep.txt"))
    for path in (stale, fresh, other):
        path.write_bytes(b"x")
    long_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (long_ago, long_ago))
    os.utime(other, (long_ago, long_ago))
    assert remove_stale_uploads(tmp_path, max_age=24 * 3600) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["b.upload", "keep.txt"]
    assert remove_stale_uploads(tmp_path / "missing", max_age=1) == 0


def test_the_default_upload_folder_is_this_user_s_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = upload_dir(None)
    assert folder.parent == tmp_path and stat.S_IMODE(folder.stat().st_mode) == 0o700
    folder.chmod(0o777)  # made, say, by another user, who could read or swap the files
    with pytest.raises(PermissionError):
        upload_dir(None)


# -- what uploads may hold on disk, and for how long -------------------------------------------


async def test_a_socket_holds_no_more_than_its_bound_finished_files_included(
    tmp_path: Path, shelf: Shelf
) -> None:
    """Each entry holds its declared size from its preflight until its file goes: a file
    complete but not saved still counts, in every view of the socket."""
    first, second, third = Photo.of("0", 2_500), Photo.of("1", 2_500), Photo.of("2", 2_500)
    with serving(tmp_path / "uploads", upload_socket_max_bytes=4_000) as server:
        async with opened(server) as page:
            tokens = await page.announce(first)
            await page.send(first, tokens[first.ref])
            assert page.refs("done") == "0"  # complete, not saved: it still holds its bytes

            await page.choose(first, second)
            response = (await page.preflight(second))["response"]
            assert response["entries"] == {} and "error" not in response
            assert page.errors("1") == [SOCKET_FULL] and page.refs("error") == "1"
            assert await page.client.join_upload("1", None) == refused("invalid_token")

            # Another page on the same socket draws on the same bound.
            other = await another_view(page)
            await other.choose(third)
            assert (await other.preflight(third))["response"]["entries"] == {}
            assert other.errors("2") == [SOCKET_FULL]
            assert len(server.temp_files()) == 1

            await page.save()  # the first file is kept: its room comes back
            assert shelf.files == {first.name: first.data}
            await other.click("cancel", ref="2")
            fourth = Photo.of("3", 2_500)
            tokens = await other.announce(fourth)
            await other.send(fourth, tokens[fourth.ref])
            assert other.refs("done") == "3" and other.errors("3") == []


async def test_the_process_holds_no_more_than_its_bound_across_sockets(
    tmp_path: Path, shelf: Shelf
) -> None:
    held, refused_photo, later = Photo.of("0", 2_500), Photo.of("0", 2_500), Photo.of("1", 2_500)
    with serving(tmp_path / "uploads", upload_max_bytes=4_000) as server:
        async with opened(server) as second:
            async with opened(server) as first:
                tokens = await first.announce(held)
                await first.send(held, tokens[held.ref])

                await second.choose(refused_photo)
                assert (await second.preflight(refused_photo))["response"]["entries"] == {}
                assert second.errors("0") == [SERVER_FULL]
            # The first socket closed: its file, never saved, went with it, and its room.
            await eventually(lambda: server.temp_files() == [])
            await second.click("cancel", ref="0")
            tokens = await second.announce(later)
            await second.send(later, tokens[later.ref])
            await second.save()
            assert shelf.files == {later.name: later.data}


async def test_a_file_refused_for_want_of_room_is_tried_again_at_its_next_preflight(
    tmp_path: Path,
) -> None:
    """As the browser does on the next submit: the same file, the same ref, room freed since."""
    held, waiting = Photo.of("0", 2_500), Photo.of("0", 2_500)
    with serving(tmp_path / "uploads", upload_max_bytes=4_000) as server:
        async with opened(server) as first, opened(server, "/manual") as second:
            tokens = await first.announce(held)
            await first.send(held, tokens[held.ref])
            await second.choose(waiting)
            response = (await second.preflight(waiting))["response"]
            assert response["error"] == [["0", "server_full"]]

            await first.click("cancel", ref="0")  # its room is free again
            tokens = (await second.preflight(waiting))["response"]["entries"]
            await second.send(waiting, tokens["0"])
            assert second.refs("done") == "0" and second.errors("0") == []


async def test_a_manual_upload_past_the_bound_sends_nothing(tmp_path: Path) -> None:
    fits, too_much = Photo.of("0", 2_000), Photo.of("1", 2_500)
    with serving(tmp_path / "uploads", upload_socket_max_bytes=4_000) as server:
        async with opened(server, "/manual") as page:
            await page.choose(fits, too_much)
            response = (await page.preflight(fits, too_much))["response"]
            assert response["error"] == [["1", "socket_full"]] and "entries" not in response
            assert page.errors("1") == [SOCKET_FULL] and page.refs("preflighted") == ""
            # The file that fitted gave its room back: alone, it is sent.
            await page.click("cancel", ref="1")
            tokens = (await page.preflight(fits))["response"]["entries"]
            await page.send(fits, tokens["0"])
            assert page.refs("done") == "0"
            assert len(server.temp_files()) == 1


async def test_a_complete_file_never_saved_expires_and_gives_its_room_back(
    tmp_path: Path, shelf: Shelf
) -> None:
    photo, next_photo = Photo.of("0", 2_500), Photo.of("1", 2_500)
    with serving(
        tmp_path / "uploads", upload_expiry=1.0, upload_socket_max_bytes=2_500
    ) as server:
        async with opened(server) as page:
            tokens = await page.announce(photo)
            await page.send(photo, tokens[photo.ref])
            await next_push(page.client, photo.topic, "phx_close", timeout=4 * WAIT)
            await page.next_diff()
            assert page.errors("0") == [EXPIRED]
            assert page.refs("done") == page.refs("preflighted") == ""
            assert server.temp_files() == []

            await page.click("cancel", ref="0")
            tokens = await page.announce(next_photo)  # the room is free again
            await page.send(next_photo, tokens[next_photo.ref])
            await page.save()
            assert shelf.files == {next_photo.name: next_photo.data}


async def test_an_upload_that_trickles_is_given_up(tmp_path: Path, shelf: Shelf) -> None:
    """One byte now and then, always within the chunk timeout, keeps no upload alive: after a
    chunk timeout of grace, it must average ``upload_min_rate`` since its preflight."""
    photo = Photo.of("0", 5_000)
    with serving(tmp_path / "uploads", upload_min_rate=2_000) as server:
        async with opened(server) as page:
            started, sent = time.monotonic(), 0
            token = (await page.announce(photo))["0"]
            assert await page.client.join_upload("0", token) == OK
            async with asyncio.timeout(8 * WAIT):
                while (reply := await page.chunk(photo, photo.data[sent : sent + 1])) == OK:
                    sent += 1
                    await asyncio.sleep(CHUNK_TIMEOUT / 10)
            assert reply == refused("too_slow")
            assert time.monotonic() - started >= CHUNK_TIMEOUT and sent < 100
            await next_push(page.client, photo.topic, "phx_close")
            await page.choose()  # a round trip: what the view queued meanwhile is rendered
            assert page.errors("0") == [TOO_SLOW]
            assert page.refs("done") == page.refs("preflighted") == ""
            assert server.temp_files() == []


async def test_a_file_preflighted_but_never_sent_gives_its_room_back_after_a_chunk_timeout(
    tmp_path: Path,
) -> None:
    """Not joined within ``chunk_timeout``: its room goes then, not at the whole upload's
    deadline (``chunk_timeout`` + 2,500 s here), or preflights alone could hold every byte."""
    photo, next_photo = Photo.of("0", 2_500), Photo.of("1", 2_500)
    with serving(tmp_path / "uploads", upload_min_rate=1, upload_socket_max_bytes=2_500) as server:
        async with opened(server, "/hasty") as page:
            token = (await page.announce(photo))["0"]
            await page.next_diff()
            assert page.errors("0") == [TOO_SLOW] and page.refs("preflighted") == ""
            assert await page.client.join_upload("0", token) == refused("disallowed")
            await page.click("cancel", ref="0")
            assert list(await page.announce(next_photo)) == ["1"]
            assert server.temp_files() == []


async def test_a_steady_upload_longer_than_its_chunk_timeout_completes(
    tmp_path: Path, shelf: Shelf
) -> None:
    """The chunk timeout counts from the last chunk, not from the first."""
    photo = Photo.of("0", 2_500)
    with serving(tmp_path / "uploads", upload_min_rate=100) as server:
        async with opened(server, "/steady") as page:
            token = (await page.announce(photo))["0"]
            assert await page.client.join_upload("0", token) == OK
            started = time.monotonic()
            for at in range(0, len(photo.data), 100):
                assert await page.chunk(photo, photo.data[at : at + 100]) == OK
                await asyncio.sleep(STEADY_TIMEOUT / 15)
            assert time.monotonic() - started > STEADY_TIMEOUT
            await page.progress("0", 100)
            assert page.refs("done") == "0" and page.errors("0") == []
            await page.save()
            assert shelf.files == {photo.name: photo.data}
            assert server.temp_files() == []


async def test_max_entries_holds_across_choices_and_frees_a_place_as_files_are_kept(
    server: Server, shelf: Shelf
) -> None:
    """An auto upload that keeps each file as it arrives: two at a time, whatever the number
    of choices; a file kept (or cancelled) frees its place while the other still arrives."""
    a, b, c, d = (Photo.of(str(ref)) for ref in range(4))
    async with opened(server, "/keeping") as page:
        tokens = await page.announce(a)
        await page.choose(a, b)  # a second choice, as the client lists it: every file so far
        tokens |= (await page.preflight(b))["response"]["entries"]
        await page.choose(a, b, c)
        assert page.errors() == ["Too many files."]
        assert (await page.preflight(c))["response"]["entries"] == {}
        assert page.refs("preflighted") == "0,1"

        assert await page.client.join_upload("1", tokens["1"]) == OK
        assert await page.chunk(b, b.chunks()[0]) == OK  # b is on its way
        await page.send(a, tokens["0"])  # a arrives whole, and is kept: its place is free
        assert shelf.files == {a.name: a.data}
        assert page.errors() == [] and page.refs("active") == "1,2"
        c_token = (await page.preflight(c))["response"]["entries"]["2"]

        await page.choose(b, c, d)
        assert page.errors() == ["Too many files."]
        assert (await page.preflight(d))["response"]["entries"] == {}
        await page.send(c, c_token)
        for chunk in b.chunks()[1:]:
            assert await page.chunk(b, chunk) == OK
        await page.progress("1", 100)
        assert shelf.files == {p.name: p.data for p in (a, b, c)}
        assert page.refs("active") == "3" and page.errors() == []


async def test_the_entry_list_stays_bounded_over_many_changes(server: Server) -> None:
    refs = iter(range(1_000))
    async with opened(server) as page:
        for _ in range(40):
            chosen = [Photo.of(str(next(refs)), 10) for _ in range(3)]
            chosen.append(Photo.of(str(next(refs)), 10, name="x.txt", type="text/plain"))
            assert (await page.choose(*chosen))["status"] == "ok"
        assert len(page.refs("active").split(",")) == MAX_ENTRIES + 10
        assert len(page.entries()) == MAX_ENTRIES + 10
        assert page.errors() == ["Too many files."]
        assert len(page.refs("error").split(",")) <= MAX_ENTRIES + 11
        assert len(page.rendered.html) < 10_000


async def test_a_cancelled_entry_announced_again_needs_a_new_preflight(
    server: Server, shelf: Shelf
) -> None:
    photo = Photo.of("0")
    async with opened(server) as page:
        token = (await page.announce(photo))["0"]
        await page.click("cancel", ref="0")
        await page.choose(photo)  # the same ref, chosen again: not preflighted
        assert page.refs("active") == "0" and page.refs("preflighted") == ""
        assert await page.client.join_upload("0", token) == refused("disallowed")
        assert server.temp_files() == []
        tokens = await page.announce(photo)
        await page.send(photo, tokens["0"])
        await page.save()
        assert shelf.files == {photo.name: photo.data}


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("invoice\u202egnp.exe", "invoicegnp.exe"),
        ("a\u2066b\u2069c\u200f.png", "abc.png"),
        ("nul\x00in\x1fname.png", "nulinname.png"),
    ],
)
async def test_a_file_name_is_shown_without_control_or_bidi_characters(
    server: Server, shelf: Shelf, name: str, shown: str
) -> None:
    photo = Photo.of("0", name=name, type="image/jpeg")  # accepted by its type
    async with opened(server) as page:
        tokens = await page.announce(photo)
        assert page.texts("#entry-0 .name") == [shown]
        await page.send(photo, tokens["0"])
        await page.save()
        assert shelf.saves == [[shown]] and page.texts("#saved li") == [shown]


async def test_a_declared_type_is_compared_case_insensitively(server: Server) -> None:
    photo = Photo.of("0", name="camera", type="IMAGE/JPEG")
    async with opened(server) as page:
        await page.announce(photo)
        assert page.errors("0") == []
        assert page.refs("preflighted") == "0"

{%- endraw %}
