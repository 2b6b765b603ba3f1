"""The contact list: paging, sorting and search in the URL, live for every viewer."""

from dataclasses import dataclass, field
from typing import Any

from ... import contacts
from ...contacts import Page, PagingParams
from ...db import WriteFailed
from ...live import (
    RESYNC,
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveView,
    LiveViewSocket,
    UnhandledEvent,
    is_connected,
)
from ...resources import database
from ..loading import RETRY, Loading, is_retry
from ..whos_here import WhosHere
from .show import delete

PRESENCE_TOPIC = "contacts"


@dataclass
class ContactList:
    whos_here: WhosHere
    paging: PagingParams = field(default_factory=PagingParams)
    page: Page = field(default_factory=Page)
    columns: tuple[tuple[str, str], ...] = contacts.COLUMNS
    per_page_choices: tuple[int, ...] = contacts.PER_PAGE
    loading: Loading = field(default_factory=Loading)


class ContactListLive(LiveView[ContactList]):
    template_name = "contacts/index.html"

    async def mount(self, socket: LiveViewSocket[ContactList], session: dict[str, Any]) -> None:
        socket.context = ContactList(WhosHere(PRESENCE_TOPIC))
        socket.live_title = "Contacts"
        if is_connected(socket):
            await socket.subscribe(contacts.TOPIC)
        await socket.context.whos_here.join(socket)

    async def handle_params(
        self, socket: LiveViewSocket[ContactList], paging: PagingParams
    ) -> None:
        if paging.clamped() != paging:  # ?per_page=100000: the URL says what the page shows
            await socket.push_patch(paging.url(), replace=True)
            return
        # Both renders (HTTP and connected) show real rows: no flash of an empty table.
        socket.context.paging = paging
        await self._load(socket)

    async def handle_event(
        self,
        event: str,
        socket: ConnectedLiveViewSocket[ContactList],
        q: str = "",
        id: int | None = None,
    ) -> None:
        paging = socket.context.paging
        if event == "search":
            # The URL follows the search box; handle_params runs the query.
            await socket.push_patch(paging.url(q=q, page=1), replace=True)
        elif event == RETRY:
            await self._load(socket)
        elif event == "delete" and id is not None:
            try:
                deleted = await delete(socket, id)
            except WriteFailed as failed:
                socket.put_flash("error", failed.message)
                return
            if deleted:
                socket.put_flash("info", "Contact deleted.")
            else:
                socket.put_flash("error", "That contact was already deleted.")
            await self._load(socket)
        else:
            raise UnhandledEvent(event)

    async def handle_info(
        self, event: InfoEvent, socket: ConnectedLiveViewSocket[ContactList]
    ) -> None:
        if contacts.change_of(event) is not None or is_retry(event, socket.context.loading):
            await self._load(socket)  # the page keeps its sort and its size
        elif event.name == RESYNC:  # of the presence topic: arrivals and departures were missed
            await socket.context.whos_here.refresh(socket)
        else:
            socket.context.whos_here.apply(event)

    async def _load(self, socket: LiveViewSocket[ContactList]) -> None:
        # The page shown may be before the one asked for (page=99999: the last one); the
        # paging keeps asking for the URL's, so the view and its URL agree as rows come and go.
        listing = socket.context

        async def query() -> None:
            async with database(socket).session() as session:
                listing.page = await contacts.list_contacts(session, listing.paging)

        await listing.loading.run(socket, query)  # if the database is away: say so, retry
