"""File uploads on the contact page, in headless Chromium with the official client.

The runtime's upload tests show the protocol frame by frame; these show that
a person choosing files in a real browser gets what the page promises: a
preview and a progress bar per file, an error next to each file the server
refuses (before a byte of it is sent), cancel buttons that clear them, saved
files listed for everyone with links that serve the same bytes, and no bytes
left behind on disk when an upload is cancelled, abandoned or deleted.

Files are chosen with ``set_input_files`` and made in the test. The live
server's database and media folder are shared with other tests: each test
makes its own contact, and looks only at the files its own steps add to the
media folder. Uploads in progress live in ``media_dir / ".uploads"``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import struct
import time
import typing as t
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from jinja2.filters import do_filesizeformat
from playwright.async_api import Browser, BrowserContext, Page, WebSocket
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.contacts import media_bytes
from {{ cookiecutter.package_name }}.db import Database
from {{ cookiecutter.package_name }}.models import Contact
from {{ cookiecutter.package_name }}.settings import Settings

from browsing import (
    WAIT_MS,
    answer_next_confirm,
    assert_no_reload,
    assert_sound,
    open_live,
    set_marker,
    wait_until,
    watched,
)
from servers import serve
{%- raw %}

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

FILE_INPUT = "#upload-form input[type=file]"
MAX_FILE_SIZE = 10_000_000  # the contact page's limit, in bytes

# The entries the upload form shows, as {name, progress, errors, preview}.
ENTRIES = """() => [...document.querySelectorAll('#upload-form .upload-entry')].map((div) => ({
    ref: div.id.replace(/^upload-/, ''),
    name: div.querySelector('.upload-progress span').textContent,
    progress: div.querySelector('progress').value,
    errors: [...div.querySelectorAll('.field-error')].map((e) => e.textContent.trim()),
    preview: div.querySelector('img')?.getAttribute('src') ?? null,
}))"""
# The saved files the page lists, as {name, size, href}.
LISTED = """() => [...document.querySelectorAll('#files .file-list li')].map((li) => ({
    name: li.querySelector('a').textContent,
    size: li.querySelector('small').textContent,
    href: li.querySelector('a').getAttribute('href'),
}))"""
# The errors of the whole upload (not of one file), as shown above the entries.
FORM_ERRORS = """() => [...document.querySelectorAll('#upload-form > .field-error')]
    .map((e) => e.textContent.trim())"""


# -- fixtures --------------------------------------------------------------------


# What the client logs when a page closes while a file of its is on its way: it pushes the
# cut upload's error over the socket that just closed, and cannot.
NOISE_OF_LEAVING = "Failed to push file progress"


@pytest_asyncio.fixture(loop_scope="session")
async def me(browser: Browser, live_server: str) -> AsyncIterator[BrowserContext]:
    async with watched(browser, live_server) as context:
        yield context


@pytest_asyncio.fixture(loop_scope="session")
async def contact_id(live_database: Database) -> int:
    """A contact of this test's own (unique name and email), with no files yet."""
    tag = uuid.uuid4().hex[:10]
    contact = Contact(name=f"Uploader {tag}", email=f"uploader.{tag}@example.com")
    async with live_database.session() as session:
        session.add(contact)
        await session.flush()
        return contact.id


# -- files -------------------------------------------------------------------------


def png_image(width: int, height: int, pixels: bytes | None = None) -> bytes:
    """A valid PNG (8-bit RGB): one colour, or ``pixels`` (``width * height * 3`` bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row_size = width * 3
    if pixels is None:
        pixels = bytes([200, 30, 60]) * (width * height)
    rows = b"".join(
        b"\x00" + pixels[y * row_size : (y + 1) * row_size] for y in range(height)
    )  # filter type 0 before each row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


def pdf_file(size: int) -> bytes:
    """``size`` bytes that start like a PDF (random after the header: nothing compresses it)."""
    header = b"%PDF-1.4\n"
    return header + os.urandom(size - len(header))


def file(name: str, mime_type: str, data: bytes) -> dict[str, t.Any]:
    """A file as ``set_input_files`` takes it."""
    return {"name": name, "mimeType": mime_type, "buffer": data}


def temp_files(media_dir: Path) -> list[Path]:
    """The uploads in progress (or complete and not saved yet) on the server's disk."""
    uploads = media_dir / ".uploads"
    return sorted(uploads.iterdir()) if uploads.is_dir() else []


def kept_files(media_dir: Path) -> set[str]:
    """The names of the files the media folder keeps (not the uploads in progress)."""
    return {path.name for path in media_dir.iterdir() if path.is_file()}


# -- the page ------------------------------------------------------------------------


async def choose(page: Page, *files: dict[str, t.Any]) -> None:
    """Choose ``files`` in the upload form's file input, as a person picking them does."""
    await page.set_input_files(FILE_INPUT, files=list(files))


async def entries(page: Page) -> list[dict[str, t.Any]]:
    return t.cast(list[dict[str, t.Any]], await page.evaluate(ENTRIES))


async def expect_entries(page: Page, expected: dict[str, dict[str, t.Any]]) -> None:
    """The form shows exactly the entries named in ``expected``, each with those fields."""
    try:
        await wait_until(
            page,
            f"""(expected) => {{
                const shown = ({ENTRIES})();
                return shown.length === Object.keys(expected).length &&
                    shown.every((entry) => expected[entry.name] !== undefined &&
                        Object.entries(expected[entry.name]).every(([key, value]) =>
                            JSON.stringify(entry[key]) === JSON.stringify(value)));
            }}""",
            expected,
        )
    except PlaywrightTimeoutError:
        pytest.fail(f"expected the entries {expected}, the page shows {await entries(page)}")


async def entry_refs(page: Page) -> dict[str, str]:
    """Each shown entry's client ref, by file name."""
    return {entry["name"]: entry["ref"] for entry in await entries(page)}


async def expect_form_errors(page: Page, expected: list[str]) -> None:
    try:
        await wait_until(
            page,
            f"(expected) => JSON.stringify(({FORM_ERRORS})()) === JSON.stringify(expected)",
            expected,
        )
    except PlaywrightTimeoutError:
        shown = await page.evaluate(FORM_ERRORS)
        pytest.fail(f"expected the upload's errors {expected}, the page shows {shown}")


async def expect_listed(page: Page, expected: list[tuple[str, str]]) -> list[str]:
    """The saved files listed are exactly ``expected`` (name, size), in order; their links."""
    try:
        await wait_until(
            page,
            f"""(expected) => JSON.stringify(({LISTED})().map((f) => [f.name, f.size])) ===
                JSON.stringify(expected)""",
            [list(pair) for pair in expected],
        )
    except PlaywrightTimeoutError:
        pytest.fail(f"expected the files {expected}, the page lists {await page.evaluate(LISTED)}")
    if not expected:
        await page.locator("#no-files").wait_for(timeout=WAIT_MS)
    return [item["href"] for item in await page.evaluate(LISTED)]


async def expect_text(page: Page, selector: str, text: str) -> None:
    try:
        await wait_until(
            page,
            "([sel, text]) => document.querySelector(sel)?.textContent.trim() === text",
            [selector, text],
        )
    except PlaywrightTimeoutError:
        found = await page.locator(selector).all_text_contents()
        pytest.fail(f"expected {selector} to say {text!r}, found {found}")


async def cancel(page: Page, name: str) -> None:
    """Press the ✕ of the entry ``name``; its entry goes."""
    await page.click(f"#upload-form button.cancel[aria-label='Cancel {name}']")
    await wait_until(
        page,
        f"(name) => !({ENTRIES})().some((entry) => entry.name === name)",
        name,
    )


async def save(page: Page) -> None:
    """Press Save files and wait until the form has no entry left."""
    await page.click("#save-files")
    await page.locator("#upload-form .upload-entry").first.wait_for(
        state="detached", timeout=WAIT_MS
    )


def upload_frames(page: Page) -> dict[str, t.Any]:
    """What the page sends on upload channels from now on: joined topics, binary bytes.

    Call it before the page loads: the WebSocket is watched from its opening.
    """
    sent: dict[str, t.Any] = {"joined": [], "binary_bytes": 0}

    def on_frame(payload: str | bytes) -> None:
        if isinstance(payload, bytes):  # a chunk of a file
            sent["binary_bytes"] += len(payload)
            return
        frame = json.loads(payload)  # [join_ref, ref, topic, event, payload]
        if isinstance(frame, list) and len(frame) == 5 and frame[3] == "phx_join":
            if str(frame[2]).startswith("lvu:"):
                sent["joined"].append(frame[2])

    def on_websocket(websocket: WebSocket) -> None:
        websocket.on("framesent", on_frame)

    page.on("websocket", on_websocket)
    return sent


async def wait_for_disk(check: t.Callable[[], bool], what: str) -> None:
    """Poll the server's disk (bounded) until ``check()`` holds."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"after {WAIT_MS} ms, still not true: {what}")
        await asyncio.sleep(0.02)


# -- choosing, saving, and everyone seeing the files ---------------------------------------


async def test_chosen_files_upload_with_previews_and_saved_files_reach_every_page(
    me: BrowserContext, other: BrowserContext, contact_id: int, live_server: str, media_dir: Path
) -> None:
    page, watcher = await me.new_page(), await other.new_page()
    await open_live(watcher, f"/contacts/{contact_id}")
    await expect_listed(watcher, [])
    await set_marker(watcher)
    kept_before = kept_files(media_dir)

    image, document = png_image(12, 8), pdf_file(300_000)
    await open_live(page, f"/contacts/{contact_id}")
    await set_marker(page)
    await choose(
        page,
        file("red dot.png", "image/png", image),
        file("report.pdf", "application/pdf", document),
    )
    # Each file uploads as soon as it is chosen; only the image has a preview.
    await expect_entries(
        page,
        {
            "red dot.png": {"progress": 100, "errors": []},
            "report.pdf": {"progress": 100, "errors": [], "preview": None},
        },
    )
    await wait_until(
        page,
        """() => {
            const img = document.querySelector('#upload-form .upload-entry img');
            return img?.src.startsWith('blob:') && img.complete && img.naturalWidth === 12;
        }""",
    )
    await assert_sound(page)
    # Complete and not saved yet: both wait in the uploads folder, whole.
    assert sorted(path.stat().st_size for path in temp_files(media_dir)) == sorted(
        [len(image), len(document)]
    )

    await save(page)
    expected = [("red dot.png", do_filesizeformat(len(image))), ("report.pdf", "300.0 kB")]
    links = await expect_listed(page, expected)
    await expect_text(page, "#flash-info", "2 files saved.")
    await assert_sound(page)
    assert temp_files(media_dir) == []

    # The links serve the very bytes chosen, from the media folder.
    async with httpx.AsyncClient(base_url=live_server, timeout=WAIT_MS / 1000) as client:
        for href, data in zip(links, [image, document], strict=True):
            assert href.startswith("/media/")
            response = await client.get(href)
            assert response.status_code == 200, href
            assert response.content == data, href
    stored = {urlsplit(href).path.removeprefix("/media/") for href in links}
    assert kept_files(media_dir) - kept_before == stored

    # The other person's page lists them too, without a reload.
    assert await expect_listed(watcher, expected) == links
    await assert_sound(watcher)
    for browser_page in (page, watcher):
        await assert_no_reload(browser_page)


# -- what the server refuses -----------------------------------------------------------


async def test_refused_files_show_why_are_never_sent_and_can_be_cancelled(
    me: BrowserContext, contact_id: int, media_dir: Path
) -> None:
    page = await me.new_page()
    sent = upload_frames(page)
    await open_live(page, f"/contacts/{contact_id}")
    kept_before = kept_files(media_dir)

    good = png_image(4, 4)
    await choose(
        page,
        file("huge.png", "image/png", bytes(MAX_FILE_SIZE + 1)),
        file("notes.txt", "text/plain", b"plain text\n"),
        file("small.png", "image/png", good),
    )
    await expect_entries(
        page,
        {
            "huge.png": {"errors": ["The file is too large."], "progress": 0, "preview": None},
            "notes.txt": {"errors": ["This type of file is not accepted."], "progress": 0},
            "small.png": {"errors": [], "progress": 100},
        },
    )
    await expect_form_errors(page, [])
    await assert_sound(page)
    # Only the accepted file was sent: its channel joined, its bytes (and no others) arrived.
    refs = await entry_refs(page)
    assert sent["joined"] == [f"lvu:{refs['small.png']}"]
    assert len(good) <= sent["binary_bytes"] < len(good) + 1_000
    assert [path.stat().st_size for path in temp_files(media_dir)] == [len(good)]

    await cancel(page, "huge.png")
    await cancel(page, "notes.txt")
    await expect_entries(page, {"small.png": {"errors": [], "progress": 100}})
    assert await page.locator("#upload-form .field-error").count() == 0
    await save(page)
    listed = [("small.png", do_filesizeformat(len(good)))]
    await expect_listed(page, listed)
    await expect_text(page, "#flash-info", "1 file saved.")
    assert temp_files(media_dir) == []

    # Six files at once, for five places: as Phoenix's auto upload, the first five are sent;
    # the sixth waits, and "Too many files." keeps the form from being saved until it goes.
    photos = [file(f"photo {n}.png", "image/png", png_image(n + 1, 2)) for n in range(6)]
    await choose(page, *photos)
    await expect_form_errors(page, ["Too many files."])
    expected = {photo["name"]: {"errors": [], "progress": 100} for photo in photos[:5]}
    await expect_entries(page, {**expected, "photo 5.png": {"errors": [], "progress": 0}})
    assert len(sent["joined"]) == 1 + 5
    assert len(temp_files(media_dir)) == 5
    await cancel(page, "photo 5.png")
    await expect_form_errors(page, [])
    assert await page.locator("#upload-form .field-error").count() == 0
    await expect_entries(page, expected)
    await save(page)
    listed += [(photo["name"], do_filesizeformat(len(photo["buffer"]))) for photo in photos[:5]]
    await expect_listed(page, listed)
    await expect_text(page, "#flash-info", "5 files saved.")
    assert temp_files(media_dir) == []
    assert len(kept_files(media_dir) - kept_before) == len(listed)
    await assert_sound(page)


async def test_save_shows_with_something_to_save_and_a_download_keeps_its_name(
    me: BrowserContext, contact_id: int
) -> None:
    page = await me.new_page()
    await open_live(page, f"/contacts/{contact_id}")
    refused = {"notes.txt": {"errors": ["This type of file is not accepted."], "progress": 0}}
    await choose(page, file("notes.txt", "text/plain", b"plain text\n"))
    await expect_entries(page, refused)
    assert await page.locator("#save-files").count() == 0  # nothing it could save
    await cancel(page, "notes.txt")
    await choose(page, file("Q3 résumé.pdf", "application/pdf", pdf_file(2_000)))
    await expect_entries(page, {"Q3 résumé.pdf": {"errors": [], "progress": 100}})
    await save(page)
    await expect_text(page, "#flash-info", "1 file saved.")

    # A refused file next: the success is old news, the refusal is what the page says.
    await choose(page, file("notes.txt", "text/plain", b"plain text\n"))
    await expect_entries(page, refused)
    await wait_until(page, "() => document.querySelector('#flash-info') === null")
    assert await page.locator("#save-files").count() == 0
    await cancel(page, "notes.txt")

    # The link downloads the file under the name it was uploaded with.
    async with page.expect_download() as download:
        await page.click("#files .file-list a[target]")
    assert (await download.value).suggested_filename == "Q3 résumé.pdf"
    await assert_sound(page)


async def test_files_past_the_server_s_bounds_say_why_next_to_each(
    browser: Browser,
    app_database_url: str,
    live_database: Database,
    contact_id: int,
    tmp_path: Path,
) -> None:
    """A server that may hold 150 kB of uploads at once and keep 150 kB more files: the file
    past the first bound is refused before a byte of it is sent, the one past the second is
    not saved, and the page says why in each case."""
    async with live_database.session() as session:
        kept_already = await media_bytes(session)  # the other tests' files, in this database
    media = tmp_path / "media"
    settings = Settings(
        secret_key=secrets.token_urlsafe(32),
        database_url=app_database_url,
        media_dir=media,
        upload_max_bytes=150_000,
        media_max_bytes=kept_already + 150_000,
    )
    with serve(create_app(settings), lifespan="on") as base_url:
        async with watched(browser, base_url) as context:
            page = await context.new_page()
            sent = upload_frames(page)
            await open_live(page, f"/contacts/{contact_id}")
            await choose(
                page,
                file("one.pdf", "application/pdf", pdf_file(100_000)),
                file("two.pdf", "application/pdf", pdf_file(100_000)),
            )
            busy = "The server is receiving too many files right now: try again later."
            await expect_entries(
                page,
                {
                    "one.pdf": {"progress": 100, "errors": []},
                    "two.pdf": {"progress": 0, "errors": [busy]},
                },
            )
            assert [path.stat().st_size for path in temp_files(media)] == [100_000]
            assert sent["joined"] == [f"lvu:{(await entry_refs(page))['one.pdf']}"]
            await cancel(page, "two.pdf")
            await save(page)
            await expect_text(page, "#flash-info", "1 file saved.")

            # Its room came back: the next file arrives, but the kept files have no room left.
            await choose(page, file("three.pdf", "application/pdf", pdf_file(60_000)))
            await expect_entries(page, {"three.pdf": {"progress": 100, "errors": []}})
            await page.click("#save-files")
            full = "The files were not saved: the storage for files is full."
            await expect_text(page, "#flash-error", full)
            await expect_entries(page, {"three.pdf": {"progress": 100, "errors": []}})
            await expect_listed(page, [("one.pdf", "100.0 kB")])
            await cancel(page, "three.pdf")
            await wait_for_disk(lambda: temp_files(media) == [], "the cancelled file removed")
            await assert_sound(page)


async def test_files_dropped_on_the_drop_zone_upload_too(
    me: BrowserContext, contact_id: int, media_dir: Path
) -> None:
    """Drag and drop: the client takes the files of a drop on ``phx-drop-target``."""
    page = await me.new_page()
    await open_live(page, f"/contacts/{contact_id}")
    image = png_image(3, 3)
    await page.evaluate(
        """([name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, {type: "image/png"}));
            const zone = document.querySelector(".drop-zone");
            for (const kind of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(kind, {dataTransfer: transfer, bubbles: true}));
            }
        }""",
        ["dropped.png", list(image)],
    )
    await expect_entries(page, {"dropped.png": {"errors": [], "progress": 100}})
    await save(page)
    await expect_listed(page, [("dropped.png", do_filesizeformat(len(image)))])
    assert temp_files(media_dir) == []


# -- what is not saved leaves nothing behind ---------------------------------------------


async def test_closing_the_tab_mid_upload_removes_the_partial_file(
    browser: Browser, live_server: str, contact_id: int, media_dir: Path
) -> None:
    async with watched(browser, live_server, tolerated=NOISE_OF_LEAVING) as context:
        await close_mid_upload(await context.new_page(), contact_id, media_dir)


async def close_mid_upload(page: Page, contact_id: int, media_dir: Path) -> None:
    await open_live(page, f"/contacts/{contact_id}")
    kept_before = kept_files(media_dir)
    # The client's latency simulator waits between chunks: the upload takes a few seconds.
    await page.evaluate("() => window.liveSocket.enableLatencySim(40)")

    side = 800
    photo = png_image(side, side, os.urandom(side * side * 3))  # noise: ~1.9 MB, 30 chunks
    await choose(page, file("big photo.png", "image/png", photo))
    # The server has part of the file (its own count, shown as the progress), not all.
    await wait_until(
        page,
        """() => {
            const progress = document.querySelector('#upload-form .upload-entry progress');
            return progress && progress.value > 0 && progress.value < 100;
        }""",
    )
    (partial,) = temp_files(media_dir)
    assert 0 < partial.stat().st_size < len(photo)

    await page.close()
    await wait_for_disk(lambda: not temp_files(media_dir), "the partial upload is removed")
    assert kept_files(media_dir) == kept_before


async def test_a_deleted_file_goes_from_every_page_and_from_the_disk(
    me: BrowserContext, other: BrowserContext, contact_id: int, media_dir: Path
) -> None:
    page, watcher = await me.new_page(), await other.new_page()
    await open_live(watcher, f"/contacts/{contact_id}")
    await set_marker(watcher)
    await open_live(page, f"/contacts/{contact_id}")

    keep, drop = png_image(3, 3), pdf_file(2_000)
    await choose(
        page,
        file("keep.png", "image/png", keep),
        file("drop.pdf", "application/pdf", drop),
    )
    await expect_entries(page, {"keep.png": {"progress": 100}, "drop.pdf": {"progress": 100}})
    await save(page)
    listed = [("keep.png", do_filesizeformat(len(keep))), ("drop.pdf", "2.0 kB")]
    links = await expect_listed(page, listed)
    assert await expect_listed(watcher, listed) == links
    stored = [urlsplit(href).path.removeprefix("/media/") for href in links]
    assert set(stored) <= kept_files(media_dir)

    confirmed = answer_next_confirm(page)
    await page.locator("#files .file-list li", has_text="drop.pdf").locator("a.delete").click()
    assert confirmed == ["Delete drop.pdf?"]
    for browser_page in (page, watcher):
        await expect_listed(browser_page, listed[:1])
        await assert_sound(browser_page)
    await assert_no_reload(watcher)
    assert stored[1] not in kept_files(media_dir)
    assert stored[0] in kept_files(media_dir)

    confirmed = answer_next_confirm(page)
    await page.locator("#files .file-list li", has_text="keep.png").locator("a.delete").click()
    assert confirmed == ["Delete keep.png?"]
    for browser_page in (page, watcher):
        await expect_listed(browser_page, [])
    assert not set(stored) & kept_files(media_dir)
    await assert_no_reload(watcher)
{%- endraw %}
