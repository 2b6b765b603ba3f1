"""The contact list: paging, sorting and search in the URL, live for every viewer.

Its rows are a stream: the browser keeps them, the view keeps only their
ids (a page holds at most 100). A change sends just the rows it moved: a
contact created elsewhere arrives as one inserted row (and the row it
pushes to the next page as one delete); another page, sort or search
resets the stream.
"""

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

from ... import contacts
from ...contacts import ContactRow, Links, Page, PagingParams
from ...db import WriteFailed
from ...live import (
    RESYNC,
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveView,
    LiveViewSocket,
    Stream,
    UnhandledEvent,
    is_connected,
)
from ...resources import database
from ..loading import RETRY, Loading, is_retry
from ..whos_here import WhosHere
from .show import delete

PRESENCE_TOPIC = "contacts"


def _dom_id(contact_id: int) -> str:
    return f"contact-{contact_id}"


def _rows() -> Stream[ContactRow]:
    return Stream(name="contacts", dom_id=lambda row: _dom_id(row["id"]))


@dataclass
class ContactList:
    whos_here: WhosHere
    paging: PagingParams = field(default_factory=PagingParams)
    page: Page = field(default_factory=Page)  # its numbers; its rows are in ``rows``
    rows: Stream[ContactRow] = field(default_factory=_rows)
    shown: list[int] = field(default_factory=list)  # the ids of the rows shown, in their order
    per_page_choices: tuple[int, ...] = contacts.PER_PAGE
    loading: Loading = field(default_factory=Loading)
    links: Links = field(default_factory=lambda: contacts.links(PagingParams(), 1, 1))
    read_done: float = 0.0  # when the rows shown were read: a change never shows older ones


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
        listing = socket.context
        listing.paging = paging  # its links follow at once, even if the load fails
        listing.links = contacts.links(paging, listing.page.page, listing.page.pages)
        await self._load(socket, reset=True)

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
            await self._load(socket, reset=True)
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
        change = contacts.change_of(event)
        # The change's token: the lists of this process showing one page share its read.
        token = change.get("change") if change is not None else None
        token = token if isinstance(token, str) else None
        if change is not None and change.get("action") in ("created", "updated", "deleted"):
            await self._load(socket, changed=change.get("id"), change=token)  # keeps its sort
        elif change is not None or is_retry(event, socket.context.loading):
            await self._load(socket, reset=True, change=token)  # anything may have changed
        elif event.name == RESYNC:  # of the presence topic: arrivals and departures were missed
            await socket.context.whos_here.refresh(socket)
        else:
            socket.context.whos_here.apply(event)

    async def _load(
        self,
        socket: LiveViewSocket[ContactList],
        changed: Any = None,
        reset: bool = False,
        change: str | None = None,
    ) -> None:
        """Read the page again: for a broadcast ``change``, the read every list of this
        process showing the same page shares; otherwise one of its own."""
        # The page shown may be before the one asked for (page=99999: the last one); the
        # paging keeps asking for the URL's, so the view and its URL agree as rows come and go.
        listing = socket.context

        async def query() -> None:
            if change is None:
                read = await contacts.read_page(database(socket), listing.paging)
            else:
                read = await contacts.shared_page(
                    database(socket), listing.paging, change, since=listing.read_done
                )
            page, listing.read_done = read
            if reset:
                listing.rows.reset(page.rows)
            else:
                _send_changes(listing, page.rows, changed)
            listing.page, listing.shown = replace(page, rows=[]), [row["id"] for row in page.rows]
            listing.links = contacts.links(listing.paging, page.page, page.pages)

        await listing.loading.run(socket, query)  # if the database is away: say so, retry


def _send_changes(listing: ContactList, rows: list[ContactRow], changed: Any) -> None:
    """Turn the rows shown into ``rows`` with few stream operations.

    The rows gone are deleted. Of the rows kept, the most that are already
    in the new order stay where they are (the ``changed`` one is updated in
    place); the others (moved by a change, maybe one not yet announced) are
    deleted and inserted anew at their place, as are the rows new to the page.
    The browser then shows ``rows`` in their order.
    """
    position = {row["id"]: at for at, row in enumerate(rows)}
    kept = [shown for shown in listing.shown if shown in position]
    # Most changes move nothing (a row saved in place): all stay, found without a search.
    in_order = all(position[one] < position[next_] for one, next_ in itertools.pairwise(kept))
    stay = set(kept) if in_order else _in_order(kept, position)
    for shown in listing.shown:
        if shown not in stay:
            listing.rows.delete_by_id(_dom_id(shown))
    for at, row in enumerate(rows):
        if row["id"] not in stay or row["id"] == changed:
            listing.rows.insert(row, at=at)


def _in_order(ids: list[int], position: dict[int, int]) -> set[int]:
    """The longest run of ``ids`` (not always adjacent) whose ``position``s increase."""
    runs: list[list[int]] = []  # runs[i]: the longest such run ending with ids[i]
    best: list[int] = []
    for i, current in enumerate(ids):
        longest: list[int] = []
        for j in range(i):
            if position[ids[j]] < position[current] and len(runs[j]) > len(longest):
                longest = runs[j]
        runs.append([*longest, current])
        best = runs[-1] if len(runs[-1]) > len(best) else best
    return set(best)
