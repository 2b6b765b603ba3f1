"""One contact: its fields and files, who else is looking at it or editing it, and delete.

Files are uploaded as soon as they are chosen (``auto_upload``), each with
its progress, preview and errors, and kept when the person saves them.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException

from ... import contacts, media
from ...contacts import AttachmentRow, ContactGone, ContactRow
from ...db import DATABASE_ERRORS, WriteFailed
from ...live import (
    RESYNC,
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveView,
    LiveViewSocket,
    UnhandledEvent,
    UploadEntry,
    is_connected,
)
from ...resources import database, pubsub, settings
from ...writes import take_write, write
from ..loading import RETRY, Loading, is_retry
from ..whos_here import WhosHere

logger = logging.getLogger(__name__)


def presence_topic(contact_id: int) -> str:
    """Where the viewers and editors of one contact are tracked (show and form pages)."""
    return f"contact:{contact_id}"


MAX_FILES = 5  # chosen at once
MAX_FILE_SIZE = 10_000_000  # bytes


@dataclass
class ContactPage:
    contact: ContactRow
    whos_here: WhosHere
    files: list[AttachmentRow] = field(default_factory=list)
    gone: bool = False  # deleted by someone else while this page was open
    loading: Loading = field(default_factory=Loading)


def not_loaded(contact_id: int) -> ContactRow:
    """What a page holds of a contact the database could not give yet: its id alone."""
    return ContactRow(
        id=contact_id,
        name="",
        email="",
        company="",
        status="",
        score=0,
        since=None,
        vip=False,
        version=0,
    )


async def find(socket: LiveViewSocket[Any], contact_id: int) -> ContactRow | None:
    async with database(socket).session() as session:
        contact = await contacts.get_contact(session, contact_id)
    return None if contact is None else contacts.as_row(contact)


async def load(socket: LiveViewSocket[Any], contact_id: int) -> ContactRow:
    """The contact, or a 404 page (the connected join reloads it, as Phoenix does)."""
    contact = await find(socket, contact_id)
    if contact is None:
        raise HTTPException(404, "There is no such contact: it may have been deleted.")
    return contact


async def delete(socket: LiveViewSocket[Any], contact_id: int) -> bool:
    """Delete a contact, its files, and tell everyone; False when it was already gone.

    Raises ``WriteFailed`` when it could not (too many writes, the database busy or away).
    """
    names = await write(socket, lambda session: contacts.delete_contact(session, contact_id))
    if names is None:
        return False
    media.remove(names, settings(socket).media_dir)  # after the commit: never a row without file
    await contacts.broadcast(pubsub(socket), "deleted", contact_id)
    return True


class ContactShowLive(LiveView[ContactPage]):
    template_name = "contacts/show.html"

    async def mount(self, socket: LiveViewSocket[ContactPage], session: dict[str, Any]) -> None:
        socket.live_title = "Contact"
        socket.allow_upload(
            "files",
            accept=media.ACCEPT,
            max_entries=MAX_FILES,
            max_file_size=MAX_FILE_SIZE,
            auto_upload=True,
        )

    async def handle_params(self, socket: LiveViewSocket[ContactPage], id: int) -> None:
        if socket.context is not None:
            if id != socket.context.contact["id"]:
                # A patch to another contact: a fresh mount tracks presence on its topic.
                await socket.push_navigate(f"{contacts.PATH}/{id}")
            return
        if is_connected(socket):
            await socket.subscribe(contacts.TOPIC)  # first: no change is missed after the load
        socket.context = ContactPage(not_loaded(id), WhosHere(presence_topic(id)))
        await socket.context.loading.run(socket, lambda: self._open(socket))
        await socket.context.whos_here.join(socket)

    async def _open(self, socket: LiveViewSocket[ContactPage]) -> None:
        """The contact (a 404 page if there is none) and its files."""
        page = socket.context
        contact = await load(socket, page.contact["id"])
        page.contact, socket.live_title = contact, contact["name"]
        page.files = await self._files(socket)

    async def handle_event(
        self,
        event: str,
        socket: ConnectedLiveViewSocket[ContactPage],
        ref: str = "",
        id: int | None = None,
        email: str = "",
    ) -> dict[str, str] | None:
        page = socket.context
        contact_id, name = page.contact["id"], page.contact["name"]
        if event == "delete":
            try:
                deleted = await delete(socket, contact_id)
            except WriteFailed as failed:
                socket.put_flash("error", failed.message)
                return None
            if deleted:
                socket.put_flash("info", f"{name} was deleted.")
            else:
                socket.put_flash("error", f"{name} had already been deleted by someone else.")
            await socket.push_navigate(contacts.PATH)
        elif event == "email_copied":  # from the CopyEmail hook: the reply labels its button
            logger.info("contact %s: email copied", contact_id)
            same = email == page.contact["email"]
            return {"label": "Copied" if same else "Copied an old address"}
        elif event == RETRY:
            await self._refresh(socket)
        elif event == "validate_files":
            # The runtime has checked the chosen files; the page shows what it found. A
            # refusal is the news now: an earlier "2 files saved." would read as its answer.
            if socket.uploads["files"].errors:
                socket.clear_flash("info")
        elif event == "cancel_file":
            socket.cancel_upload("files", ref)
        elif event == "save_files":
            await self._save_files(socket)
        elif event == "delete_file" and id is not None:
            file_id = id
            try:
                stored = await write(
                    socket,
                    lambda session: contacts.delete_attachment(session, contact_id, file_id),
                )
            except WriteFailed as failed:
                socket.put_flash("error", failed.message)
                # The browser hid the file when the delete was confirmed: show it again.
                socket.push_event("js-exec", {"to": f"#file-{file_id}", "attr": "data-show"})
                return None
            if stored is not None:
                media.remove([stored], settings(socket).media_dir)
                await contacts.broadcast(pubsub(socket), "updated", contact_id)
            await self._load_files(socket)
        else:
            raise UnhandledEvent(event)
        return None

    async def _save_files(self, socket: ConnectedLiveViewSocket[ContactPage]) -> None:
        """Move each complete upload into the media folder, and record them in one transaction.

        Whatever fails half-way, no file is left without its row: the ones moved go again.
        """
        media_dir = settings(socket).media_dir
        kept: list[dict[str, Any]] = []

        def keep(path: str, entry: UploadEntry) -> None:
            stored = media.store(path, entry, media_dir)
            kept.append(
                {
                    "filename": entry.client_name,
                    "content_type": entry.client_type,
                    "size": entry.received,
                    "stored_name": stored,
                }
            )

        contact_id = socket.context.contact["id"]

        async def record(session: AsyncSession) -> None:
            for file in kept:
                await contacts.add_attachment(session, contact_id, **file)

        try:
            take_write(socket)  # before the files are taken: refused, they stay to save later
        except WriteFailed as failed:
            socket.put_flash("error", failed.message)
            return
        if not await self._room_for_files(socket):
            return
        try:
            await socket.consume_uploaded_entries("files", keep)
            if kept:
                await database(socket).write(record)
        except BaseException as exc:
            media.remove([file["stored_name"] for file in kept], media_dir)
            if isinstance(exc, WriteFailed):
                socket.put_flash("error", f"{exc.message} Choose the files again.")
                return
            if not isinstance(exc, ContactGone):
                raise
            socket.context.gone = True
            socket.put_flash("error", "Someone else deleted this contact: the files were not kept.")
            return
        if not kept:
            socket.put_flash("error", "No file has arrived yet: cancel the refused ones, or wait.")
            return
        socket.put_flash("info", f"{len(kept)} file{'' if len(kept) == 1 else 's'} saved.")
        await contacts.broadcast(pubsub(socket), "updated", contact_id)
        await self._load_files(socket)

    async def _room_for_files(self, socket: ConnectedLiveViewSocket[ContactPage]) -> bool:
        """The kept files and these fit in ``MEDIA_MAX_BYTES``; if not, the page says so."""
        done, _ = socket.uploaded_entries("files")
        try:
            async with database(socket).session() as session:
                used = await contacts.media_bytes(session)
        except DATABASE_ERRORS as error:  # the files stay uploaded: Save works once it is back
            logger.warning("the media quota could not be read: %s", type(error).__name__)
            socket.put_flash("error", "The files were not saved: the database is away. Try again.")
            return False
        if used + sum(entry.received for entry in done) <= settings(socket).media_max_bytes:
            return True
        socket.put_flash("error", "The files were not saved: the storage for files is full.")
        return False

    async def _load_files(self, socket: LiveViewSocket[ContactPage]) -> None:
        page = socket.context

        async def read() -> None:
            page.files = await self._files(socket)

        await page.loading.run(socket, read)

    async def _files(self, socket: LiveViewSocket[ContactPage]) -> list[AttachmentRow]:
        async with database(socket).session() as session:
            return await contacts.list_attachments(session, socket.context.contact["id"])

    async def _refresh(self, socket: LiveViewSocket[ContactPage], deleted: bool = False) -> None:
        """Read the contact again (it changed, or the last read failed), or say it is gone."""
        page = socket.context

        async def read() -> None:
            # An update may arrive after a delete that followed it: read what is there now.
            found = None if deleted else await find(socket, page.contact["id"])
            if found is None:
                page.gone = True
                socket.put_flash("error", "Someone else deleted this contact.")
                return
            page.contact, socket.live_title = found, found["name"]
            page.files = await self._files(socket)

        await page.loading.run(socket, read)

    async def handle_info(
        self, event: InfoEvent, socket: ConnectedLiveViewSocket[ContactPage]
    ) -> None:
        page, change = socket.context, contacts.change_of(event)
        if is_retry(event, page.loading):
            if not page.gone:
                await self._refresh(socket)
        elif change is None:
            if event.name == RESYNC:  # of the presence topic: who came and went was missed
                await page.whos_here.refresh(socket)
            page.whos_here.apply(event)
        elif change.get("id") in (page.contact["id"], None) and not page.gone:  # None: any one
            await self._refresh(socket, deleted=change.get("action") == "deleted")
