"""Files on the contact page, through the test client: chosen, checked, uploaded, kept.

``view.file_input`` and ``view.upload`` do what the browser does (the change
event listing the files, the preflight, binary chunks, progress); see
``live/testing/uploads.py``. Each test has its own database and media folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from {{ cookiecutter.package_name }} import media as media_module
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.db import Database
from {{ cookiecutter.package_name }}.live.testing import (
    FileInput,
    LiveViewTest,
    UploadFile,
    live,
    run_lifespan,
)
from {{ cookiecutter.package_name }}.models import Attachment, Contact

from conftest import app_settings
from outages import bring_back, take_down

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # ~10 KB: several chunks
PDF = b"%PDF-1.4\n" + b"0123456789" * 20_000  # ~200 KB
PDF_TYPE = "application/pdf"


@pytest.fixture
def media(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def app(database_url: str, database: Database, media: Path) -> Starlette:
    return create_app(app_settings(database_url=database_url, media_dir=media))


@pytest.fixture
async def contact_id(database: Database) -> int:
    contact = Contact(name="Ada Lovelace", email="ada@example.com")
    async with database.session() as session:
        session.add(contact)
    return contact.id


async def choose(view: LiveViewTest, *files: UploadFile, percent: int = 100) -> FileInput:
    """Choose ``files`` in the contact page's upload form, and send them (up to ``percent``)."""
    chosen = view.file_input("#upload-form input", files)
    await view.upload(chosen, percent)
    return chosen


async def save(view: LiveViewTest, *files: UploadFile) -> None:
    """Choose ``files``, send them whole, and press Save files."""
    await choose(view, *files)
    await view.submit("#upload-form")


def kept(media: Path) -> list[bytes]:
    """The contents of the files kept in the media folder, sorted."""
    return sorted(path.read_bytes() for path in media.glob("*") if path.is_file())


def in_progress(media: Path) -> list[Path]:
    uploads = media / ".uploads"
    return list(uploads.iterdir()) if uploads.is_dir() else []


async def attachments(database: Database) -> list[tuple[str, str, int]]:
    async with database.session() as session:
        rows = await session.scalars(select(Attachment).order_by(Attachment.id))
        return [(row.filename, row.content_type, row.size) for row in rows]


async def test_files_are_uploaded_and_kept(
    app: Starlette, database: Database, media: Path, contact_id: int
) -> None:
    async with run_lifespan(app) as state:
        path = f"/contacts/{contact_id}"
        async with (
            live(app, path, lifespan=state) as view,
            live(app, path, lifespan=state) as other,
        ):
            assert view.text("#no-files") == "No files yet."
            await choose(
                view, UploadFile("photo.png", PNG, "image/png"), UploadFile("cv.pdf", PDF, PDF_TYPE)
            )
            assert [node.attributes["value"] for node in view.find("progress")] == ["100", "100"]
            assert view.has("img[data-phx-hook='Phoenix.LiveImgPreview'][data-phx-entry-ref]")
            assert len(in_progress(media)) == 2  # complete, waiting to be saved
            await view.submit("#upload-form")
            assert view.text("#flash-info") == "2 files saved."
            names = [node.text() for node in view.find("#files .file-list li a[target]")]
            assert names == ["photo.png", "cv.pdf"]
            assert not view.has(".upload-entry")
            await other.wait_for("#files .file-list li", text=re.compile("cv.pdf"))
    assert kept(media) == sorted([PNG, PDF])
    assert in_progress(media) == []
    assert await attachments(database) == [
        ("photo.png", "image/png", len(PNG)),
        ("cv.pdf", PDF_TYPE, len(PDF)),
    ]


async def test_the_kept_files_are_served_and_uploads_in_progress_are_not(
    app: Starlette, media: Path, contact_id: int
) -> None:
    async with run_lifespan(app) as state:
        async with live(app, f"/contacts/{contact_id}", lifespan=state) as view:
            await save(view, UploadFile("a.png", PNG, "image/png"))
            link = view.element("#files .file-list li a[target]").attributes["href"] or ""
            await choose(view, UploadFile("b.png", PNG, "image/png"))
        (partial,) = in_progress(media) or [None]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            served = await client.get(link)
            hidden = await client.get(f"/media/.uploads/{partial.name if partial else 'x'}")
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    # Never run as a page of the site, whatever it is; an image is shown, not downloaded.
    assert served.headers["content-security-policy"] == "sandbox; default-src 'none'"
    assert served.headers["content-disposition"] == 'inline; filename="a.png"'
    assert hidden.status_code == 404


async def test_a_kept_file_that_is_not_an_image_is_a_download(
    app: Starlette, contact_id: int
) -> None:
    async with run_lifespan(app) as state:
        async with live(app, f"/contacts/{contact_id}", lifespan=state) as view:
            await save(view, UploadFile("cv.pdf", PDF, PDF_TYPE))
            link = view.element("#files .file-list li a[target]").attributes["href"] or ""
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            served = await client.get(link)
    assert served.content == PDF
    assert served.headers["content-disposition"] == 'attachment; filename="cv.pdf"'
    assert served.headers["content-security-policy"] == "sandbox; default-src 'none'"


async def test_a_download_keeps_its_uploaded_name_cleaned_and_a_kept_file_is_group_readable(
    app: Starlette, media: Path, contact_id: int
) -> None:
    async with run_lifespan(app) as state:
        async with live(app, f"/contacts/{contact_id}", lifespan=state) as view:
            await save(view, UploadFile("Q3 résumé & notes.pdf", PDF, PDF_TYPE))
            link = view.element("#files .file-list li a[target]").attributes["href"] or ""
        stored = urlsplit(link).path
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            named = await client.get(link)
            # A name someone else put in a link: no path, no quotes, the stored extension.
            crafted = await client.get(stored, params={"name": '../..\\"evil".exe'})
            nameless = await client.get(stored, params={"name": " .. "})
    quoted = "Q3%20r%C3%A9sum%C3%A9%20%26%20notes.pdf"
    fallback = 'attachment; filename="Q3 resume & notes.pdf"'
    assert named.headers["content-disposition"] == f"{fallback}; filename*=UTF-8''{quoted}"
    assert crafted.headers["content-disposition"] == 'attachment; filename="evil.pdf"'
    assert nameless.headers["content-disposition"] == "attachment"
    assert (media / stored.removeprefix("/media/")).stat().st_mode & 0o777 == media_module.FILE_MODE


@pytest.mark.parametrize(
    ("uploaded", "suffix", "saved_as"),
    [
        ("photo.JPEG", ".jpg", "photo.jpg"),
        ("C:\\Users\\me\\scan.pdf", ".pdf", "scan.pdf"),
        ("bell\x07.pdf", ".pdf", "bell.pdf"),
        ("no extension", ".png", "no extension.png"),
        ("x" * 300 + ".pdf", ".pdf", "x" * 146 + ".pdf"),
        # Cut by UTF-8 bytes (2 for é, 4 for 🙂), never inside a character.
        ("é" * 100 + ".pdf", ".pdf", "é" * 73 + ".pdf"),
        ("a" + "🙂" * 50 + ".pdf", ".pdf", "a" + "🙂" * 36 + ".pdf"),
        ("e\u0301t\u0301e\u0301.pdf", ".pdf", "\u00e9t\u0301\u00e9.pdf"),  # composed (NFC)
        ("...", ".pdf", ""),
    ],
)
def test_a_download_name_is_one_clean_name_with_the_stored_extension(
    uploaded: str, suffix: str, saved_as: str
) -> None:
    assert media_module.download_name(uploaded, suffix) == saved_as
    assert len(saved_as.encode()) <= media_module.MAX_NAME_BYTES


@pytest.mark.parametrize(
    ("name", "disposition"),
    [
        ("cv.pdf", 'attachment; filename="cv.pdf"'),
        ("Café.pdf", "attachment; filename=\"Cafe.pdf\"; filename*=UTF-8''Caf%C3%A9.pdf"),
        ("報告.pdf", "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E5%A0%B1%E5%91%8A.pdf"),
        ("50%;x.pdf", "attachment; filename=\"50__x.pdf\"; filename*=UTF-8''50%25%3Bx.pdf"),
        ("", "attachment"),
    ],
)
def test_a_download_has_a_plain_ascii_name_beside_its_utf_8_one(
    name: str, disposition: str
) -> None:
    """Old clients read only ``filename``: plain ASCII, no ``%`` they might decode."""
    assert media_module.content_disposition("attachment", name) == disposition


async def test_a_client_s_file_name_never_becomes_a_path(
    app: Starlette, database: Database, media: Path, contact_id: int
) -> None:
    name = "../../<b>evil</b>.html"
    async with live(app, f"/contacts/{contact_id}") as view:
        await save(view, UploadFile(name, PNG, "image/png"))
        assert view.text("#files .file-list li a[target]") == name  # shown as text, escaped
        assert "<b>evil</b>" not in view.html()
    (stored,) = [path for path in media.iterdir() if path.is_file()]
    assert stored.parent == media and stored.suffix == ".png"  # by its declared type
    assert [row[0] for row in await attachments(database)] == [name]


@pytest.mark.parametrize(
    ("file", "message"),
    [
        (UploadFile("big.png", b"x" * 10_000_001, "image/png"), "The file is too large."),
        (UploadFile("notes.txt", b"hello", "text/plain"), "This type of file is not accepted."),
        (UploadFile("page.html", b"<html>", "text/html"), "This type of file is not accepted."),
    ],
)
async def test_a_file_refused_says_why_and_nothing_is_sent(
    app: Starlette, media: Path, contact_id: int, file: UploadFile, message: str
) -> None:
    async with live(app, f"/contacts/{contact_id}") as view:
        await choose(view, file)
        assert view.text(".upload-entry .field-error") == message
        assert in_progress(media) == []
        await view.click(".upload-entry .cancel")
        assert not view.has(".upload-entry")


async def test_six_files_are_too_many_until_one_is_cancelled(
    app: Starlette, media: Path, contact_id: int
) -> None:
    """As Phoenix's auto upload: the first five are sent; saving waits for the sixth's cancel."""
    async with live(app, f"/contacts/{contact_id}") as view:
        chosen = [UploadFile(f"p{n}.png", PNG, "image/png") for n in range(6)]
        await choose(view, *chosen)
        assert view.text("#upload-form > .field-error") == "Too many files."
        assert len(in_progress(media)) == 5
        error_refs = view.element("#upload-form input").attributes["data-phx-error-refs"]
        assert error_refs  # the client refuses to submit while any are listed
        await view.click("button[aria-label='Cancel p5.png']")
        assert not view.has("#upload-form > .field-error")
        await view.submit("#upload-form")
        assert view.text("#flash-info") == "5 files saved."
    assert len(kept(media)) == 5 and in_progress(media) == []


async def test_saving_before_any_file_arrived_says_so(
    app: Starlette, media: Path, contact_id: int
) -> None:
    async with live(app, f"/contacts/{contact_id}") as view:
        await choose(view, UploadFile("cv.pdf", PDF, PDF_TYPE), percent=10)
        await view.submit("#upload-form")
        assert view.text("#flash-error").startswith("No file has arrived yet")
        assert view.has(".upload-entry") and kept(media) == []


async def test_cancelling_an_upload_part_way_removes_its_bytes(
    app: Starlette, media: Path, contact_id: int
) -> None:
    async with live(app, f"/contacts/{contact_id}") as view:
        await choose(view, UploadFile("cv.pdf", PDF, PDF_TYPE), percent=50)
        assert view.element("progress").attributes["value"] == "50"
        assert len(in_progress(media)) == 1
        await view.click(".upload-entry .cancel")
        assert not view.has(".upload-entry")
    assert in_progress(media) == [] and kept(media) == []


async def test_leaving_mid_upload_removes_its_bytes(
    app: Starlette, media: Path, contact_id: int
) -> None:
    async with live(app, f"/contacts/{contact_id}") as view:
        await choose(view, UploadFile("cv.pdf", PDF, PDF_TYPE), percent=30)
        assert len(in_progress(media)) == 1
    assert in_progress(media) == []


async def test_deleting_a_file_removes_it_everywhere(
    app: Starlette, database: Database, media: Path, contact_id: int
) -> None:
    async with live(app, f"/contacts/{contact_id}") as view:
        await save(view, UploadFile("a.png", PNG, "image/png"))
        link = view.element("#files .file-list li a.delete")
        assert link.attributes["data-confirm"] == "Delete a.png?"
        # Once confirmed, the browser hides the file at once, then tells the server.
        row = view.element("#files .file-list li").attributes["id"]
        assert json.loads(link.attributes["phx-click"] or "")[0] == ["hide", {"to": f"#{row}"}]
        await view.click("#files .file-list li a.delete")
        assert view.text("#no-files") == "No files yet."
    assert kept(media) == [] and await attachments(database) == []


async def test_deleting_the_contact_removes_its_files(
    app: Starlette, database: Database, media: Path, contact_id: int
) -> None:
    async with live(app, f"/contacts/{contact_id}") as view:
        await save(view, UploadFile("a.png", PNG, "image/png"))
        assert len(kept(media)) == 1
        await view.click("#delete")
    assert kept(media) == [] and await attachments(database) == []


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("invoice\u202egnp.exe", "invoicegnp.exe"),  # would read "invoiceexe.png"
        ("scan\x00.pdf", "scan.pdf"),  # PostgreSQL refuses NUL in text
    ],
)
async def test_a_file_name_is_kept_and_shown_without_control_or_bidi_characters(
    app: Starlette, database: Database, contact_id: int, name: str, shown: str
) -> None:
    async with live(app, f"/contacts/{contact_id}") as view:
        await choose(view, UploadFile(name, PDF, PDF_TYPE), UploadFile("b.png", PNG, "image/png"))
        shown_names = [node.text() for node in view.find(".upload-entry .upload-progress span")]
        assert shown_names == [shown, "b.png"]
        await view.submit("#upload-form")
        assert view.text("#flash-info") == "2 files saved."  # the batch is kept whole
        names = [node.text() for node in view.find("#files .file-list li a[target]")]
        assert names == [shown, "b.png"]
    assert [row[0] for row in await attachments(database)] == [shown, "b.png"]


async def test_a_declared_type_in_capitals_is_stored_as_that_type(
    app: Starlette, database: Database, media: Path, contact_id: int
) -> None:
    async with run_lifespan(app) as state:
        async with live(app, f"/contacts/{contact_id}", lifespan=state) as view:
            await save(view, UploadFile("photo", PNG, "IMAGE/PNG"))
            link = view.element("#files .file-list li a[target]").attributes["href"] or ""
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            served = await client.get(link)
    (stored,) = [path for path in media.iterdir() if path.is_file()]
    assert stored.suffix == ".png" and served.headers["content-type"] == "image/png"
    assert await attachments(database) == [("photo", "image/png", len(PNG))]


async def test_a_save_past_the_media_quota_is_refused_and_says_so(
    database_url: str, database: Database, media: Path, contact_id: int
) -> None:
    app = create_app(
        app_settings(
            database_url=database_url, media_dir=media, media_max_bytes=len(PDF) + len(PNG)
        )
    )
    async with live(app, f"/contacts/{contact_id}") as view:
        await save(view, UploadFile("cv.pdf", PDF, PDF_TYPE))
        await save(view, UploadFile("a.png", PNG, "image/png"))  # exactly the quota
        assert view.text("#flash-info") == "1 file saved."
        await save(view, UploadFile("b.png", b"\x89PNG", "image/png"))  # one byte too many
        assert view.text("#flash-error") == (
            "The files were not saved: the storage for files is full."
        )
        assert view.has(".upload-entry")  # still there, to cancel
    assert kept(media) == sorted([PNG, PDF])
    assert [row[0] for row in await attachments(database)] == ["cv.pdf", "a.png"]
    assert in_progress(media) == []


async def test_a_contact_page_cannot_delete_another_contact_s_file(
    app: Starlette, database: Database, media: Path, contact_id: int
) -> None:
    other = Contact(name="Grace Hopper", email="grace@example.com")
    async with database.session() as session:
        session.add(other)
    async with run_lifespan(app) as state:
        async with live(app, f"/contacts/{other.id}", lifespan=state) as theirs:
            await save(theirs, UploadFile("theirs.png", PNG, "image/png"))
        async with database.session() as session:
            (file_id,) = await session.scalars(select(Attachment.id))
        async with live(app, f"/contacts/{contact_id}", lifespan=state) as mine:
            await save(mine, UploadFile("mine.pdf", PDF, PDF_TYPE))
            await mine.hook("delete_file", {"id": str(file_id)})  # a forged click
            names = [node.text() for node in mine.find("#files .file-list li a[target]")]
            assert names == ["mine.pdf"]
    assert await attachments(database) == [
        ("theirs.png", "image/png", len(PNG)),
        ("mine.pdf", PDF_TYPE, len(PDF)),
    ]
    assert kept(media) == sorted([PNG, PDF])


async def test_a_delete_that_fails_shows_the_hidden_file_again(
    database_url: str, database: Database, media: Path, contact_id: int
) -> None:
    app = create_app(app_settings(database_url=database_url, media_dir=media))
    await database.dispose()
    async with live(app, f"/contacts/{contact_id}") as view:
        await save(view, UploadFile("a.png", PNG, "image/png"))
        row = view.element("#files .file-list li")
        assert json.loads(row.attributes["data-show"] or "") == [["show", {}]]
        await take_down(database_url, "attachments")
        try:
            await view.click("#files .file-list li a.delete")  # the browser hid the file
        finally:
            await bring_back(database_url, "attachments")
        assert "could not be reached" in view.text("#flash-error")
        undo = {"to": f"#{row.attributes['id']}", "attr": "data-show"}
        assert [(e.name, e.payload) for e in view.pushed_events] == [("js-exec", undo)]
        assert view.has("#files .file-list li")
    assert len(kept(media)) == 1


async def test_a_save_while_the_database_is_away_says_so_and_works_once_it_is_back(
    database_url: str, database: Database, media: Path, contact_id: int
) -> None:
    app = create_app(app_settings(database_url=database_url, media_dir=media))
    await database.dispose()
    async with live(app, f"/contacts/{contact_id}") as view:
        await choose(view, UploadFile("cv.pdf", PDF, PDF_TYPE))
        await take_down(database_url, "attachments")
        try:
            await view.submit("#upload-form")
            assert "the database is away" in view.text("#flash-error")
            assert kept(media) == []
        finally:
            await bring_back(database_url, "attachments")
        await view.submit("#upload-form")  # the file stayed uploaded: no need to choose it again
        assert view.text("#flash-info") == "1 file saved."
    assert kept(media) == [PDF]
