"""Contacts: the queries, the validation and the change broadcasts behind the CRUD sample.

Views call these functions and never build SQL themselves (Phoenix's
"context" module): a page is one query with a whitelisted sort and a
parameterised search, and every write is followed by ``broadcast`` so
that every open page, in every process, hears about it.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
import secrets
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Annotated, Any, Literal, NamedTuple, TypedDict
from urllib.parse import urlencode

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy import ColumnElement, and_, delete, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from .db import Database
from .live import RESYNC, InfoEvent, PubSub, PubSubError
from .models import SCORE_MAX, SCORE_MIN, Attachment, Contact, Status

# {"action": "created" | "updated" | "deleted", "id": id, "by": page, "change": a new token}
TOPIC = "contacts:changes"
PATH = "/contacts"

SORTS: dict[str, Any] = {
    "name": Contact.name,
    "email": Contact.email,
    "company": Contact.company,
    "status": Contact.status,
    "score": Contact.score,
    "since": Contact.since,
}
PER_PAGE = (10, 20, 50, 100)
# The list's columns, (key, heading): its header, and its cells (a row's value at key).
COLUMNS = (
    ("name", "Name"),
    ("email", "Email"),
    ("company", "Company"),
    ("status", "Status"),
    ("score", "Score"),
    ("since", "Since"),
)
SEARCH_MAX = 100  # characters of the search box that are used
ID_MAX = 2**31 - 1  # the largest id an INTEGER column holds on PostgreSQL
NAME_MAX = 200
EMAIL_MAX = 320
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class ContactRow(TypedDict):
    """A contact as pages show it: plain values, which the change tracking compares."""

    id: int
    name: str
    email: str
    company: str
    status: str
    score: int
    since: date | None
    vip: bool
    version: int  # of the saves: a form saves over the version it was loaded at, or is refused


def as_row(contact: Contact) -> ContactRow:
    return ContactRow(
        id=contact.id,
        name=contact.name,
        email=contact.email,
        company=contact.company,
        status=contact.status,
        score=contact.score,
        since=contact.since,
        vip=contact.vip,
        version=contact.version,
    )


# -- the list: paging, sorting and search from the URL --------------------------


@dataclass
class PagingParams:
    """The list's state, bound from its URL (``/contacts?page=2&sort=score&order=desc&q=ada``).

    Anything the URL may say is turned into something sensible by
    ``clamped``: the database only ever sees whitelisted columns and bounded
    numbers.
    """

    page: int = 1
    per_page: int = 20
    sort: str = "name"
    order: str = "asc"
    q: str = ""

    def clamped(self) -> PagingParams:
        per_page = min((n for n in PER_PAGE if n >= self.per_page), default=PER_PAGE[-1])
        return PagingParams(
            page=max(1, min(self.page, 1_000_000)),
            per_page=per_page,
            sort=self.sort if self.sort in SORTS else "name",
            order="desc" if self.order == "desc" else "asc",
            q=" ".join("".join(c for c in self.q if c.isprintable()).split())[:SEARCH_MAX],
        )

    def key(self) -> tuple[int, int, str, str, str]:
        """Its values, hashable: lists whose (clamped) paging has one key show the same page."""
        return (self.page, self.per_page, self.sort, self.order, self.q)

    def url(self, **changes: Any) -> str:
        """This list's URL with ``changes`` (clamped); values at their default are left out."""
        paging, default = replace(self, **changes).clamped(), PagingParams()
        query = {
            name: value
            for name, value in vars(paging).items()
            if value != getattr(default, name)
        }
        return f"{PATH}?{urlencode(query)}" if query else PATH

    def sorted_by(self, column: str) -> str:
        """The URL of a column header: sort by it, or flip the order if it is the sort already."""
        order = "desc" if self.sort == column and self.order == "asc" else "asc"
        return self.url(sort=column, order=order, page=1)


@dataclass(frozen=True)
class Links:
    """A page's links: a column header's (``sort``), a page size's, the previous and next page's
    (empty where there is none)."""

    sort: dict[str, str]
    per_page: dict[int, str]
    previous: str
    next: str


def links(paging: PagingParams, page: int, pages: int) -> Links:
    """The links of page ``page`` of ``pages``: the same object for every list showing it, so
    that a list re-rendered for something else (who is here) builds no URL."""
    return _links(paging.key(), page, pages)


@functools.lru_cache(maxsize=256)
def _links(paging: tuple[int, int, str, str, str], page: int, pages: int) -> Links:
    shown = PagingParams(*paging)
    return Links(
        sort={column: shown.sorted_by(column) for column in SORTS},
        per_page={size: shown.url(per_page=size, page=1) for size in PER_PAGE},
        previous=shown.url(page=page - 1) if page > 1 else "",
        next=shown.url(page=page + 1) if page < pages else "",
    )


@dataclass(frozen=True)
class Page:
    """One page of the list; ``page`` is within ``1..pages`` whatever the URL asked."""

    rows: list[ContactRow] = field(default_factory=list)
    total: int = 0
    page: int = 1
    pages: int = 1


async def list_contacts(session: AsyncSession, paging: PagingParams) -> Page:
    """The page ``paging`` asks for (clamped to the last page), sorted, ``id`` breaking ties."""
    paging = paging.clamped()
    where = _search(paging.q)
    total = await session.scalar(select(func.count()).select_from(Contact).where(where)) or 0
    pages = max(1, math.ceil(total / paging.per_page))
    page = min(paging.page, pages)
    column = SORTS[paging.sort]
    # Empty values last either way, as PostgreSQL and SQLite would not agree on their own.
    if paging.order == "desc":
        order = [column.desc().nulls_last(), Contact.id.desc()]
    else:
        order = [column.asc().nulls_last(), Contact.id]
    query = (
        select(Contact)
        .where(where)
        .order_by(*order)
        .offset((page - 1) * paging.per_page)
        .limit(paging.per_page)
    )
    rows = [as_row(contact) for contact in await session.scalars(query)]
    return Page(rows, total, page, pages)


class Read(NamedTuple):
    """A page as read, and when the reading was over (``time.monotonic()``): it shows
    nothing newer than that."""

    page: Page
    done: float


async def read_page(database: Database, paging: PagingParams) -> Read:
    """``list_contacts`` in a session of its own."""
    async with database.session() as session:
        page = await list_contacts(session, paging)
    return Read(page, time.monotonic())


class SharedPages:
    """The list's pages as read since the latest change heard: one query per page per change.

    Every list open in a process hears each change, and those that show the
    same page (a team on the first one) would each run the same two queries
    at once. The first to ask for a page after a change runs them; the others
    wait for its result, and share it (it is never changed). A change is
    named by its broadcast's token: the first time this process is asked
    about one, every page read before it is dropped, as it may not show it.
    A query that fails is not kept: the next asker tries again.
    """

    KEPT = 1024  # tokens remembered: a list this many changes behind reads anew

    def __init__(self) -> None:
        self._heard: dict[str, None] = {}  # the change tokens asked about, oldest first
        # A page's reading (and when it began), by its paging's key.
        self._reads: dict[tuple[int, int, str, str, str], tuple[float, asyncio.Task[Read]]] = {}

    async def page(
        self, database: Database, paging: PagingParams, change: str, since: float = 0.0
    ) -> Read:
        """The page ``paging`` asks for, read after ``change`` was heard here, and begun after
        ``since`` (when the asker's last read was over: it never shows older rows again)."""
        if change not in self._heard:
            self._heard[change] = None
            if len(self._heard) > self.KEPT:
                del self._heard[next(iter(self._heard))]
            self._reads.clear()
        key = paging.key()  # (a list's paging is clamped already: its URL says what it shows)
        started, read = self._reads.get(key, (0.0, None))
        if read is None or started < since:
            read = asyncio.create_task(read_page(database, paging))
            self._reads[key] = (time.monotonic(), read)
            read.add_done_callback(self._forget_failed)
        # A closing view stops waiting; the query goes on for the others.
        return await asyncio.shield(read)

    def _forget_failed(self, read: asyncio.Task[Read]) -> None:
        if read.cancelled() or read.exception() is not None:  # (marks the error as seen)
            for key, (_, kept) in list(self._reads.items()):
                if kept is read:
                    del self._reads[key]


# The pages shared by the lists of this process, for each database (they hold none of them).
_shared: weakref.WeakKeyDictionary[Database, SharedPages] = weakref.WeakKeyDictionary()


async def shared_page(
    database: Database, paging: PagingParams, change: str, since: float = 0.0
) -> Read:
    """``SharedPages.page`` of the pages this process's lists share for ``database``."""
    pages = _shared.get(database)
    if pages is None:
        pages = _shared[database] = SharedPages()
    return await pages.page(database, paging, change, since)


def _search(q: str) -> ColumnElement[bool]:
    """Name, email or company contains every word of ``q``: bound parameters, % and _ escaped."""
    return and_(
        true(),
        *(
            or_(
                Contact.name.icontains(word, autoescape=True),
                Contact.email.icontains(word, autoescape=True),
                Contact.company.icontains(word, autoescape=True),
            )
            for word in q.split()
        ),
    )


# -- one contact: validation and writes ----------------------------------------


def _blank_is_false(value: Any) -> Any:
    """An unchecked box: browsers send nothing for it, or the hidden field's "false"."""
    return False if value == "" else value


def _iso_date(value: Any) -> date | None:
    """A date input's value, ``YYYY-MM-DD`` or blank (not a timestamp, as pydantic would take)."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("must be a date, like 2024-05-31")


def _lower(value: Any) -> Any:
    """Emails are stored lowercased, and their length checked as stored."""
    return value.lower() if isinstance(value, str) else value


def _plain(value: str) -> str:
    """No control characters: PostgreSQL refuses NUL, and none belongs in a name."""
    if not value.isprintable():
        raise ValueError("must not contain control characters")
    return value


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError("must look like name@example.com")
    return value


PLAIN = AfterValidator(_plain)


class ContactIn(BaseModel):
    """What a form may save. Field values arrive as the strings the browser sends."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX), PLAIN]
    email: Annotated[
        str,
        Field(min_length=1, max_length=EMAIL_MAX),
        BeforeValidator(_lower),  # runs first: the length is checked as stored
        PLAIN,
        AfterValidator(_email),
    ]
    company: Annotated[str, Field(max_length=NAME_MAX), PLAIN] = ""
    status: Status = Status.LEAD
    score: Annotated[int, Field(ge=SCORE_MIN, le=SCORE_MAX)] = 0
    since: Annotated[date | None, BeforeValidator(_iso_date)] = None
    vip: Annotated[bool, BeforeValidator(_blank_is_false)] = False


FIELDS = tuple(ContactIn.model_fields)
Errors = dict[str, str]  # field → what is wrong with it

# Pydantic's messages, said for a form: "can't be blank" rather than "String should have…".
_MESSAGES = {
    "string_too_short": "can't be blank",
    "missing": "can't be blank",
    "string_too_long": "must be at most {max_length} characters",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "greater_than_equal": f"must be between {SCORE_MIN} and {SCORE_MAX}",
    "less_than_equal": f"must be between {SCORE_MIN} and {SCORE_MAX}",
    "enum": "must be one of: " + ", ".join(Status),
    "bool_parsing": "must be yes or no",
}


def validate(values: Mapping[str, Any]) -> tuple[ContactIn | None, Errors]:
    """A form's values checked: the contact to save, or each field's first error."""
    try:
        return ContactIn.model_validate(dict(values)), {}
    except ValidationError as exc:
        errors: Errors = {}
        for problem in exc.errors(include_url=False):
            name = str(problem["loc"][0]) if problem["loc"] else "form"
            context = problem.get("ctx", {})
            if problem["type"] == "value_error":
                message = str(context.get("error", problem["msg"]))
            else:
                message = _MESSAGES.get(problem["type"], problem["msg"]).format(**context)
            errors.setdefault(name, message)
        return None, errors


def form_values(contact: ContactRow | None = None) -> dict[str, str]:
    """A form's field values, as the browser sends them: the contact's, or a new one's."""
    if contact is None:
        return {name: "" for name in FIELDS} | {"status": Status.LEAD.value, "score": "0"}
    since = contact["since"]
    return {
        "name": contact["name"],
        "email": contact["email"],
        "company": contact["company"],
        "status": contact["status"],
        "score": str(contact["score"]),
        "since": since.isoformat() if since else "",
        "vip": "true" if contact["vip"] else "false",
    }


def changed_values(before: ContactRow, after: ContactRow) -> dict[str, str]:
    """``after``'s form values that differ from ``before``'s: what a save elsewhere changed."""
    old, new = form_values(before), form_values(after)
    return {name: value for name, value in new.items() if old[name] != value}


class ContactGone(LookupError):
    """The contact was deleted (by someone else) before this write."""


class EmailTaken(ValueError):
    """Another contact has this email: the unique constraint said so."""


class StaleContact(RuntimeError):
    """Someone else saved the contact since the form was loaded: nothing was saved."""


def _storable(contact_id: int) -> bool:
    """An id the database can hold (a URL may say any number): others name no contact."""
    return 0 < contact_id <= ID_MAX


async def get_contact(session: AsyncSession, contact_id: int) -> Contact | None:
    return await session.get(Contact, contact_id) if _storable(contact_id) else None


async def save_contact(
    session: AsyncSession,
    contact: ContactIn,
    contact_id: int | None = None,
    version: int | None = None,
) -> Contact:
    """Insert, or update ``contact_id`` as it was at ``version`` (None: as it is now).

    Raises ``ContactGone``, ``EmailTaken`` or ``StaleContact``. The database
    is the judge of a taken email (its unique constraint) and of a stale
    version (the UPDATE checks it), so of two people saving at once, one is told.
    """
    if contact_id is None:
        row = Contact()
        session.add(row)
    else:
        found = None
        if _storable(contact_id):
            found = await session.get(Contact, contact_id, with_for_update=True)
        if found is None:
            raise ContactGone(contact_id)
        if version is not None and found.version != version:
            raise StaleContact(contact_id)
        row = found
    for name, value in contact.model_dump().items():
        setattr(row, name, value)
    try:
        await session.flush()
    except StaleDataError as exc:  # saved by someone else between the read and the write
        raise StaleContact(contact_id) from exc
    except IntegrityError as exc:
        message = str(exc.orig)  # PostgreSQL names the constraint, SQLite the column
        if "uq_contacts_email" in message or "contacts.email" in message:
            raise EmailTaken(contact.email) from exc
        raise
    await session.refresh(row)
    return row


async def delete_contact(session: AsyncSession, contact_id: int) -> list[str] | None:
    """Delete ``contact_id`` and its attachments; None when it was already gone.

    Returns the stored names of its files, for the caller to remove once
    the transaction has committed (``media.remove``).
    """
    if not _storable(contact_id):
        return None
    names = await stored_names(session, contact_id)
    result = await session.execute(delete(Contact).where(Contact.id == contact_id))
    return names if getattr(result, "rowcount", 0) else None


# -- a contact's files -------------------------------------------------------------


class AttachmentRow(TypedDict):
    """An attached file as pages show it."""

    id: int
    filename: str
    content_type: str
    size: int
    stored_name: str


async def list_attachments(session: AsyncSession, contact_id: int) -> list[AttachmentRow]:
    query = (
        select(Attachment)
        .where(Attachment.contact_id == contact_id)
        .order_by(Attachment.created_at, Attachment.id)
    )
    return [
        AttachmentRow(
            id=row.id,
            filename=row.filename,
            content_type=row.content_type,
            size=row.size,
            stored_name=row.stored_name,
        )
        for row in await session.scalars(query)
    ]


async def media_bytes(session: AsyncSession) -> int:
    """Bytes every kept file takes, as recorded: what ``MEDIA_MAX_BYTES`` bounds."""
    return await session.scalar(select(func.coalesce(func.sum(Attachment.size), 0))) or 0


async def add_attachment(
    session: AsyncSession,
    contact_id: int,
    *,
    filename: str,
    content_type: str,
    size: int,
    stored_name: str,
) -> None:
    """Record a stored file as ``contact_id``'s; ``ContactGone`` if the contact was deleted."""
    if await get_contact(session, contact_id) is None:
        raise ContactGone(contact_id)
    session.add(
        Attachment(
            contact_id=contact_id,
            filename=filename[:255],
            content_type=content_type[:100],
            size=size,
            stored_name=stored_name,
        )
    )
    await session.flush()


async def delete_attachment(
    session: AsyncSession, contact_id: int, attachment_id: int
) -> str | None:
    """Delete one of ``contact_id``'s files; its stored name, to remove, or None if gone."""
    if not _storable(attachment_id):
        return None
    found = await session.get(Attachment, attachment_id)
    if found is None or found.contact_id != contact_id:
        return None
    await session.delete(found)
    return found.stored_name


async def stored_names(session: AsyncSession, contact_id: int) -> list[str]:
    """The stored files of ``contact_id``: to remove after deleting the contact."""
    if not _storable(contact_id):
        return []
    query = select(Attachment.stored_name).where(Attachment.contact_id == contact_id)
    return list(await session.scalars(query))


Action = Literal["created", "updated", "deleted"]


async def broadcast(pubsub: PubSub, action: Action, contact_id: int, by: str = "") -> None:
    """Tell every page, in every process, that a contact changed (after the commit).

    ``by`` names the page that made the change, so that it can tell its own
    changes from everyone else's. The change is committed whatever happens
    here: if Redis is away, the pub/sub logs it, and every page hears a
    ``RESYNC`` on ``TOPIC`` once it is back (then reloads) — never the
    person's error.
    """
    # The token names this change: the lists of a process share one read of each page for it.
    change = secrets.token_urlsafe(8)
    try:
        await pubsub.broadcast(
            TOPIC, {"action": action, "id": contact_id, "by": by, "change": change}
        )
    except PubSubError:
        pass


def change_of(event: InfoEvent) -> dict[str, Any] | None:
    """A broadcast ``event``'s change, read defensively (anything may publish here); else None.

    After a ``RESYNC`` of ``TOPIC`` (the pub/sub was away: any contact may have
    changed meanwhile), or a change that replaced others the view had not
    handled yet (a burst: ``coalesced``), it is ``{"action": "resync"}``: a
    page reloads all it shows. (After a burst, it keeps the latest change's
    ``"change"`` token.)
    """
    if event.name == RESYNC and event.payload == TOPIC:
        return {"action": "resync"}
    if event.name != TOPIC:
        return None
    change = event.payload if isinstance(event.payload, dict) else {}
    if event.coalesced:  # the latest change's token stays: a page read for it shows them all
        return {"action": "resync", "change": change.get("change")}
    return change
