"""One contact: its fields and files, who else is looking at it or editing it, and delete.

Files are uploaded as soon as they are chosen (``auto_upload``), each with
its progress, preview and errors, and kept when the person saves them.
"""

from dataclasses import dataclass, field
from typing import Any

from starlette.exceptions import HTTPException

from ... import contacts, media
from ...contacts import AttachmentRow, ContactGone, ContactRow
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
from ..whos_here import WhosHere


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
    """Delete a contact, its files, and tell everyone; False when it was already gone."""
    async with database(socket).session() as session:
        names = await contacts.delete_contact(session, contact_id)
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
        contact = await load(socket, id)
        socket.context = ContactPage(contact, WhosHere(presence_topic(id)))
        socket.live_title = contact["name"]
        await self._load_files(socket)
        await socket.context.whos_here.join(socket)

    async def handle_event(
        self,
        event: str,
        socket: ConnectedLiveViewSocket[ContactPage],
        ref: str = "",
        id: int | None = None,
    ) -> None:
        page = socket.context
        contact_id, name = page.contact["id"], page.contact["name"]
        if event == "delete":
            if await delete(socket, contact_id):
                socket.put_flash("info", f"{name} was deleted.")
            else:
                socket.put_flash("error", f"{name} had already been deleted by someone else.")
            await socket.push_navigate(contacts.PATH)
        elif event == "validate_files":
            pass  # the runtime has checked the chosen files; the page shows what it found
        elif event == "cancel_file":
            socket.cancel_upload("files", ref)
        elif event == "save_files":
            await self._save_files(socket)
        elif event == "delete_file" and id is not None:
            async with database(socket).session() as session:
                stored = await contacts.delete_attachment(session, contact_id, id)
            if stored is not None:
                media.remove([stored], settings(socket).media_dir)
                await contacts.broadcast(pubsub(socket), "updated", contact_id)
            await self._load_files(socket)
        else:
            raise UnhandledEvent(event)

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
        try:
            await socket.consume_uploaded_entries("files", keep)
            if kept:
                async with database(socket).session() as session:
                    for file in kept:
                        await contacts.add_attachment(session, contact_id, **file)
        except BaseException as exc:
            media.remove([file["stored_name"] for file in kept], media_dir)
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

    async def _load_files(self, socket: LiveViewSocket[ContactPage]) -> None:
        async with database(socket).session() as session:
            socket.context.files = await contacts.list_attachments(
                session, socket.context.contact["id"]
            )

    async def handle_info(
        self, event: InfoEvent, socket: ConnectedLiveViewSocket[ContactPage]
    ) -> None:
        page, change = socket.context, contacts.change_of(event)
        if change is None:
            if event.name == RESYNC:  # of the presence topic: who came and went was missed
                await page.whos_here.refresh(socket)
            page.whos_here.apply(event)
        elif change.get("id") in (page.contact["id"], None) and not page.gone:  # None: any one
            # An update may arrive after a delete that followed it: read what is there now.
            found = None
            if change.get("action") != "deleted":
                found = await find(socket, page.contact["id"])
            if found is None:
                page.gone = True
                socket.put_flash("error", "Someone else deleted this contact.")
            else:
                page.contact = found
                socket.live_title = found["name"]
                await self._load_files(socket)
