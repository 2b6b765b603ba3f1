"""One contact: its fields, who else is looking at it or editing it, and delete."""

from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException

from ... import contacts
from ...contacts import ContactRow
from ...live import (
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveView,
    LiveViewSocket,
    UnhandledEvent,
    is_connected,
)
from ...resources import database, pubsub
from ..whos_here import WhosHere


def presence_topic(contact_id: int) -> str:
    """Where the viewers and editors of one contact are tracked (show and form pages)."""
    return f"contact:{contact_id}"


@dataclass
class ContactPage:
    contact: ContactRow
    whos_here: WhosHere
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


class ContactShowLive(LiveView[ContactPage]):
    template_name = "contacts/show.html"

    async def mount(self, socket: LiveViewSocket[ContactPage], session: dict[str, Any]) -> None:
        socket.live_title = "Contact"

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
        await socket.context.whos_here.join(socket)

    async def handle_event(self, event: str, socket: ConnectedLiveViewSocket[ContactPage]) -> None:
        if event != "delete":
            raise UnhandledEvent(event)
        contact_id = socket.context.contact["id"]
        async with database(socket).session() as session:
            deleted = await contacts.delete_contact(session, contact_id)
        name = socket.context.contact["name"]
        if deleted:
            await contacts.broadcast(pubsub(socket), "deleted", contact_id)
            socket.put_flash("info", f"{name} was deleted.")
        else:
            socket.put_flash("error", f"{name} had already been deleted by someone else.")
        await socket.push_navigate(contacts.PATH)

    async def handle_info(
        self, event: InfoEvent, socket: ConnectedLiveViewSocket[ContactPage]
    ) -> None:
        page, change = socket.context, contacts.change_of(event)
        if change is None:
            page.whos_here.apply(event)
        elif change.get("id") == page.contact["id"] and not page.gone:
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
